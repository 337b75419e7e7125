// Drives the pure Raft core (raft.ts) with real time, SQLite and gRPC, and
// offers it to the rest of vigild as a ReplicatedLog. The drive loop follows
// Ready's contract:
//  1. persist entries + hard state and apply committed entries in ONE SQLite
//     transaction (one fsync for a whole batch of proposals: group commit);
//  2. only then send messages;
//  3. resolve waiting proposals, reads and listeners; advance.
// Time: ticks are derived from the monotonic clock, so a process paused by
// SIGSTOP catches up on resume and its check-quorum fires at once. The lease
// the primary duties rely on is measured in wall (monotonic) time at this edge.
import { randomUUID } from "node:crypto";
import { unlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { assert } from "../../common/assert.js";
import type { Cancel, Clock, Rng, Timers } from "../../common/env.js";
import { errorMessage } from "../../common/errors.js";
import type { Logger } from "../../common/logging.js";
import { replicatedTables } from "../state/schema.js";
import type { AppliedNotice } from "../state/apply.js";
import { StateMachine } from "../state/apply.js";
import { decodeEntry, encodeEntry, type StateCommand } from "../state/commands.js";
import type { Db } from "../state/store.js";
import type { Statement } from "better-sqlite3";
import type { TransportHandlers } from "./grpc-transport.js";
import { LogClosedError, NotLeaderError, type LeadershipChange, type MemberStatus, type ReplicatedLog, type ReplicationStatus } from "./log.js";
import { Raft } from "./raft.js";
import { bootstrapEntries, decodeConfChange, type ConfChange } from "./raft-configuration.js";
import { EntryKind, MessageType, Role, replicaId, type Entry, type HardState, type InjectedBug, type Message, type Ready, type ReplicaId, type Snapshot, type SoftState } from "./raft-types.js";
import { SqliteRaftStorage } from "./sqlite-raft-storage.js";

export interface RaftTiming {
  tickMs: number;
  heartbeatIntervalTicks: number;
  electionTimeoutTicks: number;
  /** Bound on how much two replicas' clocks may disagree about a lease period. */
  clockDriftMs: number;
}

export const defaultRaftTiming: RaftTiming = { tickMs: 100, heartbeatIntervalTicks: 1, electionTimeoutTicks: 10, clockDriftMs: 500 };

/**
 * What the replica needs from the network between replicas: grpc-transport.ts in production, a
 * simulated network in the deterministic simulator (test/sim).
 */
export interface PeerTransport {
  attach(handlers: TransportHandlers): void;
  /** Sends without waiting; a message that cannot be delivered is dropped (Raft resends). */
  send(messages: readonly Message[]): void;
  /** Forwards an encoded command to `leader`; resolves with where it committed. */
  propose(leader: ReplicaId, command: Uint8Array): Promise<{ index: number; term: number }>;
  close(): void;
}

export interface RaftReplicaOptions {
  db: Db;
  dataDir: string;
  replicaId: string;
  address: string;
  transport: PeerTransport;
  clock: Clock;
  timers: Timers;
  rng: Rng;
  logger: Logger;
  /** Runs `callback` soon, after the current event: setImmediate by default, the simulator's queue in simulation. */
  defer?: (callback: () => void) => void;
  /** A fresh id for a read request's context: randomUUID by default, seeded in simulation. */
  uniqueId?: () => string;
  timing?: RaftTiming;
  /** Test only: makes the core deliberately unsafe (raft-types.ts InjectedBug). Never set in production. */
  injectedBug?: InjectedBug | null;
  /** Applied entries between snapshots; the log keeps `retainedEntries` behind the newest one. */
  snapshotEveryEntries?: number;
  retainedEntries?: number;
}

/** A leadership transfer was refused or did not complete within its bound. */
export class TransferFailedError extends Error {
  override name = "TransferFailedError";
}

/** Thrown when a proposed entry was replaced by another leader's before it committed. */
export class ProposalDroppedError extends Error {
  override name = "ProposalDroppedError";
}

interface ProposalWaiter {
  term: number;
  resolve(result: { index: number; term: number; notices: AppliedNotice[] }): void;
  reject(error: Error): void;
}

/** What applying one committed entry said, by its position in the log. */
interface AppliedEntry {
  index: number;
  term: number;
  notices: AppliedNotice[];
}

interface AppliedWaiter {
  index: number;
  resolve(): void;
  reject(error: Error): void;
  cancelTimeout: Cancel;
}

/** What applying each of the newest entries said, per generation (two are kept: 8,192–16,384 entries). */
const recentNoticesMax = 8_192;
/** Survivors of a dead leader campaign this far apart by rank (well above a loopback or LAN round trip). */
const campaignStaggerMs = 150;
const waitAppliedTimeoutMs = 10_000;
const readTimeoutMs = 5_000;
/** A tick this many intervals late is logged: the event loop was blocked (load, GC, a slow fsync). */
const stallWarningTicks = 4;
/** SQLite's code for synchronous=NORMAL (PRAGMA synchronous reads 0 OFF, 1 NORMAL, 2 FULL, 3 EXTRA). */
const synchronousNormal = 1;

/** A cluster's identity: the same initial member list gives the same id on every founding replica. */
export function clusterIdOf(initialMembers: Map<string, string>): string {
  const text = [...initialMembers.entries()].sort(([a], [b]) => a.localeCompare(b)).map(([id, address]) => `${id}=${address}`).join(",");
  // A stable, readable id; not a secret.
  let hash = 0x811c9dc5;
  for (const character of text) hash = Math.imul(hash ^ character.charCodeAt(0), 0x01000193) >>> 0;
  return `vigil-${hash.toString(16).padStart(8, "0")}`;
}

export class DataDirOfAnotherClusterError extends Error {
  override name = "DataDirOfAnotherClusterError";
}

export class RaftReplica implements ReplicatedLog {
  readonly replicaId: string;
  readonly stateMachine: StateMachine;
  readonly storage: SqliteRaftStorage;
  private raft: Raft | null = null;
  private readonly db: Db;
  private readonly timing: RaftTiming;
  private readonly proposals = new Map<number, ProposalWaiter>();
  private appliedWaiters: AppliedWaiter[] = [];
  private readonly readWaiters = new Map<string, { resolve(index: number): void; reject(error: Error): void }>();
  /**
   * Notices of recently applied entries by index, for a follower's forwarded proposal to return.
   * Bounded by swapping generations: evicting the oldest key one entry at a time
   * (`keys().next()`) walks the holes a Map keeps for deleted keys, ~6 us per entry at this size
   * (bench/replication profile: settleApplied was a follower's largest self time).
   */
  private recentNotices = new Map<number, { term: number; notices: AppliedNotice[] }>();
  private olderNotices = new Map<number, { term: number; notices: AppliedNotice[] }>();
  private readonly appliedListeners = new Set<(notices: AppliedNotice[]) => void>();
  private readonly leadershipListeners = new Set<(change: LeadershipChange) => void>();
  private softState: SoftState = { role: Role.follower, leader: null };
  private lastTickAtMs = 0;
  /** Messages received from peers so far: a late tick catches up only if none came meanwhile. */
  private peerMessagesReceived = 0;
  private cancelTick: Cancel | null = null;
  private readyScheduled = false;
  private processing = false;
  /** A leader's Ready whose messages were sent before its entries were written here; null when none. */
  private sentBeforePersisting: Ready | null = null;
  /** Peer messages that arrived meanwhile, stepped once that write is done (in arrival order). */
  private heldMessages: Message[] = [];
  private closed = false;
  private lastQuorumContactTick = -1;
  private lastQuorumContactAtMs = -Infinity;
  /** Monotonic time at which each recent logical tick ran, to date the core's tick-stamped facts. */
  private readonly tickTimesMs = new Map<number, number>();
  private appliedSinceSnapshot = 0;
  /** The term and vote on disk: a Ready that changes either must be fsynced before it is acted on. */
  private durableTermVote: { term: number; vote: ReplicaId | null } = { term: 0, vote: null };
  /** The database's configured synchronous level (2 = FULL in production), restored after a relaxed commit. */
  private readonly synchronousLevel: number;
  private readonly relaxSynchronous: Statement;
  private readonly restoreSynchronous: Statement;
  private readonly inTransaction: (write: () => unknown) => unknown;

  constructor(private readonly options: RaftReplicaOptions) {
    this.db = options.db;
    this.replicaId = options.replicaId;
    this.timing = options.timing ?? defaultRaftTiming;
    this.storage = new SqliteRaftStorage(this.db);
    this.stateMachine = new StateMachine(this.db);
    this.synchronousLevel = this.db.pragma("synchronous", { simple: true }) as number;
    // Prepared once: every Ready commits through these (better-sqlite3 compiles SQL on each prepare).
    this.relaxSynchronous = this.db.prepare("PRAGMA synchronous = NORMAL");
    this.restoreSynchronous = this.db.prepare(`PRAGMA synchronous = ${this.synchronousLevel}`);
    this.inTransaction = this.db.transaction((write: () => unknown) => write());
  }

  /**
   * Founds the cluster on an empty data dir, or checks that the data dir belongs
   * to the cluster `initialMembers` describes. Returns the cluster id.
   */
  bootstrapOrCheck(initialMembers: Map<string, string>): string {
    const expected = clusterIdOf(initialMembers);
    const stored = this.stateMachine.reader.meta("cluster_id");
    if (stored !== undefined) {
      if (stored !== expected && initialMembers.size > 1) {
        throw new DataDirOfAnotherClusterError(`data dir belongs to cluster ${stored}, but --peers describes cluster ${expected}; refusing to start`);
      }
      return stored;
    }
    assert(this.storage.isEmpty(), "a data dir without a cluster id has no Raft state");
    const voters = [...initialMembers.keys()].map(replicaId);
    const entries = bootstrapEntries(voters);
    this.db.transaction(() => {
      this.storage.persist({ term: 1, vote: null, commitIndex: entries.length }, entries);
      for (const [id, address] of initialMembers) this.db.prepare("INSERT INTO members (id, address) VALUES (?, ?)").run(id, address);
      this.db.prepare("INSERT INTO meta (key, value) VALUES ('cluster_id', ?)").run(expected);
    })();
    this.options.logger.info({ clusterId: expected, voters }, "founded a new cluster");
    return expected;
  }

  /**
   * Prepares an empty data dir to join an existing cluster (`vigild --join`): no founding entries;
   * the leader's log or snapshot brings the membership once `member add` has made this a voter.
   */
  joinExisting(clusterId: string, knownMembers: Map<string, string>): string {
    const stored = this.stateMachine.reader.meta("cluster_id");
    if (stored !== undefined && stored !== clusterId) throw new DataDirOfAnotherClusterError(`data dir belongs to cluster ${stored}, not ${clusterId}`);
    if (stored !== undefined) return stored;
    this.db.transaction(() => {
      for (const [id, address] of knownMembers) this.db.prepare("INSERT OR IGNORE INTO members (id, address) VALUES (?, ?)").run(id, address);
      this.db.prepare("INSERT INTO meta (key, value) VALUES ('cluster_id', ?)").run(clusterId);
    })();
    this.options.logger.info({ clusterId }, "joining an existing cluster; waiting for the leader");
    return clusterId;
  }

  start(): void {
    const { transport, clock, rng } = this.options;
    const appliedIndex = this.stateMachine.reader.appliedIndex();
    const durable = this.storage.initialState().hardState;
    this.durableTermVote = { term: durable.term, vote: durable.vote };
    this.raft = new Raft({ id: replicaId(this.replicaId), storage: this.storage, rng, electionTimeoutTicks: this.timing.electionTimeoutTicks, heartbeatIntervalTicks: this.timing.heartbeatIntervalTicks, appliedIndex, injectedBug: this.options.injectedBug ?? null });
    // After a restart the snapshot record survives but its image (kept in memory) does not: take a
    // fresh one, or a follower far behind would be sent an empty image (found by the simulator,
    // seeds 831 and 876).
    const snapshot = this.storage.snapshot();
    if (appliedIndex > snapshot.metadata.index || (snapshot.metadata.index > 0 && snapshot.data.byteLength === 0)) this.takeSnapshot();
    transport.attach({
      onMessage: (message) => {
        this.peerMessagesReceived += 1;
        // While this leader's own write of entries it has already sent is pending, the core must
        // not see an acknowledgement: it counts the leader's log as held, so it could commit
        // entries not yet durable here (Raft thesis §10.2.1). Held messages are stepped after it.
        if (this.sentBeforePersisting !== null) this.heldMessages.push(message);
        else this.stepPeerMessage(message);
      },
      onInboundClosed: (peer) => this.leaderConnectionClosed(peer),
      onPropose: async (bytes) => {
        const command = JSON.parse(Buffer.from(bytes).toString("utf8")) as StateCommand;
        const result = await this.proposeOnLeader(command);
        return { index: result.index, term: result.term };
      },
      onSnapshotSent: (peer, succeeded) => {
        this.core().reportSnapshot(peer, succeeded);
        this.scheduleReady();
      },
      onUnreachable: (peer) => this.core().reportUnreachable(peer),
    });
    this.lastTickAtMs = clock.monotonicMs();
    this.tickTimesMs.set(this.core().status().currentTick, this.lastTickAtMs);
    if (this.core().status().voters.length === 1) this.core().campaignNow();
    this.processReady();
    this.scheduleTick();
  }

  private stepPeerMessage(message: Message): void {
    const outcome = this.core().step(message);
    if (!outcome.accepted) this.options.logger.debug({ from: message.from, type: message.type, reason: outcome.reason }, outcome.detail);
    this.scheduleReady();
  }

  private core(): Raft {
    assert(this.raft !== null, "the replica is started");
    return this.raft;
  }

  // ---------------------------------------------------------------------------------------------
  // Time
  // ---------------------------------------------------------------------------------------------

  private scheduleTick(): void {
    this.cancelTick = this.options.timers.after(this.timing.tickMs, () => this.onTick());
  }

  private onTick(): void {
    if (this.closed) return;
    const now = this.options.clock.monotonicMs();
    const elapsedMs = now - this.lastTickAtMs;
    // Catch up after a pause (SIGSTOP, a long GC) so check-quorum sees the real elapsed time; bounded.
    const ticks = Math.min(Math.max(1, Math.floor(elapsedMs / this.timing.tickMs)), this.timing.electionTimeoutTicks * 2);
    this.lastTickAtMs = now;
    if (ticks === 1) return this.runTicks(1, now);
    if (elapsedMs >= stallWarningTicks * this.timing.tickMs) this.options.logger.warn({ stalledMs: Math.round(elapsedMs - this.timing.tickMs), ticks, role: this.softState.role }, "event loop stalled: ticks ran late");
    // The timer ran late: this process was blocked (load, GC, a slow fsync, SIGSTOP). Timers run
    // before the I/O that queued up meanwhile, so catching up at once would time out the leader
    // (a follower pre-votes, a leader fails check-quorum) while its heartbeats, or the followers'
    // acks, sit unread in the socket: on a loaded machine that was most of the leadership churn
    // (bench/churn.ts). So read first: the catch-up runs after that I/O, and only if no peer was
    // heard from meanwhile. Heard-from peers are dated by the tick before the stall, so the lease
    // (wall time, noteQuorumContact) still counts the stall against itself.
    const heardBefore = this.peerMessagesReceived;
    (this.options.defer ?? setImmediate)(() => {
      if (this.closed) return;
      this.runTicks(this.peerMessagesReceived > heardBefore ? 1 : ticks, now);
    });
  }

  private runTicks(ticks: number, now: number): void {
    for (let tick = 0; tick < ticks; tick++) {
      this.core().tick();
      this.rememberTickTime(now);
    }
    // Every tick, not only when a Ready is processed: an idle one-voter leader has no Ready but
    // keeps its quorum (itself), and its lease must not look expired.
    this.noteQuorumContact();
    this.processReady();
    this.scheduleTick();
  }

  /** Whether this replica leads and has heard from a quorum within the lease period (wall time). */
  holdsLease(): boolean {
    if (this.softState.role !== Role.leader) return false;
    const leaseMs = this.timing.electionTimeoutTicks * this.timing.tickMs;
    return this.options.clock.monotonicMs() - this.lastQuorumContactAtMs < leaseMs;
  }

  /**
   * Wall time at which this replica's latest lease runs (or ran) out; null if it never led. Kept
   * after losing leadership: a leader that learns of a new term only after a pause still had no
   * lease, and so no duties, past this time (commands check holdsLease() before every send).
   */
  leaseExpiresAtMs(): number | null {
    if (this.lastQuorumContactAtMs === -Infinity) return null;
    const leaseMs = this.timing.electionTimeoutTicks * this.timing.tickMs;
    const sinceContactMs = this.options.clock.monotonicMs() - this.lastQuorumContactAtMs;
    return this.options.clock.nowMs() - sinceContactMs + leaseMs;
  }

  /** How long a new primary waits before commanding agents: the old lease plus the drift bound. */
  previousLeaseWaitMs(): number {
    return this.timing.electionTimeoutTicks * this.timing.tickMs + this.timing.clockDriftMs;
  }

  private rememberTickTime(now: number): void {
    const tick = this.core().status().currentTick;
    this.tickTimesMs.set(tick, now);
    this.tickTimesMs.delete(tick - this.timing.electionTimeoutTicks * 4);
  }

  /**
   * The lease runs from when the acknowledged heartbeats were SENT, not from when the acks were
   * read: acks that sat in a socket while this process was paused (SIGSTOP) must not extend it.
   * The core stamps quorum contact with the logical tick at which it was seen; no tick runs during
   * a pause, so that tick's time (less one tick for the round trip) bounds the send time from below.
   */
  private noteQuorumContact(): void {
    const lease = this.core().status().lease;
    if (lease === null) return;
    if (lease.quorumContactTick > this.lastQuorumContactTick) {
      this.lastQuorumContactTick = lease.quorumContactTick;
      const tickTimeMs = this.tickTimesMs.get(lease.quorumContactTick) ?? this.lastTickAtMs;
      this.lastQuorumContactAtMs = Math.max(this.lastQuorumContactAtMs, tickTimeMs - this.timing.tickMs);
    }
  }

  private leaderConnectionClosed(peer: ReplicaId): void {
    if (this.closed || this.softState.leader !== peer || this.softState.role === Role.leader) return;
    // The leader's process is gone or restarting: pre-vote now rather than after the election
    // timeout. Every survivor drops the dead leader's lease at once (so it grants pre-votes), but
    // they campaign staggered by rank, so the first wins before the next starts: campaigning
    // 0–30 ms apart split the vote in 1–2 of 5 failovers (bench/replication), costing ~1 s.
    this.core().forgetLeader(peer);
    const survivors = this.core().status().voters.filter((voter) => voter !== peer).sort();
    const rank = Math.max(0, survivors.indexOf(replicaId(this.replicaId)));
    const delayMs = rank * campaignStaggerMs + Math.floor(this.options.rng.next() * 30);
    this.options.logger.info({ leader: peer, delayMs }, "connection from the leader closed; starting a pre-vote");
    this.options.timers.after(delayMs, () => {
      // A survivor ranked earlier may already lead: then there is nothing to campaign for.
      if (this.closed || this.softState.role === Role.leader || this.core().status().leader !== null) return;
      this.core().campaignNow();
      this.processReady();
    });
  }

  // ---------------------------------------------------------------------------------------------
  // The drive loop
  // ---------------------------------------------------------------------------------------------

  private scheduleReady(): void {
    if (this.readyScheduled || this.closed) return;
    this.readyScheduled = true;
    const defer = this.options.defer ?? setImmediate;
    defer(() => {
      this.readyScheduled = false;
      this.processReady();
    });
  }

  private processReady(): void {
    if (this.processing || this.closed) return;
    this.processing = true;
    let handedOff = false;
    try {
      const raft = this.core();
      while (raft.hasReady()) {
        const ready = raft.ready();
        if (this.maySendBeforePersisting(ready)) {
          // The leader's appends go out first and its own write follows once they are on their
          // way, so the followers' fsyncs overlap the leader's instead of following it (Raft
          // thesis §10.2.1). The write runs after the I/O callbacks: the transport's writes reach
          // the sockets in between (bench/replication: one fsync less per write's latency).
          this.options.transport.send(ready.messages);
          this.sentBeforePersisting = ready;
          handedOff = true;
          (this.options.defer ?? setImmediate)(() => this.finishSentReady());
          return;
        }
        this.completeReady(ready, false);
      }
    } catch (error) {
      this.failReplication(error);
    } finally {
      if (!handedOff) this.processing = false;
    }
  }

  /**
   * Whether `ready`'s messages may leave before its entries are durable here: a leader's Ready
   * that changes no term or vote, installs no snapshot, and whose messages claim no entry of its
   * own as committed (so no follower applies what only this leader's unsynced log holds).
   */
  private maySendBeforePersisting(ready: Ready): boolean {
    if (ready.softState.role !== Role.leader || ready.entries.length === 0 || ready.messages.length === 0 || ready.snapshot !== null) return false;
    const hardState = ready.hardState;
    if (hardState !== null && (hardState.term !== this.durableTermVote.term || hardState.vote !== this.durableTermVote.vote)) return false;
    const firstNew = ready.entries[0]!.index;
    return ready.messages.every((message) => message.type === MessageType.append || message.type === MessageType.heartbeat ? message.commitIndex < firstNew : message.type !== MessageType.installSnapshot);
  }

  /** Writes, applies and advances the Ready whose messages already went out; then steps what was held. */
  private finishSentReady(): void {
    const ready = this.sentBeforePersisting;
    if (ready === null) return;
    try {
      this.completeReady(ready, true);
    } catch (error) {
      this.failReplication(error);
    } finally {
      this.sentBeforePersisting = null;
      this.processing = false;
    }
    const held = this.heldMessages;
    this.heldMessages = [];
    for (const message of held) this.stepPeerMessage(message);
    this.processReady();
  }

  /** Ready's contract: persist and apply in one transaction, send, settle waiters, advance. */
  private completeReady(ready: Ready, messagesSent: boolean): void {
    const raft = this.core();
    if (ready.snapshot !== null) this.installSnapshot(ready.snapshot);
    const durable = this.mustReachDisk(ready);
    let applied: AppliedEntry[];
    if (durable && !messagesSent && ready.messages.length > 0 && ready.committedEntries.length > 0) {
      // Messages wait for the fsync, not for applying: a follower acknowledges an append before
      // it applies the entries an earlier one committed (its acknowledgement is what the leader's
      // writes wait for), at the cost of a second, unsynced transaction for the apply.
      this.commit(true, () => this.storage.persist(ready.hardState, ready.entries));
      this.noteDurable(ready);
      this.options.transport.send(ready.messages);
      applied = this.commit(false, () => this.applyEntries(ready.committedEntries));
    } else {
      applied = this.commit(durable, () => {
        this.storage.persist(ready.hardState, ready.entries);
        return this.applyEntries(ready.committedEntries);
      });
      this.noteDurable(ready);
      if (!messagesSent) this.options.transport.send(ready.messages);
    }
    this.settleApplied(applied);
    for (const readState of ready.readStates) {
      const waiter = this.readWaiters.get(readState.context);
      this.readWaiters.delete(readState.context);
      waiter?.resolve(readState.index);
    }
    this.noteSoftState(ready.softState);
    raft.advance(ready);
    this.noteQuorumContact();
    this.maybeSnapshot();
  }

  private noteDurable(ready: Ready): void {
    if (ready.hardState !== null) this.durableTermVote = { term: ready.hardState.term, vote: ready.hardState.vote };
  }

  private failReplication(error: unknown): never {
    // Storage failing or a committed entry that cannot be applied: continuing would diverge.
    this.options.logger.fatal({ err: errorMessage(error) }, "replication cannot continue");
    process.exitCode = 70;
    throw error;
  }

  /**
   * Whether a Ready carries something Raft needs on disk before its messages go out: log entries,
   * or a new term or vote. A Ready that only applies committed entries (and moves the commit index)
   * does not: those entries are already durable in the log, applying them again after a crash gives
   * the same state, and the commit index is relearned from the leader.
   */
  private mustReachDisk(ready: { hardState: HardState | null; entries: readonly Entry[] }): boolean {
    if (ready.entries.length > 0) return true;
    const hardState = ready.hardState;
    return hardState !== null && (hardState.term !== this.durableTermVote.term || hardState.vote !== this.durableTermVote.vote);
  }

  /**
   * Runs `write` in one transaction. When it need not reach the disk, its commit skips the fsync
   * (synchronous=NORMAL for that transaction only): in WAL mode it stays atomic, and any later
   * fsynced commit makes it durable too, so a crash can only lose a suffix of such apply-only
   * transactions, never reorder them. An apply-only Ready was one of two fsyncs per write on the
   * leader's commit path (bench/replication: 5 ms per serial write, ~1 ms of it in COMMIT).
   */
  private commit<T>(durable: boolean, write: () => T): T {
    const relaxed = !durable && this.synchronousLevel > synchronousNormal;
    if (relaxed) this.relaxSynchronous.run();
    try {
      return this.inTransaction(write) as T;
    } finally {
      if (relaxed) this.restoreSynchronous.run();
    }
  }

  private applyEntries(entries: readonly Entry[]): AppliedEntry[] {
    const applied: AppliedEntry[] = [];
    for (const entry of entries) {
      let notices: AppliedNotice[] = [];
      if (entry.kind === EntryKind.configurationChange) {
        this.stateMachine.applyMembershipChange(entry.index, decodeConfChange(entry.data));
      } else if (entry.data.byteLength > 0) {
        notices = this.stateMachine.applyEntry(entry.index, decodeEntry(entry.data));
      }
      applied.push({ index: entry.index, term: entry.term, notices });
    }
    if (entries.length > 0) this.stateMachine.setAppliedIndex(entries.at(-1)!.index);
    return applied;
  }

  private settleApplied(applied: AppliedEntry[]): void {
    if (applied.length === 0) return;
    const all: AppliedNotice[] = [];
    for (const entry of applied) {
      this.recentNotices.set(entry.index, { term: entry.term, notices: entry.notices });
      if (this.recentNotices.size >= recentNoticesMax) {
        this.olderNotices = this.recentNotices;
        this.recentNotices = new Map();
      }
      const waiter = this.proposals.get(entry.index);
      if (waiter !== undefined) {
        this.proposals.delete(entry.index);
        if (waiter.term === entry.term) waiter.resolve(entry);
        else waiter.reject(new ProposalDroppedError(`entry ${entry.index} was replaced by term ${entry.term}'s before it committed`));
      }
      all.push(...entry.notices);
    }
    this.appliedSinceSnapshot += applied.length;
    if (all.length > 0) for (const listener of this.appliedListeners) listener(all);
    const appliedIndex = applied.at(-1)!.index;
    const ready = this.appliedWaiters.filter((waiter) => waiter.index <= appliedIndex);
    this.appliedWaiters = this.appliedWaiters.filter((waiter) => waiter.index > appliedIndex);
    for (const waiter of ready) {
      waiter.cancelTimeout();
      waiter.resolve();
    }
  }

  private noteSoftState(softState: SoftState): void {
    const previous = this.softState;
    this.softState = softState;
    if (previous.role === softState.role && previous.leader === softState.leader) return;
    this.options.logger.info({ role: softState.role, leader: softState.leader, term: this.currentTerm() }, `raft: ${previous.role} => ${softState.role}`);
    if (softState.role === Role.leader && previous.role !== Role.leader) {
      this.lastQuorumContactTick = -1;
      this.noteQuorumContact();
      for (const listener of this.leadershipListeners) listener({ leader: true, term: this.currentTerm() });
    }
    if (previous.role === Role.leader && softState.role !== Role.leader) {
      this.failProposals(new NotLeaderError(this.leaderAddress()));
      for (const listener of this.leadershipListeners) listener({ leader: false, term: this.currentTerm() });
    }
  }

  private failProposals(error: Error): void {
    for (const waiter of this.proposals.values()) waiter.reject(error);
    this.proposals.clear();
  }

  // ---------------------------------------------------------------------------------------------
  // Snapshots
  // ---------------------------------------------------------------------------------------------

  private maybeSnapshot(): void {
    if (this.appliedSinceSnapshot < (this.options.snapshotEveryEntries ?? 10_000)) return;
    this.takeSnapshot();
  }

  /** Snapshots the applied state (a consistent SQLite image) and compacts the log behind it. */
  takeSnapshot(): void {
    const appliedIndex = this.stateMachine.reader.appliedIndex();
    if (appliedIndex === 0) return;
    const metadata = this.core().trySnapshotMetadataAt(appliedIndex);
    // Not snapshottable right now (a snapshot from the leader is being installed): try next time.
    if (metadata === null) return;
    const image = this.db.serialize();
    this.db.transaction(() => this.storage.recordSnapshot(metadata, new Uint8Array(image.buffer, image.byteOffset, image.byteLength)))();
    this.storage.compact(Math.max(0, appliedIndex - (this.options.retainedEntries ?? 5_000)));
    this.appliedSinceSnapshot = 0;
    this.options.logger.info({ index: appliedIndex, bytes: image.byteLength, firstIndex: this.storage.firstIndex() }, "snapshot taken; log compacted");
  }

  /** Restores the replicated tables from a leader's image and replaces the log, in one transaction. */
  private installSnapshot(snapshot: Snapshot): void {
    const path = join(this.options.dataDir, `snapshot-${(this.options.uniqueId ?? randomUUID)()}.db`);
    writeFileSync(path, snapshot.data);
    try {
      this.db.prepare("ATTACH DATABASE ? AS incoming").run(path);
      try {
        this.db.transaction(() => {
          for (const table of replicatedTables) {
            this.db.prepare(`DELETE FROM main.${table}`).run();
            this.db.prepare(`INSERT INTO main.${table} SELECT * FROM incoming.${table}`).run();
          }
          this.storage.installSnapshot(snapshot);
          this.stateMachine.setAppliedIndex(snapshot.metadata.index);
        })();
      } finally {
        this.db.prepare("DETACH DATABASE incoming").run();
      }
    } finally {
      unlinkSync(path);
    }
    this.options.logger.info({ index: snapshot.metadata.index, bytes: snapshot.data.byteLength }, "installed a snapshot from the leader");
  }

  // ---------------------------------------------------------------------------------------------
  // ReplicatedLog
  // ---------------------------------------------------------------------------------------------

  currentTerm(): number {
    return this.raft === null ? 0 : this.raft.status().term;
  }

  isLeader(): boolean {
    return !this.closed && this.softState.role === Role.leader;
  }

  leaderId(): string | null {
    return this.softState.leader;
  }

  private leaderAddress(): string | null {
    const leader = this.softState.leader;
    return leader === null ? null : (this.stateMachine.reader.memberAddresses().get(leader) ?? null);
  }

  propose(command: StateCommand): Promise<AppliedNotice[]> {
    if (this.closed) return Promise.reject(new LogClosedError("the replica is stopping"));
    if (this.isLeader()) return this.proposeOnLeader(command).then((result) => result.notices);
    return this.forward(command);
  }

  private proposeOnLeader(command: StateCommand): Promise<{ index: number; term: number; notices: AppliedNotice[] }> {
    const term = this.currentTerm();
    const data = encodeEntry({ atMs: this.options.clock.nowMs(), term, replicaId: this.replicaId, command });
    const outcome = this.core().propose(data);
    if (!outcome.accepted) {
      return Promise.reject(outcome.reason === "not-leader" ? new NotLeaderError(this.leaderAddress()) : new NotLeaderError(null));
    }
    this.scheduleReady();
    return new Promise((resolve, reject) => this.proposals.set(outcome.index, { term: outcome.term, resolve, reject }));
  }

  /** A follower forwards the write to the leader, then waits until it is applied here too. */
  private async forward(command: StateCommand): Promise<AppliedNotice[]> {
    const leader = this.softState.leader;
    if (leader === null) throw new NotLeaderError(null);
    let position: { index: number; term: number };
    try {
      position = await this.options.transport.propose(leader, Buffer.from(JSON.stringify(command), "utf8"));
    } catch (error) {
      throw new NotLeaderError(`${this.leaderAddress() ?? "unknown"} (forwarding failed: ${errorMessage(error)})`);
    }
    await this.waitApplied(position.index);
    const applied = this.recentNotices.get(position.index) ?? this.olderNotices.get(position.index);
    if (applied !== undefined && applied.term !== position.term) throw new ProposalDroppedError(`entry ${position.index} was replaced before it reached this replica`);
    return applied?.notices ?? [];
  }

  private waitApplied(index: number): Promise<void> {
    if (this.stateMachine.reader.appliedIndex() >= index) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const cancelTimeout = this.options.timers.after(waitAppliedTimeoutMs, () => {
        this.appliedWaiters = this.appliedWaiters.filter((waiter) => waiter.resolve !== resolve);
        reject(new NotLeaderError(`${this.leaderAddress() ?? "unknown"} (this replica did not catch up to index ${index} within ${waitAppliedTimeoutMs} ms)`));
      });
      this.appliedWaiters.push({ index, resolve, reject, cancelTimeout });
    });
  }

  async readBarrier(): Promise<void> {
    if (this.closed) throw new LogClosedError("the replica is stopping");
    const context = (this.options.uniqueId ?? randomUUID)();
    const outcome = this.core().readIndex(context);
    if (!outcome.accepted) throw new NotLeaderError(this.leaderAddress());
    this.scheduleReady();
    const index = await new Promise<number>((resolve, reject) => {
      const cancelTimeout = this.options.timers.after(readTimeoutMs, () => {
        this.readWaiters.delete(context);
        reject(new NotLeaderError(`${this.leaderAddress() ?? "unknown"} (no read confirmation within ${readTimeoutMs} ms)`));
      });
      this.readWaiters.set(context, {
        resolve: (value) => {
          cancelTimeout();
          resolve(value);
        },
        reject,
      });
    });
    await this.waitApplied(index);
  }

  status(): ReplicationStatus {
    const addresses = this.stateMachine.reader.memberAddresses();
    if (this.raft === null) {
      // Not started yet: what the data dir says, with every role unknown.
      const members = [...addresses].map(([id, address]) => ({ id, address, role: "unknown" as const, healthy: false, commitIndex: 0, appliedIndex: 0 }));
      return { term: this.storage.initialState().hardState.term, leaderId: null, leaderAddress: null, members };
    }
    const status = this.raft.status();
    const appliedIndex = this.stateMachine.reader.appliedIndex();
    const peers = new Map((status.peers ?? []).map((peer) => [peer.id as string, peer]));
    const members: MemberStatus[] = status.voters.map((id) => {
      if (id === this.replicaId) return { id, address: addresses.get(id) ?? "", role: status.role, healthy: true, commitIndex: status.commitIndex, appliedIndex };
      const peer = peers.get(id);
      const role = id === status.leader ? "leader" : status.leader === null ? "unknown" : "follower";
      const healthy = peer === undefined ? id === status.leader : status.currentTick - peer.lastContactTick < this.timing.electionTimeoutTicks;
      return { id, address: addresses.get(id) ?? "", role, healthy, commitIndex: peer?.matchIndex ?? 0, appliedIndex: peer?.matchIndex ?? 0 };
    });
    return { term: status.term, leaderId: status.leader, leaderAddress: this.leaderAddress(), members };
  }

  async transferLeadership(to: string): Promise<void> {
    if (!this.isLeader()) throw new NotLeaderError(this.leaderAddress());
    const outcome = this.core().transferLeadership(replicaId(to));
    if (!outcome.accepted) throw new TransferFailedError(`leadership transfer to ${to} refused: ${outcome.detail}`);
    this.scheduleReady();
    // The core aborts a transfer that takes longer than an election timeout; wait a little beyond.
    const boundMs = 3 * this.timing.electionTimeoutTicks * this.timing.tickMs;
    await new Promise<void>((resolve, reject) => {
      const unsubscribe = this.onLeadershipChange((change) => {
        if (change.leader) return;
        unsubscribe();
        cancel();
        resolve();
      });
      const cancel = this.options.timers.after(boundMs, () => {
        unsubscribe();
        reject(new TransferFailedError(`${to} did not take leadership within ${boundMs} ms`));
      });
    });
  }

  async changeMembership(change: { kind: "addVoter" | "removeVoter"; replica: string }): Promise<void> {
    if (!this.isLeader()) throw new NotLeaderError(this.leaderAddress());
    const confChange: ConfChange = { kind: change.kind, replica: replicaId(change.replica) };
    const outcome = this.core().proposeConfChange(confChange);
    if (!outcome.accepted) throw new TransferFailedError(`membership change refused: ${outcome.detail}`);
    this.scheduleReady();
    await new Promise<unknown>((resolve, reject) => this.proposals.set(outcome.index, { term: outcome.term, resolve, reject }));
  }

  onApplied(listener: (notices: AppliedNotice[]) => void): () => void {
    this.appliedListeners.add(listener);
    return () => this.appliedListeners.delete(listener);
  }

  onLeadershipChange(listener: (change: LeadershipChange) => void): () => void {
    this.leadershipListeners.add(listener);
    return () => this.leadershipListeners.delete(listener);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.finishSentReady();
    this.processReady();
    this.closed = true;
    this.cancelTick?.();
    this.failProposals(new LogClosedError("the replica is stopping"));
    for (const waiter of this.appliedWaiters) {
      waiter.cancelTimeout();
      waiter.reject(new LogClosedError("the replica is stopping"));
    }
    this.appliedWaiters = [];
    for (const waiter of this.readWaiters.values()) waiter.reject(new LogClosedError("the replica is stopping"));
    this.readWaiters.clear();
    this.options.transport.close();
  }
}

