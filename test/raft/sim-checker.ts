// The simulator's invariant checkers. They see every persisted entry, commit, apply, snapshot,
// leader and read, and throw a SimulationViolation naming the broken invariant:
//  1. election safety: at most one leader per term.
//  2. log matching: entries with the same (index, term) have the same log prefix (prefix hashes).
//  3. leader completeness: a leader of term T holds every entry committed before T.
//  4. commit agreement ("committed entries are never lost"): replicas that persist a commit index
//     agree on the whole prefix up to it, and it never changes once recorded.
//  5. state-machine safety: every replica applies exactly the committed prefix, in order, so no
//     two replicas apply different entries at one index (snapshots included).
//  6. read linearizability: a read index is at least the commit index known when the read began.
import type { Raft } from "../../controlplane/replication/raft.js";
import type { Entry, ReplicaId, Snapshot } from "../../controlplane/replication/raft-types.js";
import { chainHash } from "./sim-hash.js";

export class SimulationViolation extends Error {
  override name = "SimulationViolation";

  constructor(
    readonly invariant: string,
    readonly detail: string,
  ) {
    super(`${invariant}: ${detail}`);
  }
}

/** Prefix hashes (and terms) of the entries a replica has persisted, from a base index on. */
export class PrefixLog {
  private baseIndex = 0;
  private hashes: number[] = [0];
  private terms: number[] = [0];

  get lastIndex(): number {
    return this.baseIndex + this.hashes.length - 1;
  }

  hashAt(index: number): number | undefined {
    if (index < this.baseIndex) return undefined;
    return this.hashes[index - this.baseIndex];
  }

  termAt(index: number): number | undefined {
    if (index < this.baseIndex) return undefined;
    return this.terms[index - this.baseIndex];
  }

  truncateFrom(index: number): void {
    const keep = Math.max(1, index - this.baseIndex);
    this.hashes.length = Math.min(this.hashes.length, keep);
    this.terms.length = Math.min(this.terms.length, keep);
  }

  push(hash: number, term: number): void {
    this.hashes.push(hash);
    this.terms.push(term);
  }

  resetTo(index: number, hash: number, term: number): void {
    this.baseIndex = index;
    this.hashes = [hash];
    this.terms = [term];
  }

  compactTo(index: number): void {
    if (index <= this.baseIndex) return;
    const drop = index - this.baseIndex;
    this.hashes.splice(0, drop);
    this.terms.splice(0, drop);
    this.baseIndex = index;
  }
}

export interface CheckedReplica {
  readonly id: ReplicaId;
  readonly prefix: PrefixLog;
  app: AppState;
}

/** The simulated state machine: how far it applied and the hash chain of what it applied. */
export interface AppState {
  appliedIndex: number;
  chain: number;
}

function entryKey(index: number, term: number): number {
  return index * 1048576 + term;
}

export class InvariantChecker {
  private readonly leaderByTerm = new Map<number, ReplicaId>();
  private readonly prefixByEntry = new Map<number, number>();
  /** Per committed index: the prefix hash, the entry's term and the term when it was recorded. */
  private readonly committedPrefix: number[] = [0];
  private readonly committedEntryTerm: number[] = [0];
  private readonly committedRecordTerm: number[] = [0];
  globalCommitIndex = 0;
  readonly appliedPayloads = new Set<string>();
  private readonly readsBegun = new Map<string, number>();
  leadersSeen = 0;

  /** Election safety (1) and, for a leader seen for the first time, leader completeness (3). */
  observeLeader(id: ReplicaId, term: number, raft: Raft): void {
    const known = this.leaderByTerm.get(term);
    if (known === id) return;
    if (known !== undefined) throw new SimulationViolation("election safety", `${known} and ${id} both lead term ${term}`);
    this.leaderByTerm.set(term, id);
    this.leadersSeen += 1;
    const from = Math.max(1, raft.status().firstIndex - 1);
    for (let index = from; index <= this.globalCommitIndex; index += 1) {
      if (this.committedRecordTerm[index]! >= term) continue;
      const leaderTerm = raft.termAt(index);
      if (leaderTerm === null || leaderTerm === this.committedEntryTerm[index]) continue;
      throw new SimulationViolation(
        "leader completeness",
        `${id} leads term ${term} but holds term ${leaderTerm} at committed index ${index} (committed term ${this.committedEntryTerm[index]})`,
      );
    }
  }

