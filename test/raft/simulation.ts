// Deterministic simulation of the pure Raft core (TigerBeetle VOPR style). One seed fixes
// everything: the swarm of fault options, the network's drops/duplicates/delays/partitions,
// crashes and restarts from persisted state, clock drift, proposals, compaction, membership
// changes, transfers, campaign hints and reads. Phase 1 (safety) injects faults; phase 2
// (liveness) heals everything and must converge. The checkers (sim-checker.ts) run after every
// step. Same seed and options → the same run, byte for byte (see traceHash).
import { AssertionFailed } from "../../common/assert.js";
import { seededRng, type Rng } from "../../common/env.js";
import { Raft } from "../../controlplane/replication/raft.js";
import { ConfChangeKind, bootstrapEntries, type ConfChange } from "../../controlplane/replication/raft-configuration.js";
import { MemoryStorage } from "../../controlplane/replication/raft-memory-storage.js";
import {
  EntryKind,
  replicaId,
  type Entry,
  type InjectedBug,
  type Message,
  type Ready,
  type ReplicaId,
} from "../../controlplane/replication/raft-types.js";
import { InvariantChecker, PrefixLog, SimulationViolation, type AppState, type CheckedReplica } from "./sim-checker.js";
import { Hasher } from "./sim-hash.js";
import { healedFaults, SimNetwork, type NetworkFaults } from "./sim-network.js";

export interface SimulationOptions {
  readonly seed: number;
  /** Founding replicas: 3 or 5. Drawn from the seed when absent. */
  readonly replicaCount?: number;
  readonly safetyTicks?: number;
  /** Healed ticks allowed without any replica applying anything new before liveness fails. */
  readonly livenessStallTicksMax?: number;
  /** Healed ticks allowed in all (slow swarms replicate one entry per round trip). */
  readonly livenessTicksMax?: number;
  readonly injectedBug?: InjectedBug | null;
  /** Receives one line per event (for --verbose replays). */
  readonly log?: (line: string) => void;
}

export interface SimulationFailure {
  readonly invariant: string;
  readonly detail: string;
  readonly step: number;
  readonly tick: number;
  readonly phase: "safety" | "liveness";
}

export interface SimulationResult {
  readonly seed: number;
  readonly failure: SimulationFailure | null;
  /** Hash of every event in order: equal hashes mean identical runs. */
  readonly traceHash: string;
  readonly steps: number;
  readonly ticks: number;
  readonly swarm: Swarm;
  readonly stats: SimulationStats;
}

export interface SimulationStats {
  leaders: number;
  committed: number;
  crashes: number;
  partitions: number;
  snapshotsInstalled: number;
  configurationChanges: number;
  transfers: number;
  reads: number;
}

/** The fault options of one run (swarm testing: each seed draws its own mix). */
export interface Swarm {
  readonly founders: number;
  readonly spareReplica: boolean;
  readonly electionTimeoutTicks: number;
  readonly heartbeatIntervalTicks: number;
  readonly network: NetworkFaults;
  readonly partitionProbability: number;
  readonly partitionTicksMax: number;
  readonly crashProbability: number;
  readonly restartProbability: number;
  readonly crashBeforeSendProbability: number;
  readonly clockDriftProbability: number;
  readonly readyDelayProbability: number;
  readonly proposalProbability: number;
  readonly compactionProbability: number;
  readonly configurationChangeProbability: number;
  readonly transferProbability: number;
  readonly campaignHintProbability: number;
  readonly readProbability: number;
  readonly inflightMessagesMax: number;
  readonly appendBytesMax: number;
}

export const defaultSafetyTicks = 250;
export const defaultLivenessStallTicksMax = 300;
export const defaultLivenessTicksMax = 4000;
const livenessPayloads = 3;

interface SimReplica extends CheckedReplica {
  readonly id: ReplicaId;
  raft: Raft | null;
  readonly storage: MemoryStorage;
  readonly prefix: PrefixLog;
  app: AppState;
}

function pick<T>(rng: Rng, choices: readonly T[]): T {
  return choices[Math.floor(rng.next() * choices.length)]!;
}

