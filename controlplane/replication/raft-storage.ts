// The read side of a replica's durable Raft state, as the core sees it. The caller writes to it
// (see Ready in raft-types.ts); the core only reads. Implementations: raft-memory-storage.ts for
// tests and the simulator, an SQLite one for vigild.
//
// Contract (an implementation must keep all of these, and may assert them):
//  1. The stored log is a contiguous run of entries firstIndex .. lastIndex (possibly empty) after a
//     compaction point firstIndex - 1 whose term is still known: term(firstIndex - 1) answers.
//  2. Compaction never passes the newest snapshot: firstIndex - 1 ≤ snapshot().metadata.index
//     ≤ lastIndex. (A snapshot may be newer than the compaction point: keeping some entries before
//     it lets slow followers catch up without a snapshot.)
//  3. Entries are only ever removed from the front (compaction) or replaced from some index on
//     (a Ready's entries replace stored ones at and after their first; an installed snapshot
//     replaces the whole log).
//  4. Calls are cheap (keep firstIndex, lastIndex and recent terms in memory); the core calls them
//     often and never caches their answers.
import type { ConfState, Entry, HardState, LogIndex, Snapshot, Term } from "./raft-types.js";

export interface RaftInitialState {
  readonly hardState: HardState;
  /** The membership as of the snapshot; the core replays configuration entries after it. */
  readonly confState: ConfState;
}

export interface RaftStorage {
  /** Hard state and snapshot membership at start-up. */
  initialState(): RaftInitialState;
  /** The index of the first stored entry (compaction point + 1). */
  firstIndex(): LogIndex;
  /** The index of the last stored entry, or the snapshot index when no entry follows it. */
  lastIndex(): LogIndex;
  /** The term at `index` for firstIndex - 1 ≤ index ≤ lastIndex; null when compacted away. */
  term(index: LogIndex): Term | null;
  /**
   * Entries [low, high), with firstIndex ≤ low ≤ high ≤ lastIndex + 1, stopping before the total
   * reaches bytesMax (as measured by entrySizeBytes) but always returning at least one entry when
   * low < high.
   */
  entries(low: LogIndex, high: LogIndex, bytesMax: number): Entry[];
  /** The newest snapshot (index 0, empty data, when none was ever taken). */
  snapshot(): Snapshot;
}
