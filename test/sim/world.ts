// The simulated cluster: replicas, agents, hosts, the network and the operator on one virtual
// clock, driven by one seed. Scenarios and the random mode act on it through the methods below;
// the checkers run after every event.
//
// The run loop executes one event, then lets every promise it settled run (a macrotask boundary,
// setImmediate, flushes the microtask queue) before the next event, as Node does between timers
// and socket reads. Production code sees no real time, no real network and no real randomness,
// so the same seed gives the same run, byte for byte (Trace.hash).
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { RecoveryReport } from "../../agent/job-tracker.js";
import type { AgentConnection } from "../../agent/stream.js";
import type { Command, Command__Output } from "../../common/generated/vigil/v1/Command.js";
import { seededRng, type Rng } from "../../common/env.js";
import type { DutyGate } from "../../controlplane/primary/duty-gate.js";
import type { PrimaryTracker } from "../../controlplane/primary/primary-tracker.js";
import type { RaftReplica } from "../../controlplane/replication/raft-replica.js";
import type { StateReader } from "../../controlplane/state/store.js";
import { Hasher } from "../raft/sim-hash.js";
import { AgentNode } from "./agent-node.js";
import { AgentStreamPair, type ChannelObserver } from "./agent-channel.js";
import type { SimBug } from "./bugs.js";
import type { ClusterSpec } from "./cluster-spec.js";
import { SimFenceDevice } from "./fence.js";
import { uuidOf, type HostObserver, type SimHost } from "./hypervisor.js";
import { Checker, stateCheckIntervalMs, Violation, type CheckedAgent, type CheckedReplica } from "./invariants.js";
import { MigrationChecker } from "./job-invariants.js";
import { listJobs } from "./jobs.js";
import { Network } from "./network.js";
import { Operator } from "./operator.js";
import { ReplicaNode } from "./replica-node.js";
import { Scheduler } from "./scheduler.js";
import { Trace } from "./trace.js";

export interface WorldOptions {
  spec: ClusterSpec;
  seed: number;
  bugs?: ReadonlySet<SimBug>;
}

/** Where and when a run failed: the invariant, the event number and the simulated time. */
export interface Failure {
  invariant: string;
  detail: string;
  event: number;
  atMs: number;
}

/** A replica's production objects the simulator watches. */
interface Watched {
  replica: RaftReplica;
  duties: DutyGate;
  primary: PrimaryTracker;
}

const flushMicrotasks = () => new Promise<void>((resolve) => setImmediate(resolve));

export class World {
  readonly scheduler = new Scheduler();
  readonly network: Network;
  readonly trace: Trace;
  readonly checker = new Checker();
  /** Ownership moves per migration and job bounds (job-invariants.ts). */
  readonly migrations = new MigrationChecker();
  readonly operator: Operator;
  readonly bugs: ReadonlySet<SimBug>;
  readonly dataRoot: string;
  /** Drives the random choices of the world itself (faults, actions); processes get their own streams. */
  readonly rng: Rng;
  readonly replicas = new Map<string, ReplicaNode>();
  readonly agents = new Map<string, AgentNode>();
  readonly fences = new Map<string, SimFenceDevice>();
  failure: Failure | null = null;
  /** What the run exercised, besides the checker's counts. */
  readonly counts = { replicaKills: 0, agentKills: 0, snapshotsReceived: 0, partitions: 0 };
  private readonly watched = new Map<string, Watched>();
  private printedLogIndex = 0;
  private nextStateCheckMs = stateCheckIntervalMs;
  /** Per host: the stream the agent dials now, and scripted losses on it. */
  private readonly streams = new Map<string, AgentStreamPair>();
  private readonly loseNextAck = new Set<string>();
  private injectedCommands = 0;
  /** Simulated time during which some replica could command agents (jobs' bounds run only then). */
  private primaryTimeMs = 0;
  private primarySample: { atMs: number; commanding: boolean } = { atMs: 0, commanding: false };
  /** The job audit in flight (JobService.List answers within the event's microtasks). */
  private pendingAudit: Promise<void> | null = null;

