// The tail of the log that the core holds but the caller has not yet persisted, and a received
// snapshot not yet persisted. A Ready hands both out; advance() drops what was persisted.
//
// Invariants:
//  1. entries[position] has index offset + position.
//  2. With a snapshot, offset = snapshot index + 1 (entries, if any, follow it directly).
//  3. Entries here shadow stored entries at the same indexes (they replace them once persisted).
import { assert } from "../../common/assert.js";
import type { Entry, LogIndex, Snapshot, Term } from "./raft-types.js";

export class Unstable {
  snapshot: Snapshot | null = null;
  entries: Entry[] = [];

  constructor(public offset: LogIndex) {
    assert(offset >= 1, "the unstable offset is 1-based");
  }

  /** Set when a snapshot is pending: the log then starts right after it. */
  firstIndexOrNull(): LogIndex | null {
    return this.snapshot === null ? null : this.snapshot.metadata.index + 1;
  }

  lastIndexOrNull(): LogIndex | null {
    if (this.entries.length > 0) return this.offset + this.entries.length - 1;
    return this.snapshot === null ? null : this.snapshot.metadata.index;
  }

  /** The term at `index` if this tail knows it; null when the question belongs to storage. */
  termOrNull(index: LogIndex): Term | null {
    if (index >= this.offset) {
      const entry = this.entries[index - this.offset];
      return entry === undefined ? null : entry.term;
    }
    if (this.snapshot !== null && this.snapshot.metadata.index === index) return this.snapshot.metadata.term;
    return null;
  }

  /** Entries up to (index, term) were persisted: forget them, unless they were replaced meanwhile. */
  stableTo(index: LogIndex, term: Term): void {
    if (index < this.offset) return;
    const entry = this.entries[index - this.offset];
    if (entry === undefined || entry.term !== term) return;
    this.entries = this.entries.slice(index + 1 - this.offset);
    this.offset = index + 1;
  }

  stableSnapshotTo(index: LogIndex): void {
    if (this.snapshot !== null && this.snapshot.metadata.index === index) this.snapshot = null;
  }

  restore(snapshot: Snapshot): void {
    this.offset = snapshot.metadata.index + 1;
    this.entries = [];
    this.snapshot = snapshot;
  }

  /** Appends entries, dropping any held entries at or after the first new index. */
  truncateAndAppend(entries: readonly Entry[]): void {
    assert(entries.length > 0, "something is appended");
    const first = entries[0]!.index;
    const end = this.offset + this.entries.length;
    if (first === end) {
      this.entries.push(...entries);
    } else if (first <= this.offset) {
      // The new entries replace everything held here and some stored entries too.
      this.offset = first;
      this.entries = [...entries];
    } else {
      assert(first < end, "appended entries leave no gap");
      this.entries = this.entries.slice(0, first - this.offset).concat(entries);
    }
  }

  /** Entries [low, high) that lie in this tail. */
  slice(low: LogIndex, high: LogIndex): Entry[] {
    assert(low >= this.offset, "the unstable slice starts inside the tail");
    assert(high <= this.offset + this.entries.length, "the unstable slice ends inside the tail");
    return this.entries.slice(low - this.offset, high - this.offset);
  }
}