function drawSwarm(rng: Rng, replicaCount: number | undefined): Swarm {
  const [electionTimeoutTicks, heartbeatIntervalTicks] = pick(rng, [[10, 1], [10, 3], [6, 2]] as const);
  return {
    founders: replicaCount ?? pick(rng, [3, 5]),
    spareReplica: rng.next() < 0.5,
    electionTimeoutTicks,
    heartbeatIntervalTicks,
    network: {
      dropProbability: pick(rng, [0, 0.02, 0.1, 0.3]),
      duplicateProbability: pick(rng, [0, 0.02, 0.1]),
      delayTicksMax: pick(rng, [0, 1, 3, 8]),
    },
    partitionProbability: pick(rng, [0, 0.02, 0.06, 0.15, 0.4]),
    partitionTicksMax: pick(rng, [1, 2, 4]) * electionTimeoutTicks,
    crashProbability: pick(rng, [0, 0.01, 0.03, 0.08]),
    restartProbability: pick(rng, [0.05, 0.1, 0.3]),
    crashBeforeSendProbability: pick(rng, [0, 0.001, 0.004]),
    clockDriftProbability: pick(rng, [0, 0.05, 0.2]),
    readyDelayProbability: pick(rng, [0, 0.2, 0.6]),
    proposalProbability: pick(rng, [0.1, 0.4, 0.9]),
    compactionProbability: pick(rng, [0, 0.05, 0.3]),
    configurationChangeProbability: pick(rng, [0, 0.02, 0.08]),
    transferProbability: pick(rng, [0, 0.005, 0.03, 0.08]),
    campaignHintProbability: pick(rng, [0, 0.01, 0.05, 0.15]),
    readProbability: pick(rng, [0, 0.05, 0.2]),
    inflightMessagesMax: pick(rng, [1, 4, 256]),
    appendBytesMax: pick(rng, [1, 64, 1024 * 1024]),
  };
}

const textEncoder = new TextEncoder();
const textDecoder = new TextDecoder();

class Simulation {
  private readonly rng: Rng;
  readonly swarm: Swarm;
  private readonly network: SimNetwork;
  private readonly checker = new InvariantChecker();
  private readonly replicas: SimReplica[] = [];
  private tickNow = 0;
  private step = 0;
  private phase: "safety" | "liveness" = "safety";
  private trace: number;
  private proposalCount = 0;
  private readCount = 0;
  readonly stats: SimulationStats = {
    leaders: 0,
    committed: 0,
    crashes: 0,
    partitions: 0,
    snapshotsInstalled: 0,
    configurationChanges: 0,
    transfers: 0,
    reads: 0,
  };

  constructor(private readonly options: SimulationOptions) {
    this.rng = seededRng(options.seed);
    this.trace = new Hasher(options.seed).digest();
    this.swarm = drawSwarm(this.rng, options.replicaCount);
    this.network = new SimNetwork(this.rng, this.swarm.network);
    const founders = Array.from({ length: this.swarm.founders }, (_, position) => replicaId(`r${position + 1}`));
    for (const id of founders) this.replicas.push(this.foundingReplica(id, founders));
    if (this.swarm.spareReplica) this.replicas.push(this.emptyReplica(replicaId(`r${founders.length + 1}`)));
    for (const replica of this.replicas) this.restart(replica);
    this.record(`swarm ${JSON.stringify(this.swarm)}`);
  }

  run(): SimulationResult {
    let failure: SimulationFailure | null = null;
    try {
      this.runSafetyPhase();
      this.runLivenessPhase();
    } catch (error) {
      failure = this.describeFailure(error);
    }
    this.stats.leaders = this.checker.leadersSeen;
    this.stats.committed = this.checker.globalCommitIndex;
    return {
      seed: this.options.seed,
      failure,
      traceHash: this.trace.toString(16).padStart(14, "0"),
      steps: this.step,
      ticks: this.tickNow,
      swarm: this.swarm,
      stats: this.stats,
    };
  }

  // ---- phases ----

  private runSafetyPhase(): void {
    const ticks = this.options.safetyTicks ?? defaultSafetyTicks;
    for (let round = 0; round < ticks; round += 1) {
      this.tickNow += 1;
      this.injectFaults();
      this.clientOperations();
      this.tickReplicas(this.swarm.clockDriftProbability);
      this.deliverDue();
      this.processPendingReadies(this.swarm.readyDelayProbability);
    }
  }