  constructor(readonly options: WorldOptions) {
    this.bugs = options.bugs ?? new Set();
    this.rng = seededRng(this.seedFor("world"));
    this.trace = new Trace(options.seed, () => this.scheduler.nowMs);
    this.network = new Network(this.scheduler, seededRng(this.seedFor("network")));
    const { spec } = options;
    this.network.faults = { ...spec.network };
    this.dataRoot = mkdtempSync(join(tmpdir(), "vigil-sim-"));
    this.operator = new Operator(this);
    for (const id of spec.replicas) this.replicas.set(id, new ReplicaNode(this, id, spec));
    for (const host of spec.hosts) {
      const agent = new AgentNode(this, host);
      this.agents.set(host.id, agent);
      for (const vm of host.vms) {
        agent.host.define({ name: vm.name, uuid: uuidOf(vm.name), state: vm.state, reason: vm.state === "running" ? "booted" : vm.state === "paused" ? "user" : "unknown", vcpus: vm.vcpus, memoryBytes: vm.memoryBytes, persistent: true, disks: [] });
      }
      this.fences.set(
        host.id,
        new SimFenceDevice({
          host: agent.host,
          powerDown: (hostId) => this.powerOff(hostId),
          forbidden: (hostId) => this.fencingForbidden(hostId),
          record: (record, forbidden) => {
            this.trace.line("sim", `fence device of ${record.hostId}: power off (${record.outcome})`);
            this.note(() => this.checker.fenced(record, forbidden));
          },
          sleep: (ms) => new Promise((resolve) => this.scheduler.after(ms, null, `fence device of ${host.id}`, () => resolve())),
        }),
      );
    }
    if (spec.sharedDefinitions) {
      // One definition cluster-wide on shared storage: every host can start every VM (shut off here).
      for (const host of spec.hosts) {
        for (const other of spec.hosts) {
          if (other === host) continue;
          for (const vm of host.vms) {
            this.agents.get(other.id)!.host.define({ name: vm.name, uuid: uuidOf(vm.name), state: "shutoff", reason: "unknown", vcpus: vm.vcpus, memoryBytes: vm.memoryBytes, persistent: true, disks: [] });
          }
        }
      }
    }
    for (const [node, clock] of spec.clocks) {
      const slot = this.network.slot(node);
      if (slot === undefined) continue;
      slot.clockOffsetMs = clock.offsetMs;
      slot.setClockRate(clock.ratePpm, 0);
    }
  }

  /**
   * Why fencing is forbidden now, as the checker sees it (invariant 5): cluster or host maintenance
   * in committed state, or a commanding primary still in its takeover grace.
   */
  fencingForbidden(hostId: string): string | null {
    let reader: StateReader | null = null;
    let applied = -1;
    for (const node of this.replicas.values()) {
      const candidate = node.liveProcess()?.replica.stateMachine.reader;
      if (candidate === undefined || candidate.appliedIndex() <= applied) continue;
      reader = candidate;
      applied = candidate.appliedIndex();
    }
    if (reader?.clusterMaintenance() === true) return "the cluster is in maintenance";
    if (reader?.host(hostId)?.maintenance === true) return `host ${hostId} is in maintenance`;
    for (const node of this.replicas.values()) {
      const watched = node.liveProcess() === null ? undefined : this.watched.get(node.id);
      if (watched === undefined || !watched.replica.isLeader() || watched.primary.commandBlocker() !== null) continue;
      if (watched.primary.state() !== "primary") return `${node.id} is in its takeover grace`;
    }
    return null;
  }

  /** An independent, stable seed for one named stream of randomness. */
  seedFor(name: string): number {
    return new Hasher(this.options.seed).text(name).digest() % 4294967296;
  }

  replica(id: string): ReplicaNode | undefined {
    return this.replicas.get(id);
  }

  agent(id: string): AgentNode | undefined {
    return this.agents.get(id);
  }

  /** Starts every replica, then every agent, at time 0. */
  start(): void {
    this.trace.line("sim", `seed ${this.options.seed}; replicas ${[...this.replicas.keys()].join(" ")}; hosts ${[...this.agents.keys()].join(" ")}${this.bugs.size > 0 ? `; injected bugs ${[...this.bugs].join(" ")}` : ""}`);
    for (const replica of this.replicas.values()) replica.start();
    for (const agent of this.agents.values()) agent.start();
  }

  /** The replica that leads in the highest term among those running (what vigilctl would find). */
  currentLeader(): string | null {
    let best: { id: string; term: number } | null = null;
    for (const node of this.replicas.values()) {
      const process = node.liveProcess();
      if (process === null || !process.replica.isLeader()) continue;
      const term = process.replica.currentTerm();
      if (best === null || term > best.term) best = { id: node.id, term };
    }
    return best?.id ?? null;
  }

  // ---------------------------------------------------------------------------------------------
  // Running
  // ---------------------------------------------------------------------------------------------

