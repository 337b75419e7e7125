// The Raft core's storage over a replica's SQLite file (the read side is the
// RaftStorage contract of raft-storage.ts; the write side follows Ready's order):
// 1. persist(ready) writes snapshot record, entries and hard state in ONE
//    transaction: one fsync per Ready, however many proposals it carries.
// 2. The terms of the stored log are mirrored in memory, so term() and
//    lastIndex() never touch SQLite (the core calls them constantly).
// 3. Compaction only drops entries at or below the newest snapshot.
// 4. The newest entries written are also kept in memory (bounded), so sending them to followers and
//    applying them once committed does not read them back from SQLite (bench/replication profile:
//    the read-back was ~6 % of a busy leader's and follower's CPU).
import type Database from "better-sqlite3";
import { assert } from "../../common/assert.js";
import type { Db } from "../state/store.js";
import type { RaftInitialState, RaftStorage } from "./raft-storage.js";
import { EntryKind, entrySizeBytes, type Entry, type HardState, type LogIndex, type ReplicaId, type Snapshot, type SnapshotMetadata, type Term } from "./raft-types.js";

const kindCodes: Record<EntryKind, number> = { normal: 0, configurationChange: 1 };
/** Bounds of the in-memory copy of the newest entries. */
const recentEntriesMax = 8_192;
const recentBytesMax = 32 * 1024 * 1024;
const kindsByCode: readonly EntryKind[] = [EntryKind.normal, EntryKind.configurationChange];

interface EntryRow {
  idx: number;
  term: number;
  type: number;
  data: Buffer;
}

function entryFromRow(row: EntryRow): Entry {
  const kind = kindsByCode[row.type];
  assert(kind !== undefined, "a stored entry has a known kind");
  return { index: row.idx, term: row.term, kind, data: new Uint8Array(row.data.buffer, row.data.byteOffset, row.data.byteLength) };
}

export class SqliteRaftStorage implements RaftStorage {
  /** Terms of entries firstIndex..lastIndex, in order. */
  private terms: Term[] = [];
  private first: LogIndex;
  private snapshotMetadata: SnapshotMetadata;
  /** The image of the newest snapshot, made by takeSnapshot or received; empty until then. */
  private snapshotData: Uint8Array = new Uint8Array(0);
  /** The newest stored entries, contiguous and ending at lastIndex() (or empty), and their size. */
  private recent: Entry[] = [];
  private recentBytes = 0;
  /** The statements of every Ready, prepared once (better-sqlite3 compiles SQL on each prepare). */
  private readonly deleteFromStatement: Database.Statement<[LogIndex]>;
  private readonly insertStatement: Database.Statement<[LogIndex, Term, number, Uint8Array]>;
  private readonly hardStateStatement: Database.Statement<[Term, string, LogIndex]>;

  constructor(private readonly db: Db) {
    const row = db.prepare("SELECT idx, term, voters FROM raft_snapshot WHERE id = 1").get() as { idx: number; term: number; voters: string } | undefined;
    this.snapshotMetadata = row === undefined ? { index: 0, term: 0, confState: { voters: [] } } : { index: row.idx, term: row.term, confState: { voters: JSON.parse(row.voters) as ReplicaId[] } };
    const bounds = db.prepare("SELECT MIN(idx) AS low FROM log_entries").get() as { low: number | null };
    this.first = bounds.low ?? this.snapshotMetadata.index + 1;
    this.terms = (db.prepare("SELECT term FROM log_entries ORDER BY idx").all() as { term: number }[]).map((entry) => entry.term);
    assert(this.first >= 1, "the log starts at index 1 or later");
    this.deleteFromStatement = db.prepare("DELETE FROM log_entries WHERE idx >= ?");
    this.insertStatement = db.prepare("INSERT INTO log_entries (idx, term, type, data) VALUES (?, ?, ?, ?)");
    this.hardStateStatement = db.prepare(
      "INSERT INTO hard_state (id, term, vote, commit_index) VALUES (1, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET term = excluded.term, vote = excluded.vote, commit_index = excluded.commit_index",
    );
  }

