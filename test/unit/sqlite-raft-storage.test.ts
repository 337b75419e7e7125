// The SQLite Raft storage serves the newest entries from memory: what it serves must always equal
// what the file holds, through appends, a follower's truncation of a conflicting suffix, compaction
// and a received snapshot.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { SqliteRaftStorage } from "../../controlplane/replication/sqlite-raft-storage.js";
import { EntryKind, replicaId, type Entry } from "../../controlplane/replication/raft-types.js";
import { openDatabase } from "../../controlplane/state/store.js";
import { temporaryDirectory } from "../support/processes.js";

function entry(index: number, term: number): Entry {
  return { index, term, kind: EntryKind.normal, data: Buffer.from(`entry ${index} of term ${term}`) };
}

function range(from: number, to: number, term: number): Entry[] {
  return Array.from({ length: to - from + 1 }, (_, offset) => entry(from + offset, term));
}

const plain = (entries: readonly Entry[]) => entries.map((item) => ({ index: item.index, term: item.term, data: Buffer.from(item.data).toString() }));

describe("SqliteRaftStorage", () => {
  it("serves the same entries from memory as from the file, through truncation, compaction and snapshots", () => {
    const directory = temporaryDirectory("raft-storage");
    const db = openDatabase({ path: `${directory.path}/state.db`, synchronous: "OFF" });
    const storage = new SqliteRaftStorage(db);
    const persist = (entries: Entry[]) => db.transaction(() => storage.persist(null, entries))();
    /** What a fresh storage over the same file reads: the file's own truth. */
    const fromFile = (low: number, high: number) => new SqliteRaftStorage(db).entries(low, high, Number.MAX_SAFE_INTEGER);
    const check = (low: number, high: number) => assert.deepEqual(plain(storage.entries(low, high, Number.MAX_SAFE_INTEGER)), plain(fromFile(low, high)));

    persist(range(1, 10, 1));
    check(1, 11);
    check(4, 8);
    // A follower replaces a conflicting suffix from index 6 with a new leader's entries.
    persist(range(6, 12, 2));
    check(1, 13);
    assert.equal(storage.term(5), 1);
    assert.equal(storage.term(6), 2);
    // The byte bound still stops a read after the first entry that passes it.
    assert.equal(storage.entries(1, 13, 1).length, 1);
    // Compaction behind a snapshot, then more appends.
    db.transaction(() => storage.recordSnapshot({ index: 8, term: 2, confState: { voters: [replicaId("cp1")] } }, new Uint8Array([1])))();
    storage.compact(8);
    assert.equal(storage.firstIndex(), 9);
    persist(range(13, 20, 2));
    check(9, 21);
    // A snapshot from the leader replaces the whole log.
    db.transaction(() => storage.installSnapshot({ metadata: { index: 30, term: 3, confState: { voters: [replicaId("cp1")] } }, data: new Uint8Array([1]) }))();
    assert.deepEqual(storage.entries(31, 31, 100), []);
    persist(range(31, 33, 3));
    check(31, 34);
    db.close();
    directory.remove();
  });
});