  /** Runs the simulation for `durationMs`; throws a Violation when an invariant breaks. */
  async runFor(durationMs: number): Promise<void> {
    const untilMs = this.scheduler.nowMs + durationMs;
    const onRejection = (reason: unknown) => this.crashed("an unhandled promise rejection", reason);
    process.on("unhandledRejection", onRejection);
    const exitCodeBefore = process.exitCode;
    try {
      // Work a command or start() left in promise continuations runs now, at its own time, as
      // Node would run it before the next timer (agent recovery starts this way).
      await flushMicrotasks();
      for (;;) {
        const event = this.scheduler.next(untilMs);
        if (event === null) break;
        this.trace.event(event.atMs, event.owner?.name ?? "world", event.label);
        try {
          event.run();
        } catch (error) {
          this.crashed(`event "${event.label}"`, error);
        }
        await flushMicrotasks();
        this.throwIfFailed();
        this.afterEvent();
        if (this.scheduler.nowMs >= this.nextStateCheckMs) {
          this.nextStateCheckMs = this.scheduler.nowMs + stateCheckIntervalMs;
          this.checkState();
        }
      }
      this.scheduler.nowMs = untilMs;
    } finally {
      process.off("unhandledRejection", onRejection);
      // A replica that fails fatally sets exit code 70 (raft-replica.ts); the run reports it instead.
      process.exitCode = exitCodeBefore;
    }
  }

  private crashed(where: string, error: unknown): void {
    if (this.failure !== null) return;
    const text = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
    this.failure = { invariant: error instanceof Violation ? error.invariant : "production code never throws", detail: error instanceof Violation ? error.detail : `${where} threw ${text}`, event: this.scheduler.executed, atMs: this.scheduler.nowMs };
  }

  private throwIfFailed(): void {
    if (this.failure !== null) throw new Violation(this.failure.invariant, this.failure.detail);
  }

  /**
   * Records a violation raised by a check inside a production callback without throwing into
   * production code; the run loop stops after the current event.
   */
  note(check: () => void): void {
    try {
      check();
    } catch (error) {
      if (!(error instanceof Violation)) throw error;
      this.failure ??= { invariant: error.invariant, detail: error.detail, event: this.scheduler.executed, atMs: this.scheduler.nowMs };
    }
  }

  /** A fresh id for a command the scenario injects. */
  injectedCommandId(): string {
    this.injectedCommands += 1;
    return `injected-${this.injectedCommands}`;
  }

  /** Records a violation raised by a check and rethrows it. */
  guard(check: () => void): void {
    try {
      check();
    } catch (error) {
      if (!(error instanceof Violation)) throw error;
      this.failure ??= { invariant: error.invariant, detail: error.detail, event: this.scheduler.executed, atMs: this.scheduler.nowMs };
      throw error;
    }
  }

  private afterEvent(): void {
    const replicas = this.checkedReplicas();
    this.guard(() => this.checker.checkDuties(replicas));
    const nowMs = this.scheduler.nowMs;
    if (this.primarySample.commanding) this.primaryTimeMs += nowMs - this.primarySample.atMs;
    this.primarySample = { atMs: nowMs, commanding: replicas.some((replica) => replica.leads() && replica.alive() && replica.mayCommand()) };
  }

  /** The SQLite-reading checks: after every command or action, and periodically. */
  checkState(): void {
    this.guard(() => {
      this.checker.checkState(this.checkedReplicas());
      this.checker.checkAgents(this.checkedAgents());
      this.operator.checkBounded(this.scheduler.nowMs);
    });
    this.auditJobs();
  }

  /**
   * Reads the jobs through JobService.List on the most caught-up replica and checks them against
   * the ownership moves and their bounds (job-invariants.ts). The answer arrives within the
   * current microtasks; a violation stops the run after the next event (or in settleChecks).
   */
  private auditJobs(): void {
    if (this.pendingAudit !== null) return;
    let best: ReplicaNode | null = null;
    for (const node of this.replicas.values()) {
      const applied = node.liveProcess()?.replica.stateMachine.reader.appliedIndex();
      if (applied !== undefined && (best === null || applied > best.liveProcess()!.replica.stateMachine.reader.appliedIndex())) best = node;
    }
    const process = best?.liveProcess() ?? null;
    if (process === null) return;
    const reader = process.replica.stateMachine.reader;
    const appliedIndex = reader.appliedIndex();
    const config = reader.config();
    const primaryTimeMs = this.primaryTimeMs;
    this.pendingAudit = listJobs(process).then(
      (jobs) => this.note(() => this.migrations.audit(jobs, appliedIndex, config, primaryTimeMs)),
      () => {
        this.migrations.counts.jobAuditsFailed += 1;
      },
    );
    void this.pendingAudit.finally(() => (this.pendingAudit = null));
  }

