// Proves the Raft-backed log as one voter on a real SQLite file: proposals made together share a
// transaction (group commit), applied_index advances with them, and every start raises the term.
// As three voters over loopback: a leader's appends leave before its own write of them, and it
// never counts entries it has not written (Raft thesis §10.2.1); a follower acknowledges an append
// before it applies what an earlier one committed.
import assert from "node:assert/strict";
import { after, describe, it } from "node:test";
import * as grpc from "@grpc/grpc-js";
import { seededRng, systemClock, systemTimers } from "../../common/env.js";
import { silentLogger } from "../../common/logging.js";
import { serviceDefinition } from "../../common/proto.js";
import { GrpcPeerTransport, type TransportHandlers } from "../../controlplane/replication/grpc-transport.js";
import { RaftReplica } from "../../controlplane/replication/raft-replica.js";
import { MessageType, replicaId, type Message } from "../../controlplane/replication/raft-types.js";
import { openDatabase, type Db } from "../../controlplane/state/store.js";
import { freePorts } from "../support/cluster.js";
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

interface LoopbackReplica {
  id: string;
  db: Db;
  replica: RaftReplica;
  transport: GrpcPeerTransport;
  server: grpc.Server;
}

const leaderDeferMs = 5;

/** Three replicas in this process, each with its own SQLite file, gRPC server and peer transport on loopback. */
async function openLoopbackCluster(dataDir: string): Promise<LoopbackReplica[]> {
  const ports = await freePorts(3);
  const members = new Map(ports.map((port, position) => [`cp${position + 1}`, `127.0.0.1:${port}`]));
  const replicas: LoopbackReplica[] = [];
  for (const [id, address] of members) {
    const db = openDatabase({ path: `${dataDir}/${id}.db` });
    const transport = new GrpcPeerTransport({ replicaId: replicaId(id), clusterId: "", credentials: grpc.credentials.createInsecure(), logger: silentLogger(), address: (peer) => members.get(peer), isKnownPeer: (peer) => members.has(peer) });
    // A leader's deferred work runs late, as a leader's own fsync would on a busy disk: its
    // followers' acknowledgements then arrive before its write of the entries they acknowledge.
    const defer = (callback: () => void) => (replica.isLeader() ? setTimeout(callback, leaderDeferMs) : setImmediate(callback));
    const replica: RaftReplica = new RaftReplica({ db, dataDir, replicaId: id, address, transport, clock: systemClock, timers: systemTimers, rng: seededRng(replicas.length + 1), logger: silentLogger(), defer });
    transport.setClusterId(replica.bootstrapOrCheck(members));
    const server = new grpc.Server();
    server.addService(serviceDefinition("PeerService"), transport.serviceHandlers());
    await new Promise<void>((resolve, reject) => server.bindAsync(address, grpc.ServerCredentials.createInsecure(), (error) => (error === null ? resolve() : reject(error))));
    replicas.push({ id, db, replica, transport, server });
  }
  return replicas;
}

async function closeLoopbackCluster(replicas: LoopbackReplica[]): Promise<void> {
  for (const { replica, server, db } of replicas) {
    await replica.close();
    server.forceShutdown();
    db.close();
  }
}

/** The newest index in `db`'s log table (0 when empty): what this replica has written. */
function lastWrittenIndex(db: Db): number {
  return (db.prepare("SELECT COALESCE(MAX(idx), 0) FROM log_entries").pluck().get() as number) ?? 0;
}

describe("Raft-backed log, three voters over loopback", () => {
  it("a leader sends its appends before writing them and commits nothing it has not written; followers acknowledge before applying", async () => {
    const directory = temporaryDirectory("raft-replica-3");
    const replicas = await openLoopbackCluster(directory.path);
    after(() => closeLoopbackCluster(replicas).then(() => directory.remove()));
    // Observe every leader's transport: what it sends, and its commit index after each peer message.
    const sentAhead: number[] = [];
    const committedUnwritten: string[] = [];
    let acknowledgedBeforeApplying = 0;
    for (const member of replicas) {
      const send = member.transport.send.bind(member.transport);
      member.transport.send = (messages: readonly Message[]) => {
        for (const message of messages) {
          // A follower's acknowledgement leaves before it applies what an earlier append committed.
          if (message.type === MessageType.appendResponse && !message.reject) {
            const self = member.replica.status().members.find((entry) => entry.id === member.id)!;
            if (member.replica.stateMachine.reader.appliedIndex() < self.commitIndex) acknowledgedBeforeApplying += 1;
          }
          if (message.type !== MessageType.append || message.entries.length === 0) continue;
          const last = message.entries.at(-1)!.index;
          if (last > lastWrittenIndex(member.db)) sentAhead.push(last);
        }
        send(messages);
      };
      const attach = member.transport.attach.bind(member.transport);
      member.transport.attach = (handlers: TransportHandlers) =>
        attach({
          ...handlers,
          onMessage: (message) => {
            handlers.onMessage(message);
            if (!member.replica.isLeader()) return;
            const self = member.replica.status().members.find((entry) => entry.id === member.id)!;
            const written = lastWrittenIndex(member.db);
            if (self.commitIndex > written) committedUnwritten.push(`${member.id} committed ${self.commitIndex} with ${written} written`);
          },
        });
    }
    for (const { replica } of replicas) replica.start();
    const leader = await waitFor(() => replicas.find((member) => member.replica.isLeader() && member.replica.status().members.every((entry) => entry.healthy)), { timeoutMs: 10_000, what: "a leader in contact with both followers" });
    const before = leader.replica.stateMachine.reader.appliedIndex();
    for (let round = 0; round < 20; round += 1) {
      await Promise.all(Array.from({ length: 16 }, (_, n) => leader.replica.propose({ kind: "SetConfig", key: "keepalive.interval", value: String(round * 16 + n + 1) })));
    }
    // The new leader's own first entry may commit after `before` was read.
    assert.ok(leader.replica.stateMachine.reader.appliedIndex() >= before + 320, "every write applied on the leader");
    assert.equal(leader.replica.stateMachine.reader.config().get("keepalive.interval"), "320", "applied in proposal order");
    assert.ok(sentAhead.length > 0, "appends left the leader before its own write of their entries");
    assert.deepEqual(committedUnwritten, [], "the leader never counted entries it had not written");
    assert.ok(acknowledgedBeforeApplying > 0, "followers acknowledged appends before applying the entries committed with them");
    // Followers hold every committed entry too: they applied the same state.
    await waitFor(() => replicas.every((member) => member.replica.stateMachine.reader.config().get("keepalive.interval") === "320"), { timeoutMs: 10_000, what: "every replica to apply the last write" });
  });
});
