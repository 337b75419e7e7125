// The replicated log's own capacity: proposals made in-process on a leader RaftReplica (the same
// class vigild runs, over SQLite with synchronous=FULL and the real gRPC peer transport), committed
// on all 3 replicas. The two followers are real vigild processes on loopback. An entry counts once
// the leader has applied it and both followers have persisted it (their match index covers it).
// Fsyncs per entry: the leader's SQLite write transactions (one WAL fsync each under
// synchronous=FULL) divided by the entries; WAL checkpoints add a few more, not counted.
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { monitorEventLoopDelay } from "node:perf_hooks";
import * as grpc from "@grpc/grpc-js";
import { systemClock, systemRng, systemTimers } from "../../common/env.js";
import { silentLogger, type Logger } from "../../common/logging.js";
import { serviceDefinition } from "../../common/proto.js";
import { GrpcPeerTransport, type TransportHandlers } from "../../controlplane/replication/grpc-transport.js";
import { NotLeaderError } from "../../controlplane/replication/log.js";
import { ProposalDroppedError, RaftReplica } from "../../controlplane/replication/raft-replica.js";
import { MessageType, replicaId, type Message } from "../../controlplane/replication/raft-types.js";
import { openDatabase, type Db } from "../../controlplane/state/store.js";
import { payloadValue, writeKey } from "./clients.js";
import { VigilCluster } from "./clusters.js";
import { BenchTimeoutError, cpuTimeMs, diskWriteBytes, sleep, waitUntil } from "./processes.js";

export interface CapacityOptions {
  /** Entries per measured round. */
  entries: number;
  /** Proposals outstanding at once (the core refuses more than 10,000 uncommitted). */
  window: number;
  rounds: number;
  warmUpEntries: number;
  /** Extra Node options of the follower processes (for example --cpu-prof). */
  followerNodeOptions?: readonly string[];
  /** The in-process leader's logger (silent unless given). */
  logger?: Logger;
  /** Keep the followers' data dirs and logs (their path is printed) for a post-mortem. */
  keepData?: boolean;
}

export interface CapacityRound {
  entries: number;
  elapsedMs: number;
  entriesPerSecond: number;
  fsyncsPerEntry: number;
  /** Raft messages of the leader: appends sent and responses received, per entry; entries per append. */
  appendsSentPerEntry: number;
  entriesPerAppend: number;
  messagesReceivedPerEntry: number;
  /** CPU of the benchmark process (the leader) and of the two follower processes, per entry. */
  leaderCpuUsPerEntry: number;
  followerCpuUsPerEntry: number;
  /** Bytes written to storage per entry: by the leader, and by the two followers together. */
  leaderDiskBytesPerEntry: number;
  followerDiskBytesPerEntry: number;
  /** The longest the leader's event loop was blocked, and the snapshots it took, in this round. */
  leaderLoopDelayMaxMs: number;
  snapshots: number;
  snapshotMsMax: number;
}

export interface CapacityResult {
  rounds: CapacityRound[];
  /** Rounds abandoned because the leader lost leadership (its loop stalled past the election timeout). */
  lostRounds: string[];
  /** Average bytes of a SetConfig entry's data in the leader's log_entries table. */
  entryBytes: number;
  window: number;
}

/** Counts write transactions (those that changed a row) made through `db.transaction`. */
function countWriteTransactions(db: Db): { count(): number } {
  let count = 0;
  const changes = db.prepare("SELECT total_changes() AS changes").pluck();
  const original = db.transaction.bind(db);
  db.transaction = ((fn: (...args: never[]) => unknown) => {
    const wrapped = original(fn);
    return ((...args: never[]) => {
      const before = changes.get() as number;
      const result = wrapped(...args);
      if ((changes.get() as number) !== before) count += 1;
      return result;
    }) as never;
  }) as typeof db.transaction;
  return { count: () => count };
}

interface MessageCounts {
  appendsSent: number;
  entriesSent: number;
  otherSent: number;
  received: number;
}

/** Counts the leader's Raft messages at the transport, both ways. */
function countMessages(transport: GrpcPeerTransport): MessageCounts {
  const counts: MessageCounts = { appendsSent: 0, entriesSent: 0, otherSent: 0, received: 0 };
  const send = transport.send.bind(transport);
  transport.send = (messages: readonly Message[]) => {
    for (const message of messages) {
      if (message.type === MessageType.append) {
        counts.appendsSent += 1;
        counts.entriesSent += message.entries.length;
      } else {
        counts.otherSent += 1;
      }
    }
    send(messages);
  };
  const attach = transport.attach.bind(transport);
  transport.attach = (handlers: TransportHandlers) =>
    attach({
      ...handlers,
      onMessage: (message) => {
        counts.received += 1;
        handlers.onMessage(message);
      },
    });
  return counts;
}