  /** Waits for the checks still in flight (the job audit) and throws what they found. */
  async settleChecks(): Promise<void> {
    this.checkState();
    await this.pendingAudit;
    this.throwIfFailed();
  }

  checkedReplicas(): CheckedReplica[] {
    return [...this.replicas.values()].map((node) => this.checkedReplica(node));
  }

  private checkedReplica(node: ReplicaNode): CheckedReplica {
    const watched = () => (node.liveProcess() === null ? undefined : this.watched.get(node.id));
    const world = this;
    return {
      id: node.id,
      alive: () => node.liveProcess() !== null,
      leads: () => node.liveProcess()?.replica.isLeader() === true,
      mayCommand() {
        const current = watched();
        return current !== undefined && current.replica.isLeader() && current.primary.commandBlocker() === null;
      },
      leaseRemainingMs() {
        const current = watched();
        const expiresAtMs = current?.replica.leaseExpiresAtMs() ?? null;
        if (current === undefined || expiresAtMs === null) return null;
        return Math.round(expiresAtMs - world.scheduler.clockOf(node.slot).nowMs());
      },
      appliedIndex: () => Number((node.statements.appliedIndex.get() as { value: string } | undefined)?.value ?? 0),
      appliedEntries(afterIndex, throughIndex) {
        const rows = node.statements.entries.all(afterIndex, throughIndex) as { idx: number; term: number; data: Buffer }[];
        if (rows.length !== throughIndex - afterIndex || (rows.length > 0 && rows[0]!.idx !== afterIndex + 1)) return null;
        return rows.map((row) => ({ index: row.idx, term: row.term, data: row.data }));
      },
      hostSequences() {
        const rows = node.statements.hostSequences.all() as { id: string; applied_seq: number; events_applied: number }[];
        return new Map(rows.map((row) => [row.id, { appliedSeq: row.applied_seq, eventsApplied: row.events_applied }]));
      },
    };
  }

  private checkedAgents(): CheckedAgent[] {
    return [...this.agents.values()].filter((agent) => agent.everStarted()).map((agent) => ({ hostId: agent.hostId, journal: () => agent.journalFacts() }));
  }

  // ---------------------------------------------------------------------------------------------
  // Observing the production objects
  // ---------------------------------------------------------------------------------------------

  observeReplica(node: ReplicaNode, watched: Watched): void {
    this.watched.set(node.id, watched);
    const { replica, duties } = watched;
    const incarnation = node.slot.incarnation;
    this.migrations.watch(node.db, replica.stateMachine, (check) => this.note(check));
    const current = () => node.slot.incarnation === incarnation;
    replica.onLeadershipChange((change) => {
      if (!current()) return;
      if (change.leader) {
        this.trace.line(node.id, `leads in term ${change.term}`);
        this.note(() => this.checker.leaderElected(node.id, change.term));
      } else {
        this.trace.line(node.id, `no longer leads (term ${change.term})`);
      }
    });
    duties.subscribe({
      start: (term) => current() && this.trace.line(node.id, `primary duties started (term ${term})`),
      stop: (reason) => current() && this.trace.line(node.id, `primary duties stopped: ${reason}`),
    });
    replica.onApplied((notices) => {
      if (!current()) return;
      for (const notice of notices) if (notice.kind === "PrimaryTakeover") this.note(() => this.checker.takeoverApplied(notice.term, notice.replicaId));
      if (notices.some((notice) => notice.kind === "ClusterEventAdded")) this.printClusterEvents(node);
    });
  }

  /** Cluster events (the replicated event log) as the first replica applies them. */
  private printClusterEvents(node: ReplicaNode): void {
    const rows = node.db.prepare("SELECT log_index AS logIndex, message FROM cluster_events WHERE log_index > ? ORDER BY idx").all(this.printedLogIndex) as { logIndex: number; message: string }[];
    for (const row of rows) this.trace.line("log", `[${row.logIndex}] ${row.message}`);
    const last = rows.at(-1);
    if (last !== undefined) this.printedLogIndex = last.logIndex;
  }

