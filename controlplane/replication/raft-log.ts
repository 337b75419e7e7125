// One replica's view of its log: the persisted part (storage) plus the unstable tail, with the
// commit and applied indexes.
//
// Invariants:
//  1. firstIndex - 1 ≤ appliedIndex ≤ commitIndex ≤ lastIndex (applied may trail a pending snapshot
//     only until the Ready carrying it is advanced).
//  2. commitIndex never decreases; entries at or below it are never replaced.
//  3. The unstable tail shadows storage from unstable.offset on.
import { assert } from "../../common/assert.js";
import type { RaftStorage } from "./raft-storage.js";
import { Unstable } from "./raft-unstable.js";
import { entrySizeBytes, type Entry, type LogIndex, type Snapshot, type Term } from "./raft-types.js";

export interface AppendResult {
  /** The last index the leader's append covered (previousIndex + number of entries). */
  readonly lastNewIndex: LogIndex;
  /** The suffix actually written (after dropping entries we already had). */
  readonly appended: readonly Entry[];
}

export class RaftLog {
  readonly unstable: Unstable;
  commitIndex: LogIndex;
  appliedIndex: LogIndex;

  constructor(
    readonly storage: RaftStorage,
    options: { commitIndex: LogIndex; appliedIndex: LogIndex },
  ) {
    this.unstable = new Unstable(storage.lastIndex() + 1);
    this.commitIndex = options.commitIndex;
    this.appliedIndex = options.appliedIndex;
    assert(this.commitIndex <= this.lastIndex(), "the persisted commit index is in the log");
    assert(this.appliedIndex <= this.commitIndex, "nothing is applied before it commits");
    assert(this.appliedIndex >= storage.firstIndex() - 1, "entries after the applied index are still stored");
  }

  firstIndex(): LogIndex {
    return this.unstable.firstIndexOrNull() ?? this.storage.firstIndex();
  }

  lastIndex(): LogIndex {
    return this.unstable.lastIndexOrNull() ?? this.storage.lastIndex();
  }

  /** The term at `index`, or null when it was compacted away or lies beyond the log. */
  term(index: LogIndex): Term | null {
    if (index > this.lastIndex()) return null;
    if (index < this.firstIndex() - 1) return null;
    const unstableTerm = this.unstable.termOrNull(index);
    if (unstableTerm !== null) return unstableTerm;
    return this.storage.term(index);
  }

  lastTerm(): Term {
    const term = this.term(this.lastIndex());
    assert(term !== null, "the last entry's term is always known");
    return term;
  }

  matchTerm(index: LogIndex, term: Term): boolean {
    return this.term(index) === term;
  }

  /** Raft §5.4.1: a candidate's log is at least as up to date as ours. */
  isUpToDate(lastIndex: LogIndex, lastTerm: Term): boolean {
    const ourLastTerm = this.lastTerm();
    if (lastTerm !== ourLastTerm) return lastTerm > ourLastTerm;
    return lastIndex >= this.lastIndex();
  }

  /** The first entry that is new or conflicts with ours; 0 when we hold all of them already. */
  findConflict(entries: readonly Entry[]): LogIndex {
    for (const entry of entries) {
      if (!this.matchTerm(entry.index, entry.term)) return entry.index;
    }
    return 0;
  }

  /**
   * The largest index ≤ `index` whose term is ≤ `term`, with that term. Stops at a compacted entry
   * (term 0 = unknown). Used on both sides of fast backtracking: one rejection skips a whole term.
   */
  findConflictByTerm(index: LogIndex, term: Term): { index: LogIndex; term: Term } {
    for (let candidate = index; candidate > 0; candidate -= 1) {
      const candidateTerm = this.term(candidate);
      if (candidateTerm === null) return { index: candidate, term: 0 };
      if (candidateTerm <= term) return { index: candidate, term: candidateTerm };
    }
    return { index: 0, term: 0 };
  }