  /** Log matching (2): runs whenever a replica persists entries. */
  persistEntries(replica: CheckedReplica, entries: readonly Entry[]): void {
    const first = entries[0];
    if (first === undefined) return;
    let previous = replica.prefix.hashAt(first.index - 1);
    if (previous === undefined) throw new Error(`checker: ${replica.id} persisted ${first.index} without its predecessor`);
    replica.prefix.truncateFrom(first.index);
    for (const entry of entries) {
      const hash = chainHash(previous, entry);
      const key = entryKey(entry.index, entry.term);
      const known = this.prefixByEntry.get(key);
      if (known !== undefined && known !== hash) {
        throw new SimulationViolation("log matching", `${replica.id} holds a different log before (index ${entry.index}, term ${entry.term})`);
      }
      if (known === undefined) this.prefixByEntry.set(key, hash);
      replica.prefix.push(hash, entry.term);
      previous = hash;
    }
  }

  /** A persisted snapshot must describe a committed prefix. */
  persistSnapshot(replica: CheckedReplica, snapshot: Snapshot): void {
    const { index, term } = snapshot.metadata;
    const hash = this.committedPrefix[index];
    if (hash === undefined || this.committedEntryTerm[index] !== term) {
      throw new SimulationViolation("snapshot safety", `${replica.id} installed a snapshot at (${index}, ${term}) that is not a committed entry`);
    }
    replica.prefix.resetTo(index, hash, term);
  }

  /** Commit agreement (4): runs whenever a replica persists a commit index. */
  persistCommit(replica: CheckedReplica, commitIndex: number, term: number): void {
    const overlap = Math.min(commitIndex, this.globalCommitIndex);
    const ours = replica.prefix.hashAt(overlap);
    if (ours !== undefined && ours !== this.committedPrefix[overlap]) {
      throw new SimulationViolation("committed entries never lost", `${replica.id} committed a different entry at or below ${overlap}`);
    }
    for (let index = this.globalCommitIndex + 1; index <= commitIndex; index += 1) {
      const hash = replica.prefix.hashAt(index);
      const entryTerm = replica.prefix.termAt(index);
      if (hash === undefined || entryTerm === undefined) throw new Error(`checker: ${replica.id} committed ${index} it did not persist`);
      this.committedPrefix[index] = hash;
      this.committedEntryTerm[index] = entryTerm;
      this.committedRecordTerm[index] = term;
    }
    this.globalCommitIndex = Math.max(this.globalCommitIndex, commitIndex);
  }

  /** State-machine safety (5): applying must extend the committed prefix, in order. */
  apply(replica: CheckedReplica, entry: Entry, payload: string | null): void {
    if (entry.index !== replica.app.appliedIndex + 1) {
      throw new SimulationViolation("state-machine safety", `${replica.id} applied ${entry.index} after ${replica.app.appliedIndex}`);
    }
    const chain = chainHash(replica.app.chain, entry);
    if (entry.index > this.globalCommitIndex || this.committedPrefix[entry.index] !== chain) {
      throw new SimulationViolation("state-machine safety", `${replica.id} applied an entry at ${entry.index} that differs from the committed one`);
    }
    replica.app = { appliedIndex: entry.index, chain };
    if (payload !== null) this.appliedPayloads.add(payload);
  }

  restoreApp(replica: CheckedReplica, app: AppState): void {
    if (this.committedPrefix[app.appliedIndex] !== app.chain) {
      throw new SimulationViolation("state-machine safety", `${replica.id} restored a state machine at ${app.appliedIndex} that differs from the committed one`);
    }
    replica.app = app;
  }

  /** Read linearizability (6). */
  readBegun(context: string): void {
    this.readsBegun.set(context, this.globalCommitIndex);
  }

  readAnswered(replica: ReplicaId, context: string, index: number): void {
    const required = this.readsBegun.get(context);
    if (required === undefined) throw new Error(`checker: unknown read ${context}`);
    if (index < required) {
      throw new SimulationViolation("read linearizability", `${replica} answered read ${context} at ${index}, but ${required} was committed before it began`);
    }
  }

  committedPrefixAt(index: number): number | undefined {
    return this.committedPrefix[index];
  }
}