  hostObserver(): HostObserver {
    return {
      domainChanged: (host, domain, before) => {
        this.trace.line(host.hostId, `libvirt: ${domain.name} ${before.state} => ${domain.state} (${domain.reason})`);
        this.note(() => this.checker.checkDomains(this.hosts()));
      },
      operation: (host, operation, domain, outcome) => {
        this.trace.line(host.hostId, `libvirt: ${operation} ${domain.name} => ${outcome}`);
      },
      diskChanged: (host, domain, disk, why) => {
        this.trace.line(host.hostId, `qemu: ${domain.name} ${disk.target} ${why}: ${disk.chain.join(" <- ")}`);
      },
      hostById: (hostId) => this.agents.get(hostId)?.host,
      linked: (a, b) => this.network.reachable(a.hostId, b.hostId),
    };
  }

  hosts(): SimHost[] {
    return [...this.agents.values()].map((agent) => agent.host);
  }

  /** Opens AgentGateway.Connect from one incarnation of `agent` to the replica at `endpoint`. */
  connectAgent(agent: AgentNode, endpoint: string, incarnation: number): AgentConnection {
    const observer: ChannelObserver = {
      beforeControlMessage: (hostId, message) => {
        if (message.ack === undefined || !this.loseNextAck.has(hostId)) return true;
        this.loseNextAck.delete(hostId);
        this.trace.line("net", `${hostId}: the ack of seq ${message.ack?.ackedSeq} is lost with its stream`);
        return false;
      },
      controlMessageDelivered: (hostId, message) => {
        if (message.body === "ack") this.checker.acknowledged(hostId, message.ack!.ackedSeq);
        if (message.body === "welcome") this.checker.acknowledged(hostId, message.welcome!.appliedSeq);
      },
    };
    const slot = agent.slot;
    const pair = new AgentStreamPair(this.network, { node: agent.hostId, slot, incarnation }, agent.hostId, endpoint, (call) => this.replica(endpoint)?.acceptAgent(call), observer);
    if (incarnation === slot.incarnation) this.streams.set(agent.hostId, pair);
    return pair.asAgentConnection();
  }

  /** The agent finished recovery (DESIGN §9); said only when it had something to recover. */
  recoveryFinished(agent: AgentNode, report: RecoveryReport): void {
    const jobs = report.running + report.finished + report.unknown;
    if (jobs + report.discovered + report.chainsReported === 0 && report.libvirtError === null) return;
    const libvirt = report.libvirtError === null ? "" : `; libvirt not answering: ${report.libvirtError}`;
    this.trace.line(agent.hostId, `agent recovered: jobs ${report.running} running, ${report.finished} finished, ${report.unknown} unknown; ${report.discovered} discovered; ${report.chainsReported} chains reported${libvirt}`);
  }

  agentConnectionChanged(agent: AgentNode, connected: boolean): void {
    const stream = this.streams.get(agent.hostId);
    const journal = agent.journalFacts();
    if (connected) this.trace.line(agent.hostId, `agent connected to ${stream?.connection.serverNode ?? "?"} (highest term ${journal.highestTerm}, acked ${journal.lastAckedSeq}/${journal.lastSeq})`);
    else this.trace.line(agent.hostId, `agent disconnected from ${stream?.connection.serverNode ?? "?"}`);
  }

  commandReceived(agent: AgentNode, command: Command__Output, admission: { admitted: boolean; highestTermBefore: number }): void {
    const vm = this.vmNameOf(command);
    const verdict = admission.admitted ? "admitted" : command.term < admission.highestTermBefore ? `refused (highest term ${admission.highestTermBefore})` : "a duplicate";
    this.trace.line(agent.hostId, `command ${command.action} ${vm} term ${command.term} id ${command.commandId}: ${verdict}`);
    this.note(() => this.checker.commandHandled(agent.hostId, command, admission));
  }

  private vmNameOf(command: Command__Output): string {
    const action = command.action;
    const body = action === undefined ? undefined : (command[action] as { vmUuid?: string } | null | undefined);
    const uuid = body?.vmUuid ?? "";
    for (const agent of this.agents.values()) {
      const domain = agent.host.domains.get(uuid);
      if (domain !== undefined) return domain.name;
    }
    return uuid || "-";
  }

  // ---------------------------------------------------------------------------------------------
  // Faults and actions (scenario commands and the random mode call these)
  // ---------------------------------------------------------------------------------------------