  /** A follower's handling of an append: null when (previousIndex, previousTerm) does not match. */
  maybeAppend(options: { previousIndex: LogIndex; previousTerm: Term; commitIndex: LogIndex; entries: readonly Entry[] }): AppendResult | null {
    if (!this.matchTerm(options.previousIndex, options.previousTerm)) return null;
    const lastNewIndex = options.previousIndex + options.entries.length;
    const conflictIndex = this.findConflict(options.entries);
    let appended: readonly Entry[] = [];
    if (conflictIndex !== 0) {
      assert(conflictIndex > this.commitIndex, "an append never conflicts with a committed entry");
      appended = options.entries.slice(conflictIndex - options.previousIndex - 1);
      this.append(appended);
    }
    this.commitTo(Math.min(options.commitIndex, lastNewIndex));
    return { lastNewIndex, appended };
  }

  append(entries: readonly Entry[]): LogIndex {
    if (entries.length === 0) return this.lastIndex();
    assert(entries[0]!.index > this.commitIndex, "appends never replace committed entries");
    assert(entries[0]!.index <= this.lastIndex() + 1, "appends leave no gap");
    this.unstable.truncateAndAppend(entries);
    return this.lastIndex();
  }

  /** Entries from `low` to the end, bounded by bytesMax; null when `low` was compacted away. */
  entriesFrom(low: LogIndex, bytesMax: number): Entry[] | null {
    if (low > this.lastIndex()) return [];
    return this.slice(low, this.lastIndex() + 1, bytesMax);
  }

  /** Entries [low, high) bounded by bytesMax (at least one); null when `low` was compacted away. */
  slice(low: LogIndex, high: LogIndex, bytesMax: number): Entry[] | null {
    if (low < this.firstIndex()) return null;
    assert(high <= this.lastIndex() + 1, "slice ends inside the log");
    if (low >= high) return [];
    const offset = this.unstable.offset;
    let result: Entry[] = [];
    if (low < offset) result = this.storage.entries(low, Math.min(high, offset), bytesMax);
    const storedEnd = low + result.length;
    if (storedEnd < Math.min(high, offset)) return result; // storage stopped at the byte bound
    if (high > offset) result = result.concat(this.unstable.slice(Math.max(low, offset), high));
    return limitBytes(result, bytesMax);
  }

  commitTo(index: LogIndex): void {
    if (index <= this.commitIndex) return;
    assert(index <= this.lastIndex(), "commit index stays inside the log");
    this.commitIndex = index;
  }

  appliedTo(index: LogIndex): void {
    assert(index <= this.commitIndex, "only committed entries are applied");
    assert(index >= this.appliedIndex, "the applied index never decreases");
    this.appliedIndex = index;
  }

  hasNextCommittedEntries(): boolean {
    if (this.unstable.snapshot !== null) return false;
    return this.commitIndex > this.appliedIndex;
  }

  /** Committed entries not yet handed out for applying, bounded by bytesMax (at least one). */
  nextCommittedEntries(bytesMax: number): Entry[] {
    if (!this.hasNextCommittedEntries()) return [];
    const entries = this.slice(this.appliedIndex + 1, this.commitIndex + 1, bytesMax);
    assert(entries !== null, "entries after the applied index are never compacted");
    return entries;
  }

  /** The newest snapshot: a received one not yet persisted, else the stored one. */
  snapshot(): Snapshot {
    return this.unstable.snapshot ?? this.storage.snapshot();
  }

  /** A follower's log is replaced by a leader's snapshot. */
  restore(snapshot: Snapshot): void {
    assert(snapshot.metadata.index > this.commitIndex, "a restored snapshot is ahead of our commit");
    this.commitIndex = snapshot.metadata.index;
    this.unstable.restore(snapshot);
  }
}

function limitBytes(entries: Entry[], bytesMax: number): Entry[] {
  let bytes = 0;
  for (let position = 0; position < entries.length; position += 1) {
    bytes += entrySizeBytes(entries[position]!);
    if (position > 0 && bytes > bytesMax) return entries.slice(0, position);
  }
  return entries;
}