  private runLivenessPhase(): void {
    this.phase = "liveness";
    this.network.heal();
    this.network.faults = healedFaults;
    for (const replica of this.replicas) if (replica.raft === null) this.restart(replica);
    this.record("healed: network whole, all replicas up");
    const payloads = Array.from({ length: livenessPayloads }, (_, position) => `live-${position + 1}`);
    const retryTicks = 2 * this.swarm.electionTimeoutTicks;
    const stallTicksMax = this.options.livenessStallTicksMax ?? defaultLivenessStallTicksMax;
    const deadline = this.tickNow + (this.options.livenessTicksMax ?? defaultLivenessTicksMax);
    let progress = this.appliedTotal();
    let progressTick = this.tickNow;
    while (this.tickNow < deadline && this.tickNow - progressTick < stallTicksMax) {
      this.tickNow += 1;
      if (this.tickNow % retryTicks === 1) this.proposeMissing(payloads);
      this.tickReplicas(0);
      this.deliverDue();
      this.processPendingReadies(0);
      if (this.converged(payloads)) {
        this.record("converged");
        return;
      }
      if (this.appliedTotal() > progress) {
        progress = this.appliedTotal();
        progressTick = this.tickNow;
      }
    }
    const why = this.tickNow < deadline ? `nothing applied for ${stallTicksMax} healed ticks` : `not converged after ${deadline} ticks`;
    throw new SimulationViolation("liveness", `${why}: ${this.describeState()}`);
  }

  /** Liveness progress: everything applied anywhere. */
  private appliedTotal(): number {
    let total = 0;
    for (const replica of this.replicas) total += replica.app.appliedIndex;
    return total;
  }

  private proposeMissing(payloads: readonly string[]): void {
    const leader = this.newestLeader();
    if (leader === null) return;
    for (const payload of payloads) {
      if (this.checker.appliedPayloads.has(payload)) continue;
      const outcome = leader.raft!.propose(textEncoder.encode(payload));
      this.record(`propose ${leader.id} ${payload} ${outcome.accepted ? "accepted" : outcome.reason}`);
    }
    this.afterEvent(leader);
  }

  /** A leader of the highest term, every healed payload applied, every voter caught up. */
  private converged(payloads: readonly string[]): boolean {
    const leader = this.newestLeader();
    if (leader === null) return false;
    for (const payload of payloads) if (!this.checker.appliedPayloads.has(payload)) return false;
    const status = leader.raft!.status();
    if (status.commitIndex !== status.lastIndex) return false;
    for (const voter of status.voters) {
      const replica = this.replicaById(voter);
      if (replica.app.appliedIndex !== status.commitIndex) return false;
    }
    return true;
  }

  // ---- faults and client operations (safety phase) ----

  private injectFaults(): void {
    if (this.network.partitioned() && this.tickNow >= this.network.partitionEndsAtTick) {
      this.network.heal();
      this.record("partition healed");
    }
    if (!this.network.partitioned() && this.chance(this.swarm.partitionProbability)) this.startPartition();
    if (this.chance(this.swarm.crashProbability)) {
      const victim = this.randomUp();
      if (victim !== null) this.crash(victim, "crash");
    }
    for (const replica of this.replicas) {
      if (replica.raft === null && this.chance(this.swarm.restartProbability)) this.restart(replica);
    }
  }

  private startPartition(): void {
    const groups = new Map<ReplicaId, number>();
    const shape = this.rng.next();
    // Like Jepsen's partition-leader nemesis: most isolations cut off the current leader.
    const leader = this.randomLeader();
    const isolated = leader !== null && this.rng.next() < 0.7 ? leader.id : pick(this.rng, this.replicas).id;
    for (const replica of this.replicas) {
      // Either one replica alone, or a random split into two sides.
      const group = shape < 0.4 ? (replica.id === isolated ? 1 : 0) : this.rng.next() < 0.5 ? 1 : 0;
      groups.set(replica.id, group);
    }
    const durationTicks = 2 + Math.floor(this.rng.next() * this.swarm.partitionTicksMax);
    this.network.partition(groups, this.tickNow + durationTicks);
    this.stats.partitions += 1;
    this.record(`partition ${this.network.describePartition()} for ${durationTicks} ticks`);
  }

  private clientOperations(): void {
    if (this.chance(this.swarm.proposalProbability)) this.proposeOne();
    if (this.chance(this.swarm.configurationChangeProbability)) this.changeMembership();
    if (this.chance(this.swarm.transferProbability)) this.transferLeadership();
    if (this.chance(this.swarm.compactionProbability)) this.compactOne();
    if (this.chance(this.swarm.campaignHintProbability)) this.campaignHint();
    if (this.chance(this.swarm.readProbability)) this.readOne();
  }