  killReplica(id: string): void {
    const node = this.requireReplica(id);
    if (!node.slot.isAlive()) return;
    node.kill();
    this.counts.replicaKills += 1;
    this.watched.delete(id);
    this.operator.replicaDied(id);
    for (const connection of this.network.connectionsOf(id)) connection.processDied(id);
  }

  startReplica(id: string): void {
    const node = this.requireReplica(id);
    if (node.slot.isAlive()) return;
    node.start();
  }

  async stopReplica(id: string): Promise<void> {
    const node = this.requireReplica(id);
    if (!node.slot.isAlive()) return;
    await node.stop();
    await flushMicrotasks();
    this.killReplica(id);
  }

  pause(node: string): void {
    const slot = this.network.slot(node);
    if (slot === undefined || slot.state !== "running") return;
    slot.state = "paused";
    this.network.topologyChanged();
  }

  resume(node: string): void {
    const slot = this.network.slot(node);
    if (slot === undefined || slot.state !== "paused") return;
    slot.state = "running";
    this.scheduler.unpark(slot);
    this.network.topologyChanged();
  }

  killAgent(hostId: string): void {
    const agent = this.requireAgent(hostId);
    if (!agent.slot.isAlive()) return;
    agent.kill();
    this.counts.agentKills += 1;
    this.streams.delete(hostId);
    for (const connection of this.network.connectionsOf(hostId)) connection.processDied(hostId);
  }

  startAgent(hostId: string): void {
    const agent = this.requireAgent(hostId);
    if (agent.slot.isAlive() || !agent.host.powered) return;
    agent.start();
  }

  async stopAgent(hostId: string): Promise<void> {
    const agent = this.requireAgent(hostId);
    if (!agent.slot.isAlive()) return;
    await agent.stop();
    await flushMicrotasks();
    this.killAgent(hostId);
  }

  /** The host loses power: guests stop, the agent dies without a word, the host vanishes from the network. */
  powerOff(hostId: string): void {
    const agent = this.requireAgent(hostId);
    if (!agent.host.powered) return;
    this.network.power(hostId, false);
    if (agent.slot.isAlive()) {
      agent.kill();
      this.streams.delete(hostId);
      for (const connection of this.network.connectionsOf(hostId)) connection.processDied(hostId);
    }
    agent.host.libvirtd.state = "dead";
    agent.host.powerOff();
  }

  /** Power returns: a new boot (new boot id); the agent starts with its journal intact. */
  powerOn(hostId: string): void {
    const agent = this.requireAgent(hostId);
    if (agent.host.powered) return;
    agent.host.libvirtd.incarnation += 1;
    agent.host.libvirtd.state = "running";
    agent.host.powerOn();
    this.network.power(hostId, true);
    agent.start();
  }

  /** Breaks `hostId`'s agent stream now; in-flight messages are lost. */
  breakStream(hostId: string): boolean {
    const stream = this.streams.get(hostId);
    if (stream === undefined || stream.connection.state === "closed") return false;
    stream.breakNow("the stream broke (scripted)");
    return true;
  }

  /** The next ack written to `hostId`'s stream is lost, and the stream with it. */
  loseAck(hostId: string): void {
    this.loseNextAck.add(hostId);
  }

  /**
   * Writes a command to `hostId`'s agent stream as the replica holding it would, bypassing the
   * dispatcher: a deposed primary's late command, or a network-level redelivery.
   */
  injectCommand(hostId: string, command: Command): boolean {
    const stream = this.streams.get(hostId);
    if (stream === undefined || stream.connection.state !== "open") return false;
    stream.injectToAgent({ command });
    return true;
  }

  requireReplica(id: string): ReplicaNode {
    const node = this.replicas.get(id);
    if (node === undefined) throw new Error(`no replica ${id} (replicas: ${[...this.replicas.keys()].join(", ")})`);
    return node;
  }

  requireAgent(id: string): AgentNode {
    const agent = this.agents.get(id);
    if (agent === undefined) throw new Error(`no host ${id} (hosts: ${[...this.agents.keys()].join(", ")})`);
    return agent;
  }

  /**
   * Closes every database and removes the temporary directory snapshots pass through. Promises
   * already settled run first; nothing else runs again (no event will).
   */
  async dispose(): Promise<void> {
    const ignore = () => undefined;
    process.on("unhandledRejection", ignore);
    await flushMicrotasks();
    process.off("unhandledRejection", ignore);
    for (const node of this.replicas.values()) node.db.close();
    for (const agent of this.agents.values()) agent.journalDb.close();
    rmSync(this.dataRoot, { recursive: true, force: true });
  }
}