interface SnapshotTimes {
  count: number;
  durationsMs: number[];
}

/** Times the leader's snapshots (db.serialize of the whole file, then a write of the image). */
function timeSnapshots(replica: RaftReplica): SnapshotTimes {
  const times: SnapshotTimes = { count: 0, durationsMs: [] };
  const takeSnapshot = replica.takeSnapshot.bind(replica);
  replica.takeSnapshot = () => {
    const startedAt = performance.now();
    takeSnapshot();
    times.count += 1;
    times.durationsMs.push(performance.now() - startedAt);
  };
  return times;
}

interface InProcessLeader {
  db: Db;
  replica: RaftReplica;
  server: grpc.Server;
  messages: MessageCounts;
  snapshots: SnapshotTimes;
  transactions: { count(): number };
}

async function startInProcessReplica(cluster: VigilCluster, logger: Logger): Promise<InProcessLeader> {
  const member = cluster.members[0]!;
  mkdirSync(member.dataDir, { recursive: true });
  const db = openDatabase({ path: join(member.dataDir, "vigild.db") });
  // Before the replica is built: it makes its transaction function once, at construction.
  const transactions = countWriteTransactions(db);
  let replica: RaftReplica | null = null;
  const transport = new GrpcPeerTransport({
    replicaId: replicaId(member.id),
    clusterId: "",
    credentials: grpc.credentials.createInsecure(),
    logger,
    address: (peer) => replica?.stateMachine.reader.memberAddresses().get(peer),
    isKnownPeer: (peer) => replica?.stateMachine.reader.memberAddresses().has(peer) === true,
  });
  replica = new RaftReplica({ db, dataDir: member.dataDir, replicaId: member.id, address: member.clientAddress, transport, clock: systemClock, timers: systemTimers, rng: systemRng, logger });
  transport.setClusterId(replica.bootstrapOrCheck(cluster.peerList()));
  const messages = countMessages(transport);
  const server = new grpc.Server({ "grpc.max_receive_message_length": 64 * 1024 * 1024, "grpc.max_send_message_length": 64 * 1024 * 1024 });
  server.addService(serviceDefinition("PeerService"), transport.serviceHandlers());
  await new Promise<void>((resolve, reject) => server.bindAsync(member.clientAddress, grpc.ServerCredentials.createInsecure(), (error) => (error === null ? resolve() : reject(error))));
  const snapshots = timeSnapshots(replica);
  replica.start();
  return { db, replica, server, messages, snapshots, transactions };
}

/**
 * Makes the in-process replica the leader: whoever wins the first election, a vigild follower that
 * leads is killed and restarted; the in-process replica sees its stream close and campaigns at once.
 */
async function leadInProcess(cluster: VigilCluster, replica: RaftReplica): Promise<void> {
  for (let attempt = 0; attempt < 8; attempt += 1) {
    const leader = await waitUntil(() => replica.leaderId() ?? undefined, { timeoutMs: 20_000, what: "a leader seen by the in-process replica" });
    if (leader === cluster.members[0]!.id) {
      await waitUntil(() => (replica.status().members.every((member) => member.healthy) ? true : undefined), { timeoutMs: 10_000, what: "both followers in contact" });
      return;
    }
    const index = cluster.members.findIndex((member) => member.id === leader);
    await cluster.kill(index);
    cluster.restart(index);
    await waitUntil(() => (replica.leaderId() !== leader ? true : undefined), { timeoutMs: 20_000, what: "a new leader after the kill" });
  }
  throw new BenchTimeoutError("the in-process replica never became the leader");
}

/** Proposes `count` entries keeping `window` outstanding; resolves once all are applied on the leader. */
async function proposeAll(replica: RaftReplica, count: number, window: number, firstSequence: number): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < count) {
      const sequence = firstSequence + next;
      next += 1;
      await replica.propose({ kind: "SetConfig", key: writeKey, value: payloadValue(sequence) });
    }
  };
  await Promise.all(Array.from({ length: Math.min(window, count) }, worker));
}

/** Waits (yielding to the event loop) until every follower's match index reaches the leader's applied index. */
async function replicatedOnAll(replica: RaftReplica, timeoutMs: number): Promise<void> {
  const target = replica.stateMachine.reader.appliedIndex();
  const deadline = performance.now() + timeoutMs;
  while (!replica.status().members.every((member) => member.commitIndex >= target)) {
    if (performance.now() > deadline) throw new BenchTimeoutError(`followers did not reach index ${target} within ${timeoutMs} ms`);
    await sleep(1);
  }
}

interface RoundContext {
  leader: InProcessLeader;
  cluster: VigilCluster;
  transactions: { count(): number };
  options: CapacityOptions;
}

