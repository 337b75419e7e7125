// An in-memory RaftStorage with the write side a caller needs. Used by unit tests and by the
// simulator, where it plays the durable disk: whatever was written here survives a "crash".
import { assert } from "../../common/assert.js";
import { bootstrapEntries, confStateOf, emptyConfState } from "./raft-configuration.js";
import type { RaftInitialState, RaftStorage } from "./raft-storage.js";
import {
  entrySizeBytes,
  type ConfState,
  type Entry,
  type HardState,
  type LogIndex,
  type ReplicaId,
  type Snapshot,
  type Term,
} from "./raft-types.js";

export function emptySnapshot(): Snapshot {
  return { metadata: { index: 0, term: 0, confState: emptyConfState() }, data: new Uint8Array(0) };
}

export const initialHardState: HardState = { term: 0, vote: null, commitIndex: 0 };

/**
 * Invariants (beyond the RaftStorage contract):
 *  1. log[position] has index compactedIndex + 1 + position.
 *  2. compactedIndex ≤ snapshot.metadata.index ≤ lastIndex().
 *  3. hardState.commitIndex ≤ lastIndex().
 */
export class MemoryStorage implements RaftStorage {
  private hardStateValue: HardState = initialHardState;
  private snapshotValue: Snapshot = emptySnapshot();
  private compactedIndex: LogIndex = 0;
  private compactedTerm: Term = 0;
  private log: Entry[] = [];

  /** Storage for a founding member of a new cluster of `voters`. */
  static bootstrap(voters: readonly ReplicaId[]): MemoryStorage {
    const storage = new MemoryStorage();
    const entries = bootstrapEntries(voters);
    storage.append(entries);
    storage.setHardState({ term: 1, vote: null, commitIndex: entries.length });
    return storage;
  }

  initialState(): RaftInitialState {
    return { hardState: this.hardStateValue, confState: this.snapshotValue.metadata.confState };
  }

  hardState(): HardState {
    return this.hardStateValue;
  }

  firstIndex(): LogIndex {
    return this.compactedIndex + 1;
  }

  lastIndex(): LogIndex {
    return this.compactedIndex + this.log.length;
  }

  term(index: LogIndex): Term | null {
    if (index < this.compactedIndex) return null;
    if (index === this.compactedIndex) return this.compactedTerm;
    assert(index <= this.lastIndex(), "term asked beyond the last stored entry");
    return this.log[index - this.compactedIndex - 1]!.term;
  }

  entries(low: LogIndex, high: LogIndex, bytesMax: number): Entry[] {
    assert(low >= this.firstIndex(), "entries asked below the first stored entry");
    assert(high <= this.lastIndex() + 1, "entries asked beyond the last stored entry");
    assert(low <= high, "entries asked for a backwards range");
    const offset = this.firstIndex();
    const result: Entry[] = [];
    let bytes = 0;
    for (let index = low; index < high; index += 1) {
      const entry = this.log[index - offset]!;
      bytes += entrySizeBytes(entry);
      if (result.length > 0 && bytes > bytesMax) break;
      result.push(entry);
    }
    return result;
  }

  snapshot(): Snapshot {
    return this.snapshotValue;
  }

  // ---- write side (the caller's duties from Ready) ----

  setHardState(hardState: HardState): void {
    assert(hardState.term >= this.hardStateValue.term, "the persisted term never decreases");
    assert(hardState.commitIndex >= this.hardStateValue.commitIndex, "the persisted commit index never decreases");
    assert(hardState.commitIndex <= this.lastIndex(), "the persisted commit index is in the stored log");
    this.hardStateValue = hardState;
  }

  /** Stores entries, replacing any stored entries at or after entries[0].index. */
  append(entries: readonly Entry[]): void {
    if (entries.length === 0) return;
    const first = entries[0]!.index;
    assert(first <= this.lastIndex() + 1, "appended entries leave no gap");
    assert(first > this.hardStateValue.commitIndex, "committed entries are never replaced");
    assert(first > this.compactedIndex, "appended entries start after the compaction point");
    this.log.length = first - this.firstIndex();
    for (const entry of entries) {
      assert(entry.index === this.lastIndex() + 1, "appended entries are contiguous");
      this.log.push(entry);
    }
  }

  /** Installs a snapshot received from the leader: it replaces the whole log. */
  applySnapshot(snapshot: Snapshot): void {
    const { index, term } = snapshot.metadata;
    assert(index > this.snapshotValue.metadata.index, "an installed snapshot is newer than the last one");
    this.snapshotValue = snapshot;
    this.compactedIndex = index;
    this.compactedTerm = term;
    this.log = [];
    if (this.hardStateValue.commitIndex < index) this.hardStateValue = { ...this.hardStateValue, commitIndex: index };
  }

  /**
   * Records a snapshot the local state machine took at `index` (≤ applied) and compacts the log up
   * to it, keeping `entriesKept` entries before it so that slow followers can catch up from the log.
   */
  createSnapshot(options: { index: LogIndex; confState: ConfState; data: Uint8Array; entriesKept?: number }): void {
    const { index } = options;
    assert(index > this.snapshotValue.metadata.index, "a new snapshot is newer than the last one");
    assert(index <= this.hardStateValue.commitIndex, "only committed state is snapshotted");
    const term = this.term(index);
    assert(term !== null, "the snapshot index is in the stored log");
    this.snapshotValue = { metadata: { index, term, confState: confStateOf(options.confState.voters) }, data: options.data };
    this.compact(index - (options.entriesKept ?? 0));
  }

  /** Discards entries up to `index`; never beyond the newest snapshot. */
  compact(index: LogIndex): void {
    if (index <= this.compactedIndex) return;
    assert(index <= this.snapshotValue.metadata.index, "compaction stops at the newest snapshot");
    const term = this.term(index);
    assert(term !== null, "the compaction point is in the stored log");
    this.log.splice(0, index - this.compactedIndex);
    this.compactedIndex = index;
    this.compactedTerm = term;
  }
}