  private proposeOne(): void {
    const leader = this.randomLeader();
    if (leader === null) return;
    this.proposalCount += 1;
    const payload = `p${this.proposalCount}`;
    const outcome = leader.raft!.propose(textEncoder.encode(payload));
    this.record(`propose ${leader.id} ${payload} ${outcome.accepted ? `at ${outcome.index}` : outcome.reason}`);
    this.afterEvent(leader);
  }

  private changeMembership(): void {
    const leader = this.randomLeader();
    if (leader === null) return;
    const voters = leader.raft!.status().voters;
    const everyone = this.replicas.map((replica) => replica.id);
    const absent = everyone.filter((id) => !voters.includes(id));
    const canRemove = voters.length >= this.swarm.founders;
    const remove = canRemove && (absent.length === 0 || this.rng.next() < 0.5);
    const change: ConfChange = remove
      ? { kind: ConfChangeKind.removeVoter, replica: pick(this.rng, voters) }
      : { kind: ConfChangeKind.addVoter, replica: pick(this.rng, absent) };
    if (!remove && absent.length === 0) return;
    const outcome = leader.raft!.proposeConfChange(change);
    if (outcome.accepted) this.stats.configurationChanges += 1;
    this.record(`membership ${leader.id} ${change.kind} ${change.replica} ${outcome.accepted ? `at ${outcome.index}` : outcome.reason}`);
    this.afterEvent(leader);
  }

  private transferLeadership(): void {
    const leader = this.randomLeader();
    if (leader === null) return;
    const others = leader.raft!.status().voters.filter((id) => id !== leader.id);
    if (others.length === 0) return;
    const target = pick(this.rng, others);
    const outcome = leader.raft!.transferLeadership(target);
    if (outcome.accepted) this.stats.transfers += 1;
    this.record(`transfer ${leader.id} -> ${target} ${outcome.accepted ? "started" : outcome.reason}`);
    this.afterEvent(leader);
  }

  private compactOne(): void {
    const replica = this.randomUp();
    if (replica === null) return;
    const appliedIndex = replica.app.appliedIndex;
    if (appliedIndex <= replica.storage.snapshot().metadata.index + 2) return;
    const metadata = replica.raft!.trySnapshotMetadataAt(appliedIndex);
    if (metadata === null) return;
    const entriesKept = Math.floor(this.rng.next() * 4);
    replica.storage.createSnapshot({ index: metadata.index, confState: metadata.confState, data: encodeApp(replica.app), entriesKept });
    replica.prefix.compactTo(replica.storage.firstIndex() - 1);
    this.record(`compact ${replica.id} snapshot at ${metadata.index}, log from ${replica.storage.firstIndex()}`);
  }

  private campaignHint(): void {
    const replica = this.randomUp();
    if (replica === null) return;
    const outcome = replica.raft!.campaignNow();
    this.record(`campaign hint ${replica.id} ${outcome.accepted ? "pre-vote started" : outcome.reason}`);
    this.afterEvent(replica);
  }

  private readOne(): void {
    const replica = this.randomUp();
    if (replica === null) return;
    this.readCount += 1;
    const context = `${replica.id}#${this.readCount}`;
    this.checker.readBegun(context);
    const outcome = replica.raft!.readIndex(context);
    if (outcome.accepted) this.stats.reads += 1;
    this.record(`read ${context} ${outcome.accepted ? "asked" : outcome.reason}`);
    this.afterEvent(replica);
  }

  // ---- ticks, delivery, Ready ----

  private tickReplicas(driftProbability: number): void {
    for (const replica of this.replicas) {
      if (replica.raft === null) continue;
      // Clock drift: a replica's ticker sometimes skips a beat or fires twice.
      let ticks = 1;
      if (this.chance(driftProbability)) ticks = this.rng.next() < 0.5 ? 0 : 2;
      for (let count = 0; count < ticks; count += 1) {
        if (replica.raft === null) break; // crashed while doing the previous tick's Ready
        replica.raft.tick();
        this.afterEvent(replica);
      }
    }
  }

  private deliverDue(): void {
    for (const message of this.network.takeDue(this.tickNow)) {
      const target = this.replicas.find((replica) => replica.id === message.to);
      if (target === undefined || target.raft === null) continue;
      if (!this.network.connected(message.from, message.to)) continue;
      const outcome = target.raft.step(message);
      this.recordDelivery(message);
      if (this.options.log !== undefined) {
        this.options.log(`[tick ${this.tickNow} step ${this.step}] deliver ${describeMessage(message)}${outcome.accepted ? "" : ` rejected ${outcome.reason}`}`);
      }
      this.afterEvent(target);
    }
  }

