// Proves the Raft-backed log as one voter on a real SQLite file: proposals made together share a
// transaction (group commit), applied_index advances with them, and every start raises the term.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import * as grpc from "@grpc/grpc-js";
import { seededRng, systemClock, systemTimers } from "../../common/env.js";
import { silentLogger } from "../../common/logging.js";
import { GrpcPeerTransport } from "../../controlplane/replication/grpc-transport.js";
import { RaftReplica } from "../../controlplane/replication/raft-replica.js";
import { replicaId } from "../../controlplane/replication/raft-types.js";
import { openDatabase, type Db } from "../../controlplane/state/store.js";
import { temporaryDirectory } from "../support/processes.js";
import { waitFor } from "../support/wait.js";

/** Counts calls of every transaction function made from `db` from now on (the replica makes its own at construction). */
function countTransactions(db: Db): () => number {
  let transactions = 0;
  const original = db.transaction.bind(db);
  db.transaction = ((fn: (...args: never[]) => unknown) => {
    const wrapped = original(fn);
    return ((...args: never[]) => {
      transactions += 1;
      return wrapped(...args);
    }) as never;
  }) as typeof db.transaction;
  return () => transactions;
}

async function openReplica(dataDir: string, options: { countTransactions?: boolean } = {}) {
  const db = openDatabase({ path: `${dataDir}/v.db` });
  const transactions = options.countTransactions === true ? countTransactions(db) : () => Number.NaN;
  const transport = new GrpcPeerTransport({ replicaId: replicaId("cp1"), clusterId: "", credentials: grpc.credentials.createInsecure(), logger: silentLogger(), address: () => undefined, isKnownPeer: () => false });
  const replica = new RaftReplica({ db, dataDir, replicaId: "cp1", address: "127.0.0.1:1", transport, clock: systemClock, timers: systemTimers, rng: seededRng(1), logger: silentLogger() });
  transport.setClusterId(replica.bootstrapOrCheck(new Map([["cp1", "127.0.0.1:1"]])));
  replica.start();
  await waitFor(() => replica.isLeader(), { timeoutMs: 5_000, what: "the single voter to lead" });
  return { db, replica, transactions };
}

describe("Raft-backed log, one voter", () => {
  it("group-commits proposals made together", async () => {
    const directory = temporaryDirectory("raft-replica");
    const { db, replica, transactions } = await openReplica(directory.path, { countTransactions: true });
    const before = replica.stateMachine.reader.appliedIndex();
    const transactionsBefore = transactions();
    await Promise.all(Array.from({ length: 100 }, (_, n) => replica.propose({ kind: "SetConfig", key: "keepalive.interval", value: String(n + 1) })));
    const taken = transactions() - transactionsBefore;
    assert.ok(taken >= 1 && taken <= 3, `100 proposals took ${taken} transactions; group commit keeps it to a few (and some were counted)`);
    assert.equal(replica.stateMachine.reader.appliedIndex(), before + 100);
    assert.equal(replica.stateMachine.reader.config().get("keepalive.interval"), "100", "applied in proposal order");
    await replica.close();
    db.close();
    directory.remove();
  });

  it("raises the term on every start and keeps applied state", async () => {
    const directory = temporaryDirectory("raft-replica");
    const first = await openReplica(directory.path);
    const firstTerm = first.replica.currentTerm();
    await first.replica.propose({ kind: "SetClusterMaintenance", on: true });
    await first.replica.close();
    first.db.close();
    const second = await openReplica(directory.path);
    assert.ok(second.replica.currentTerm() > firstTerm, `term ${second.replica.currentTerm()} > ${firstTerm}`);
    assert.equal(second.replica.stateMachine.reader.clusterMaintenance(), true);
    await second.replica.close();
    await assert.rejects(second.replica.propose({ kind: "SetClusterMaintenance", on: false }), /stopping/);
    second.db.close();
    directory.remove();
  });
});