  /** True when nothing was ever stored: the replica must be bootstrapped or receive a snapshot. */
  isEmpty(): boolean {
    return this.terms.length === 0 && this.snapshotMetadata.index === 0 && this.hardStateRow() === undefined;
  }

  private hardStateRow(): { term: number; vote: string; commit_index: number } | undefined {
    return this.db.prepare("SELECT term, vote, commit_index FROM hard_state WHERE id = 1").get() as { term: number; vote: string; commit_index: number } | undefined;
  }

  initialState(): RaftInitialState {
    const row = this.hardStateRow();
    const hardState: HardState = row === undefined ? { term: 0, vote: null, commitIndex: 0 } : { term: row.term, vote: row.vote === "" ? null : (row.vote as ReplicaId), commitIndex: row.commit_index };
    return { hardState, confState: this.snapshotMetadata.confState };
  }

  firstIndex(): LogIndex {
    return this.first;
  }

  lastIndex(): LogIndex {
    return this.first + this.terms.length - 1;
  }

  term(index: LogIndex): Term | null {
    if (index === this.first - 1) return this.first - 1 === this.snapshotMetadata.index ? this.snapshotMetadata.term : this.compactedTerm(index);
    if (index < this.first || index > this.lastIndex()) return null;
    return this.terms[index - this.first]!;
  }

  /** The term just below the log after a compaction that kept entries past the snapshot. */
  private compactedTerm(index: LogIndex): Term | null {
    const row = this.db.prepare("SELECT value FROM meta WHERE key = 'compacted_term'").get() as { value: string } | undefined;
    const stored = this.db.prepare("SELECT value FROM meta WHERE key = 'compacted_index'").get() as { value: string } | undefined;
    return row !== undefined && Number(stored?.value) === index ? Number(row.value) : null;
  }

  entries(low: LogIndex, high: LogIndex, bytesMax: number): Entry[] {
    assert(low >= this.first, "entries are read from the stored log");
    assert(high <= this.lastIndex() + 1, "entries are read up to the last stored index");
    if (low >= high) return [];
    const recentFirst = this.lastIndex() - this.recent.length + 1;
    if (this.recent.length > 0 && low >= recentFirst) return this.recentEntries(low - recentFirst, high - recentFirst, bytesMax);
    const rows = this.db.prepare("SELECT idx, term, type, data FROM log_entries WHERE idx >= ? AND idx < ? ORDER BY idx").iterate(low, high) as IterableIterator<EntryRow>;
    const entries: Entry[] = [];
    let bytes = 0;
    for (const row of rows) {
      const entry = entryFromRow(row);
      bytes += entrySizeBytes(entry);
      if (entries.length > 0 && bytes > bytesMax) break;
      entries.push(entry);
    }
    return entries;
  }

  private recentEntries(from: number, to: number, bytesMax: number): Entry[] {
    const entries: Entry[] = [];
    let bytes = 0;
    for (let position = from; position < to; position++) {
      const entry = this.recent[position]!;
      bytes += entrySizeBytes(entry);
      if (entries.length > 0 && bytes > bytesMax) break;
      entries.push(entry);
    }
    return entries;
  }

  /**
   * Keeps `entries` (just written from their first index on, replacing any stored there) in the
   * in-memory copy; `recentFirst` is the copy's first index before the write.
   */
  private rememberRecent(recentFirst: LogIndex, entries: readonly Entry[]): void {
    const kept = entries[0]!.index - recentFirst;
    if (kept <= 0) this.dropRecent(this.recent.length);
    else this.dropRecentFrom(kept);
    for (const entry of entries) {
      this.recent.push(entry);
      this.recentBytes += entrySizeBytes(entry);
    }
    let excess = 0;
    let bytes = this.recentBytes;
    while (this.recent.length - excess > recentEntriesMax || (bytes > recentBytesMax && this.recent.length - excess > 1)) {
      bytes -= entrySizeBytes(this.recent[excess]!);
      excess += 1;
    }
    this.dropRecent(excess);
  }

  /** Drops the oldest `count` entries of the in-memory copy. */
  private dropRecent(count: number): void {
    count = Math.min(count, this.recent.length);
    if (count <= 0) return;
    for (let position = 0; position < count; position++) this.recentBytes -= entrySizeBytes(this.recent[position]!);
    this.recent.splice(0, count);
  }

