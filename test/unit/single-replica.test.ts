// Proves the embedded single-replica log on a real SQLite file: proposals in one turn share one
// transaction, applied_index advances with them, and every restart raises the term (the fencing token).
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { systemClock } from "../../common/env.js";
import { SingleReplicaLog } from "../../controlplane/replication/single-replica.js";
import { openDatabase } from "../../controlplane/state/store.js";
import { temporaryDirectory } from "../support/processes.js";

function openLog(path: string) {
  const db = openDatabase({ path });
  const log = new SingleReplicaLog({ db, replicaId: "cp1", address: "127.0.0.1:0", clock: systemClock });
  log.start();
  return { db, log };
}

describe("single-replica log", () => {
  it("group-commits proposals made together into one transaction", async () => {
    const directory = temporaryDirectory("single");
    const { db, log } = openLog(`${directory.path}/v.db`);
    let transactions = 0;
    const original = db.transaction.bind(db);
    db.transaction = ((fn: (...args: never[]) => unknown) => {
      const wrapped = original(fn);
      return ((...args: never[]) => {
        transactions += 1;
        return wrapped(...args);
      }) as never;
    }) as typeof db.transaction;
    await Promise.all(Array.from({ length: 50 }, (_, n) => log.propose({ kind: "SetConfig", key: "keepalive.interval", value: String(n + 1) })));
    assert.equal(transactions, 1, "50 proposals in one turn share one transaction");
    assert.equal(log.stateMachine.reader.appliedIndex(), 50);
    assert.equal(log.stateMachine.reader.config().get("keepalive.interval"), "50", "applied in proposal order");
    await log.close();
    db.close();
    directory.remove();
  });

  it("raises the term on every start and keeps applied state", async () => {
    const directory = temporaryDirectory("single");
    const path = `${directory.path}/v.db`;
    const first = openLog(path);
    assert.equal(first.log.currentTerm(), 1);
    await first.log.propose({ kind: "SetClusterMaintenance", on: true });
    await first.log.close();
    first.db.close();
    const second = openLog(path);
    assert.equal(second.log.currentTerm(), 2);
    assert.equal(second.log.stateMachine.reader.clusterMaintenance(), true);
    const notices = await second.log.propose({ kind: "SetClusterMaintenance", on: false });
    assert.deepEqual(notices, [{ kind: "ClusterEventAdded" }]);
    assert.equal(second.log.stateMachine.reader.appliedIndex(), 2);
    await second.log.close();
    second.db.close();
    directory.remove();
  });

  it("rejects proposals after close", async () => {
    const directory = temporaryDirectory("single");
    const { db, log } = openLog(`${directory.path}/v.db`);
    await log.close();
    await assert.rejects(log.propose({ kind: "SetClusterMaintenance", on: true }), /stopping/);
    db.close();
    directory.remove();
  });
});
