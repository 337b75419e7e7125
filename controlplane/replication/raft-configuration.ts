// Single-server membership changes: the change codec, how a change applies to a ConfState,
// the configuration history of one log, and the bootstrap entries of a new cluster.
//
// Why single-server and effective-when-appended (Raft dissertation §4.1): when configurations differ
// by one voter, every majority of the old one overlaps every majority of the new one, so no joint
// consensus is needed. Invariants:
//  1. A configuration change entry adds or removes exactly one voter.
//  2. A replica uses the latest configuration in its log, committed or not; truncating the log
//     reverts to the previous one.
//  3. A leader appends a new change only when the previous one is committed and it has committed an
//     entry of its own term (which fixes the single-server bug found after the dissertation).
//  4. The voter set is never empty.
import { assert } from "../../common/assert.js";
import { EntryKind, replicaId, type ConfState, type Entry, type LogIndex, type ReplicaId } from "./raft-types.js";

export const ConfChangeKind = {
  addVoter: "addVoter",
  removeVoter: "removeVoter",
} as const;
export type ConfChangeKind = (typeof ConfChangeKind)[keyof typeof ConfChangeKind];

export interface ConfChange {
  readonly kind: ConfChangeKind;
  readonly replica: ReplicaId;
}

const kindCodes: Record<ConfChangeKind, number> = { addVoter: 1, removeVoter: 2 };
const textEncoder = new TextEncoder();
const textDecoder = new TextDecoder("utf-8", { fatal: true });

/** Wire form inside an entry: one kind byte, then the replica id in UTF-8. */
export function encodeConfChange(change: ConfChange): Uint8Array {
  const idBytes = textEncoder.encode(change.replica);
  const bytes = new Uint8Array(1 + idBytes.byteLength);
  bytes[0] = kindCodes[change.kind];
  bytes.set(idBytes, 1);
  return bytes;
}

export function decodeConfChange(data: Uint8Array): ConfChange {
  assert(data.byteLength >= 2, "a configuration change entry holds a kind byte and an id");
  const code = data[0];
  const kind = code === 1 ? ConfChangeKind.addVoter : code === 2 ? ConfChangeKind.removeVoter : null;
  assert(kind !== null, "a configuration change entry has a known kind byte");
  return { kind, replica: replicaId(textDecoder.decode(data.subarray(1))) };
}

export function emptyConfState(): ConfState {
  return { voters: [] };
}

export function confStateOf(voters: readonly ReplicaId[]): ConfState {
  const sorted = [...new Set(voters)].sort();
  assert(sorted.length === voters.length, "voters are unique");
  return { voters: sorted };
}

/** Why `change` cannot apply to `confState`, or null when it can. */
export function confChangeProblem(confState: ConfState, change: ConfChange): string | null {
  const present = confState.voters.includes(change.replica);
  if (change.kind === ConfChangeKind.addVoter && present) return `${change.replica} is already a voter`;
  if (change.kind === ConfChangeKind.removeVoter && !present) return `${change.replica} is not a voter`;
  if (change.kind === ConfChangeKind.removeVoter && confState.voters.length === 1) {
    return `cannot remove ${change.replica}, the last voter`;
  }
  return null;
}

export function applyConfChange(confState: ConfState, change: ConfChange): ConfState {
  assert(confChangeProblem(confState, change) === null, "a configuration change applies cleanly");
  if (change.kind === ConfChangeKind.addVoter) return confStateOf([...confState.voters, change.replica]);
  return confStateOf(confState.voters.filter((voter) => voter !== change.replica));
}

/**
 * The log entries that found a cluster: one addVoter per voter at term 1, indexes 1..n, already
 * committed (the caller stores them with hard state {term: 1, vote: null, commitIndex: n}).
 * Every founding replica starts with identical entries, so log matching holds from the start, and a
 * replica joining later learns the founding membership from the log (or from a snapshot).
 */
export function bootstrapEntries(voters: readonly ReplicaId[]): Entry[] {
  assert(voters.length > 0, "a cluster has at least one voter");
  const entries: Entry[] = [];
  let confState = emptyConfState();
  for (const voter of confStateOf(voters).voters) {
    const change: ConfChange = { kind: ConfChangeKind.addVoter, replica: voter };
    confState = applyConfChange(confState, change);
    entries.push({ index: entries.length + 1, term: 1, kind: EntryKind.configurationChange, data: encodeConfChange(change) });
  }
  return entries;
}

interface ConfigurationPoint {
  readonly index: LogIndex;
  readonly confState: ConfState;
}

/**
 * The configurations a log has gone through, newest last.
 * Invariants:
 *  1. points is never empty and its indexes strictly increase.
 *  2. points[0] is the base: the snapshot's configuration (or the empty one at index 0).
 *  3. Every later point is a configuration change entry still in the log.
 */
export class ConfigurationHistory {
  private points: ConfigurationPoint[];

  constructor(baseIndex: LogIndex, baseConfState: ConfState) {
    this.points = [{ index: baseIndex, confState: baseConfState }];
  }

  latest(): ConfState {
    return this.points[this.points.length - 1]!.confState;
  }

  /** Index of the newest configuration change still in the log (or the base index). */
  latestIndex(): LogIndex {
    return this.points[this.points.length - 1]!.index;
  }

  baseIndex(): LogIndex {
    return this.points[0]!.index;
  }

  isVoter(replica: ReplicaId): boolean {
    return this.latest().voters.includes(replica);
  }

  /** The configuration in force after the entry at `index`. */
  at(index: LogIndex): ConfState {
    assert(index >= this.points[0]!.index, "configuration asked below the history's base");
    for (let position = this.points.length - 1; position >= 0; position -= 1) {
      const point = this.points[position]!;
      if (point.index <= index) return point.confState;
    }
    throw new Error("unreachable: the base point is at or below index");
  }

  /** The log lost every entry at or after `index`: forget configurations that came from them. */
  truncateFrom(index: LogIndex): void {
    assert(index > this.points[0]!.index, "truncation never reaches the base configuration");
    while (this.points[this.points.length - 1]!.index >= index) this.points.pop();
  }

  /** A configuration change entry was appended at `index`. */
  recordChange(index: LogIndex, change: ConfChange): ConfState {
    assert(index > this.latestIndex(), "configuration changes are recorded in log order");
    const confState = applyConfChange(this.latest(), change);
    this.points.push({ index, confState });
    return confState;
  }

  /** A snapshot replaced the log. */
  resetTo(index: LogIndex, confState: ConfState): void {
    this.points = [{ index, confState }];
  }

  /** Entries up to `index` were compacted away: the newest point at or below it becomes the base. */
  compactTo(index: LogIndex): void {
    let keepFrom = 0;
    for (let position = 0; position < this.points.length; position += 1) {
      if (this.points[position]!.index <= index) keepFrom = position;
    }
    if (keepFrom > 0) this.points = this.points.slice(keepFrom);
  }

  /** Replays configuration change entries onto the history (used at start-up and on append). */
  recordEntries(entries: readonly Entry[]): void {
    for (const entry of entries) {
      if (entry.kind === EntryKind.configurationChange) this.recordChange(entry.index, decodeConfChange(entry.data));
    }
  }
}