/** One measured round of `options.entries` proposals from `firstSequence` on. */
async function measureRound(context: RoundContext, firstSequence: number): Promise<CapacityRound> {
  const { leader, cluster, transactions, options } = context;
  const followerPids = cluster.pids();
  const transactionsBefore = transactions.count();
  const messagesBefore = { ...leader.messages };
  const snapshotsBefore = leader.snapshots.count;
  const loopDelay = monitorEventLoopDelay({ resolution: 10 });
  loopDelay.enable();
  const leaderCpuBefore = process.cpuUsage();
  const followerCpuBeforeMs = followerPids.reduce((sum, pid) => sum + cpuTimeMs(pid), 0);
  const leaderBytesBefore = diskWriteBytes(process.pid);
  const followerBytesBefore = followerPids.reduce((sum, pid) => sum + diskWriteBytes(pid), 0);
  const startedAt = performance.now();
  try {
    await proposeAll(leader.replica, options.entries, options.window, firstSequence);
    await replicatedOnAll(leader.replica, 60_000);
  } finally {
    loopDelay.disable();
  }
  const elapsedMs = performance.now() - startedAt;
  const snapshotDurationsMs = leader.snapshots.durationsMs.slice(snapshotsBefore);
  const leaderCpu = process.cpuUsage(leaderCpuBefore);
  const followerCpuMs = followerPids.reduce((sum, pid) => sum + cpuTimeMs(pid), 0) - followerCpuBeforeMs;
  const leaderBytes = diskWriteBytes(process.pid) - leaderBytesBefore;
  const followerBytes = followerPids.reduce((sum, pid) => sum + diskWriteBytes(pid), 0) - followerBytesBefore;
  const appendsSent = leader.messages.appendsSent - messagesBefore.appendsSent;
  return {
    entries: options.entries,
    elapsedMs,
    entriesPerSecond: (options.entries * 1000) / elapsedMs,
    fsyncsPerEntry: (transactions.count() - transactionsBefore) / options.entries,
    appendsSentPerEntry: appendsSent / options.entries,
    entriesPerAppend: (leader.messages.entriesSent - messagesBefore.entriesSent) / Math.max(1, appendsSent),
    messagesReceivedPerEntry: (leader.messages.received - messagesBefore.received) / options.entries,
    leaderCpuUsPerEntry: (leaderCpu.user + leaderCpu.system) / options.entries,
    followerCpuUsPerEntry: (followerCpuMs * 1000) / options.entries,
    leaderDiskBytesPerEntry: leaderBytes / options.entries,
    followerDiskBytesPerEntry: followerBytes / options.entries,
    leaderLoopDelayMaxMs: loopDelay.max / 1e6,
    snapshots: snapshotDurationsMs.length,
    snapshotMsMax: snapshotDurationsMs.length === 0 ? 0 : Math.max(...snapshotDurationsMs),
  };
}

/** Rounds lost because the leader stepped down are measured again, up to this many times. */
const lostRoundsMax = 3;

export async function measureLogCapacity(options: CapacityOptions): Promise<CapacityResult> {
  const cluster = await VigilCluster.create({ inProcessMembers: [0], nodeOptions: options.followerNodeOptions ?? [] });
  let leader: InProcessLeader | null = null;
  try {
    leader = await startInProcessReplica(cluster, options.logger ?? silentLogger());
    cluster.launchAll();
    await leadInProcess(cluster, leader.replica);
    const context: RoundContext = { leader, cluster, transactions: leader.transactions, options };
    let sequence = 1;
    await proposeAll(leader.replica, options.warmUpEntries, options.window, sequence);
    sequence += options.warmUpEntries;
    await replicatedOnAll(leader.replica, 30_000);
    const rounds: CapacityRound[] = [];
    const lostRounds: string[] = [];
    while (rounds.length < options.rounds) {
      try {
        rounds.push(await measureRound(context, sequence));
      } catch (error) {
        // A leader whose loop stalls past the election timeout steps down (check-quorum): measure again.
        if (!(error instanceof NotLeaderError || error instanceof ProposalDroppedError) || lostRounds.length >= lostRoundsMax) throw error;
        lostRounds.push(`${error.name}: ${error.message}`);
        await leadInProcess(cluster, leader.replica);
      }
      sequence += options.entries;
      await sleep(200);
    }
    const entryBytes = (leader.db.prepare("SELECT AVG(LENGTH(data)) FROM log_entries WHERE type = 0 AND INSTR(data, ?) > 0").pluck().get(Buffer.from(writeKey)) as number | null) ?? Number.NaN;
    return { rounds, lostRounds, entryBytes, window: options.window };
  } finally {
    if (leader !== null) {
      await leader.replica.close();
      leader.server.forceShutdown();
      leader.db.close();
    }
    await cluster.stop({ keepData: options.keepData === true });
    if (options.keepData === true) process.stderr.write(`log capacity: follower logs kept in ${cluster.members[1]!.process?.logPath ?? "?"} and beside it\n`);
  }
}