  /** After every step: check, then (usually) do the Ready duties at once. */
  private afterEvent(replica: SimReplica): void {
    this.step += 1;
    this.observe(replica);
    if (!this.chance(this.phase === "liveness" ? 0 : this.swarm.readyDelayProbability)) this.processReady(replica);
  }

  private observe(replica: SimReplica): void {
    const raft = replica.raft;
    if (raft === null || raft.softState().role !== "leader") return;
    this.checker.observeLeader(replica.id, raft.hardState().term, raft);
  }

  private processPendingReadies(delayProbability: number): void {
    for (const replica of this.replicas) {
      if (replica.raft !== null && !this.chance(delayProbability)) this.processReady(replica);
    }
  }

  private processReady(replica: SimReplica): void {
    const raft = replica.raft;
    if (raft === null || !raft.hasReady()) return;
    const ready = raft.ready();
    this.persist(replica, ready);
    if (this.phase === "safety" && this.chance(this.swarm.crashBeforeSendProbability)) {
      this.crash(replica, "crash after persisting, before sending");
      return;
    }
    for (const message of ready.messages) this.network.send(message, this.tickNow);
    for (const entry of ready.committedEntries) this.apply(replica, entry);
    for (const readState of ready.readStates) this.checker.readAnswered(replica.id, readState.context, readState.index);
    raft.advance(ready);
  }

  /** Ready duty 1, in order: snapshot (with the state machine it carries), entries, hard state. */
  private persist(replica: SimReplica, ready: Ready): void {
    if (ready.snapshot !== null) {
      replica.storage.applySnapshot(ready.snapshot);
      this.checker.persistSnapshot(replica, ready.snapshot);
      this.checker.restoreApp(replica, decodeApp(ready.snapshot.data));
      this.stats.snapshotsInstalled += 1;
      this.record(`install snapshot ${replica.id} at ${ready.snapshot.metadata.index}`);
    }
    if (ready.entries.length > 0) {
      replica.storage.append(ready.entries);
      this.checker.persistEntries(replica, ready.entries);
    }
    if (ready.hardState !== null) {
      replica.storage.setHardState(ready.hardState);
      this.checker.persistCommit(replica, ready.hardState.commitIndex, ready.hardState.term);
    }
  }

  private apply(replica: SimReplica, entry: Entry): void {
    const payload = entry.kind === EntryKind.normal && entry.data.byteLength > 0 ? textDecoder.decode(entry.data) : null;
    this.checker.apply(replica, entry, payload);
  }

  // ---- crashes and restarts ----

  private crash(replica: SimReplica, how: string): void {
    replica.raft = null;
    this.stats.crashes += 1;
    this.record(`${how} ${replica.id}`);
  }

  /** A fresh core over what was persisted; the state machine resumes at its applied index. */
  private restart(replica: SimReplica): void {
    replica.raft = new Raft({
      id: replica.id,
      storage: replica.storage,
      rng: seededRng(Math.floor(this.rng.next() * 4294967296)),
      electionTimeoutTicks: this.swarm.electionTimeoutTicks,
      heartbeatIntervalTicks: this.swarm.heartbeatIntervalTicks,
      appliedIndex: replica.app.appliedIndex,
      limits: { inflightMessagesMax: this.swarm.inflightMessagesMax, appendBytesMax: this.swarm.appendBytesMax },
      injectedBug: this.options.injectedBug ?? null,
    });
    this.record(`start ${replica.id} term ${replica.storage.hardState().term} log ${replica.storage.firstIndex()}..${replica.storage.lastIndex()} applied ${replica.app.appliedIndex}`);
  }

  private foundingReplica(id: ReplicaId, founders: readonly ReplicaId[]): SimReplica {
    const replica: SimReplica = { id, raft: null, storage: MemoryStorage.bootstrap(founders), prefix: new PrefixLog(), app: { appliedIndex: 0, chain: 0 } };
    this.checker.persistEntries(replica, bootstrapEntries(founders));
    this.checker.persistCommit(replica, founders.length, 1);
    return replica;
  }

  private emptyReplica(id: ReplicaId): SimReplica {
    return { id, raft: null, storage: new MemoryStorage(), prefix: new PrefixLog(), app: { appliedIndex: 0, chain: 0 } };
  }

