// Proves a replica refuses a snapshot image it could not install (empty, not SQLite, or missing the
// replicated tables) before the Raft core sees it, and accepts a real replica's image.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import Database from "better-sqlite3";
import { snapshotImageProblem } from "../../controlplane/replication/grpc-transport.js";
import { openDatabase } from "../../controlplane/state/store.js";
import { temporaryDirectory } from "../support/processes.js";

describe("snapshot image check", () => {
  it("accepts a replica's serialized state, including a WAL-mode file's", () => {
    const memory = openDatabase({ path: ":memory:" });
    assert.equal(snapshotImageProblem(memory.serialize()), null);
    memory.close();
    const directory = temporaryDirectory("snapshot-image");
    const file = openDatabase({ path: `${directory.path}/v.db` });
    const image = file.serialize();
    assert.equal(image[18], 2, "a WAL-mode file's image says WAL in its header");
    assert.equal(snapshotImageProblem(image), null);
    file.close();
    directory.remove();
  });
  it("refuses an empty image, a non-database and a database without the replicated tables", () => {
    assert.equal(snapshotImageProblem(Buffer.alloc(0)), "snapshot image is empty");
    assert.match(snapshotImageProblem(Buffer.from("not a database at all, just bytes")) ?? "", /not a database/);
    const other = new Database(":memory:");
    other.exec("CREATE TABLE unrelated (x INTEGER)");
    assert.match(snapshotImageProblem(other.serialize()) ?? "", /lacks tables settings, members/);
    other.close();
  });
});