  /** Drops the in-memory entries from position `position` on (they were replaced). */
  private dropRecentFrom(position: number): void {
    for (let index = position; index < this.recent.length; index++) this.recentBytes -= entrySizeBytes(this.recent[index]!);
    this.recent.length = Math.min(this.recent.length, position);
  }

  snapshot(): Snapshot {
    return { metadata: this.snapshotMetadata, data: this.snapshotData };
  }

  /**
   * Persists one Ready's durable part (step 1 of Ready's contract). Call inside
   * the caller's transaction, so it shares the one fsync with anything else.
   */
  persist(hardState: HardState | null, entries: readonly Entry[]): void {
    assert(this.db.inTransaction, "persist runs inside a transaction");
    if (entries.length > 0) this.appendEntries(entries);
    if (hardState !== null) this.hardStateStatement.run(hardState.term, hardState.vote ?? "", hardState.commitIndex);
  }

  private appendEntries(entries: readonly Entry[]): void {
    const firstNew = entries[0]!.index;
    assert(firstNew >= this.first, "entries never replace compacted ones");
    assert(firstNew <= this.lastIndex() + 1, "entries extend the log without a gap");
    // Only a conflicting suffix is replaced; a leader's and an in-step follower's appends extend the log.
    if (firstNew <= this.lastIndex()) this.deleteFromStatement.run(firstNew);
    const recentFirst = this.lastIndex() - this.recent.length + 1;
    this.terms.length = firstNew - this.first;
    for (const entry of entries) {
      assert(entry.index === this.lastIndex() + 1, "entries are contiguous");
      this.insertStatement.run(entry.index, entry.term, kindCodes[entry.kind], entry.data);
      this.terms.push(entry.term);
    }
    this.rememberRecent(recentFirst, entries);
  }

  /** Records a snapshot made here at `metadata` (applied state), keeping its image in memory for followers. */
  recordSnapshot(metadata: SnapshotMetadata, data: Uint8Array): void {
    assert(metadata.index >= this.snapshotMetadata.index, "snapshots only move forward");
    assert(metadata.index <= this.lastIndex(), "a snapshot covers stored entries only");
    this.writeSnapshotRecord(metadata);
    this.snapshotMetadata = metadata;
    this.snapshotData = data;
  }

  /** A snapshot received from the leader replaces the whole log (contract 3). Runs in the caller's transaction. */
  installSnapshot(snapshot: Snapshot): void {
    assert(this.db.inTransaction, "installSnapshot runs inside a transaction");
    this.db.prepare("DELETE FROM log_entries").run();
    this.writeSnapshotRecord(snapshot.metadata);
    this.snapshotMetadata = snapshot.metadata;
    this.snapshotData = snapshot.data;
    this.first = snapshot.metadata.index + 1;
    this.terms = [];
    this.dropRecent(this.recent.length);
  }

  private writeSnapshotRecord(metadata: SnapshotMetadata): void {
    this.db
      .prepare("INSERT INTO raft_snapshot (id, idx, term, voters) VALUES (1, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET idx = excluded.idx, term = excluded.term, voters = excluded.voters")
      .run(metadata.index, metadata.term, JSON.stringify(metadata.confState.voters));
  }

  /** Drops entries up to `index` (≤ the snapshot index), keeping the term of the new compaction point. */
  compact(index: LogIndex): void {
    assert(index <= this.snapshotMetadata.index, "compaction never passes the newest snapshot");
    if (index < this.first) return;
    const compactedTerm = this.term(index)!;
    this.db.transaction(() => {
      this.db.prepare("DELETE FROM log_entries WHERE idx <= ?").run(index);
      this.db.prepare("INSERT INTO meta (key, value) VALUES ('compacted_index', ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value").run(String(index));
      this.db.prepare("INSERT INTO meta (key, value) VALUES ('compacted_term', ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value").run(String(compactedTerm));
    })();
    this.dropRecent(index - (this.lastIndex() - this.recent.length + 1) + 1);
    this.terms.splice(0, index - this.first + 1);
    this.first = index + 1;
  }
}