  // ---- helpers ----

  private chance(probability: number): boolean {
    if (probability <= 0) return false;
    return this.rng.next() < probability;
  }

  private randomUp(): SimReplica | null {
    const up = this.replicas.filter((replica) => replica.raft !== null);
    return up.length === 0 ? null : pick(this.rng, up);
  }

  private randomLeader(): SimReplica | null {
    const leaders = this.replicas.filter((replica) => replica.raft !== null && replica.raft.softState().role === "leader");
    return leaders.length === 0 ? null : pick(this.rng, leaders);
  }

  private newestLeader(): SimReplica | null {
    let newest: SimReplica | null = null;
    let newestTerm = -1;
    for (const replica of this.replicas) {
      if (replica.raft === null || replica.raft.softState().role !== "leader") continue;
      const term = replica.raft.hardState().term;
      if (term > newestTerm) {
        newest = replica;
        newestTerm = term;
      }
    }
    return newest;
  }

  private replicaById(id: ReplicaId): SimReplica {
    const replica = this.replicas.find((candidate) => candidate.id === id);
    if (replica === undefined) throw new Error(`simulator: no replica ${id}`);
    return replica;
  }

  private record(line: string): void {
    this.trace = new Hasher(this.trace).text(line).digest();
    this.options.log?.(`[tick ${this.tickNow} step ${this.step}] ${line}`);
  }

  /** Folds a delivery into the trace without building a string (the hot path). */
  private recordDelivery(message: Message): void {
    this.trace = new Hasher(this.trace).text(message.type).text(message.from).text(message.to).number(message.term).digest();
  }

  private describeState(): string {
    return this.replicas
      .map((replica) => {
        if (replica.raft === null) return `${replica.id}:down`;
        const status = replica.raft.status();
        return `${replica.id}:${status.role}/t${status.term}/c${status.commitIndex}/a${replica.app.appliedIndex}/l${status.lastIndex}/v[${status.voters.join(",")}]`;
      })
      .join(" ");
  }

  private describeFailure(error: unknown): SimulationFailure {
    const base = { step: this.step, tick: this.tickNow, phase: this.phase };
    if (error instanceof SimulationViolation) return { ...base, invariant: error.invariant, detail: error.detail };
    if (error instanceof AssertionFailed) return { ...base, invariant: "core assertion", detail: error.message };
    const detail = error instanceof Error ? `${error.name}: ${error.message}\n${error.stack ?? ""}` : String(error);
    return { ...base, invariant: "simulator error", detail };
  }
}

function encodeApp(app: AppState): Uint8Array {
  return textEncoder.encode(JSON.stringify(app));
}

function decodeApp(data: Uint8Array): AppState {
  return JSON.parse(textDecoder.decode(data)) as AppState;
}

function describeMessage(message: Message): string {
  const head = `${message.from}->${message.to} ${message.type} t${message.term}`;
  switch (message.type) {
    case "append":
      return `${head} prev=(${message.previousIndex},${message.previousTerm}) entries=${message.entries.length} commit=${message.commitIndex}`;
    case "appendResponse":
      return `${head} index=${message.index}${message.reject ? ` reject hint=(${message.rejectHintIndex},${message.rejectHintTerm})` : ""}`;
    case "heartbeat":
      return `${head} commit=${message.commitIndex}`;
    case "vote":
    case "preVote":
      return `${head} last=(${message.lastLogIndex},${message.lastLogTerm})${message.transfer ? " transfer" : ""}`;
    case "voteResponse":
    case "preVoteResponse":
      return `${head} ${message.reject ? "rejected" : "granted"}`;
    case "installSnapshot":
      return `${head} at (${message.snapshot.metadata.index},${message.snapshot.metadata.term})`;
    default:
      return head;
  }
}

export function runSimulation(options: SimulationOptions): SimulationResult {
  return new Simulation(options).run();
}

/** The one command that replays a run exactly. */
export function replayCommand(options: { seed: number; replicaCount?: number; injectedBug?: InjectedBug | null }): string {
  const parts = ["node dist/test/raft/sim-cli.js --replay", String(options.seed)];
  if (options.replicaCount !== undefined) parts.push("--replicas", String(options.replicaCount));
  if (options.injectedBug) parts.push("--bug", options.injectedBug);
  parts.push("--verbose");
  return parts.join(" ");
}
