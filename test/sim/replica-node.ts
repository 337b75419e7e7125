// One simulated vigild: the production replica (RaftReplica over SQLite, StateMachine, primary
// tracker, duty gate, dispatcher, agent relay, agent gateway, API handlers), wired as
// controlplane/main.ts wires it, on the simulator's clock, timers, network and rng.
// The SQLite database is the replica's disk: it survives a crash of the process objects, which
// are dropped without any shutdown, as kill -9 would.
import { mkdirSync } from "node:fs";
import type { Statement } from "better-sqlite3";
import { join } from "node:path";
import type * as grpc from "@grpc/grpc-js";
import { seededRng } from "../../common/env.js";
import type { Logger } from "../../common/logging.js";
import { AgentGateway, type GatewayCall } from "../../controlplane/api/agent-gateway.js";
import { clusterServiceHandlers } from "../../controlplane/api/cluster-service.js";
import { hostServiceHandlers } from "../../controlplane/api/host-service.js";
import { jobServiceHandlers } from "../../controlplane/api/job-service.js";
import { vmServiceHandlers } from "../../controlplane/api/vm-service.js";
import { clusterConfig, type ControlPlaneContext } from "../../controlplane/context.js";
import { AgentRelay } from "../../controlplane/primary/agent-relay.js";
import { CommandDispatcher } from "../../controlplane/primary/dispatcher.js";
import { DutyGate } from "../../controlplane/primary/duty-gate.js";
import type { FenceMethod, FenceMethods } from "../../controlplane/primary/fence-device.js";
import { HaDuty } from "../../controlplane/primary/ha-duty.js";
import { JobDuty } from "../../controlplane/primary/job-duty.js";
import { FlushDuty } from "../../controlplane/primary/flush-duty.js";
import { MigrationDuty } from "../../controlplane/primary/migration-duty.js";
import { PrimaryTracker } from "../../controlplane/primary/primary-tracker.js";
import { SessionRegistry } from "../../controlplane/primary/sessions.js";
import { RaftReplica } from "../../controlplane/replication/raft-replica.js";
import type { VmPolicy } from "../../controlplane/state/commands.js";
import { openDatabase, type Db } from "../../controlplane/state/store.js";
import { raftBugOf, SimBug } from "./bugs.js";
import type { ClusterSpec } from "./cluster-spec.js";
import { uuidOf } from "./hypervisor.js";
import { SimPeerTransport } from "./peer-transport.js";
import { cachePreparedStatements } from "./statement-cache.js";
import { ProcessSlot } from "./scheduler.js";
import type { World } from "./world.js";

/** As in controlplane/main.ts: duties are re-checked this often. */
export const dutyPollIntervalMs = 50;

/** The objects of one incarnation of the process. */
export interface ReplicaProcess {
  readonly incarnation: number;
  readonly replica: RaftReplica;
  readonly transport: SimPeerTransport;
  readonly context: ControlPlaneContext;
  readonly relay: AgentRelay;
  readonly logger: Logger;
  readonly agentGateway: AgentGateway;
  readonly clusterHandlers: ReturnType<typeof clusterServiceHandlers>;
  readonly hostHandlers: ReturnType<typeof hostServiceHandlers>;
  readonly vmHandlers: ReturnType<typeof vmServiceHandlers>;
  readonly jobHandlers: ReturnType<typeof jobServiceHandlers>;
}

export class ReplicaNode {
  readonly slot: ProcessSlot;
  /** The replica's disk. */
  readonly db: Db;
  process: ReplicaProcess | null = null;
  /** The checkers' queries, prepared once (preparing costs more than running them). */
  readonly statements: { appliedIndex: Statement; entries: Statement; hostSequences: Statement };
  private readonly dataDir: string;
  private nextId = 1;

  constructor(
    private readonly world: World,
    readonly id: string,
    private readonly spec: ClusterSpec,
  ) {
    this.slot = new ProcessSlot(id);
    world.network.register(this.slot);
    this.dataDir = join(world.dataRoot, id);
    mkdirSync(this.dataDir, { recursive: true });
    this.db = openDatabase({ path: ":memory:" });
    cachePreparedStatements(this.db);
    this.writeFoundingState();
    this.statements = {
      appliedIndex: this.db.prepare("SELECT value FROM meta WHERE key = 'applied_index'"),
      entries: this.db.prepare("SELECT idx, term, data FROM log_entries WHERE idx > ? AND idx <= ? ORDER BY idx"),
      hostSequences: this.db.prepare("SELECT id, applied_seq, events_applied FROM hosts ORDER BY id"),
    };
  }

  /** Config and VM policies every replica holds from the start (cluster-spec.ts). */
  private writeFoundingState(): void {
    this.db.transaction(() => {
      for (const [key, value] of this.spec.config) this.db.prepare("INSERT INTO config (key, value) VALUES (?, ?)").run(key, value);
      for (const host of this.spec.hosts) {
        for (const vm of host.vms) {
          this.db
            .prepare("INSERT INTO vms (uuid, name, host, state, reason, vcpus, memory_bytes, updated_ms) VALUES (?, ?, ?, 'nostate', 'not reported yet', ?, ?, 0)")
            .run(uuidOf(vm.name), vm.name, host.id, vm.vcpus, vm.memoryBytes);
          this.writePolicy(uuidOf(vm.name), vm.policy);
        }
      }
    })();
  }

  private writePolicy(uuid: string, policy: Partial<VmPolicy>): void {
    const set = (column: string, value: string | number) => this.db.prepare(`UPDATE vms SET ${column} = ? WHERE uuid = ?`).run(value, uuid);
    if (policy.restart !== undefined) set("restart", policy.restart);
    if (policy.priority !== undefined) set("priority", policy.priority);
    if (policy.limit !== undefined) set("limit_hosts", JSON.stringify(policy.limit));
    if (policy.selector !== undefined) set("selector", policy.selector);
    if (policy.autorestart !== undefined) set("autorestart", policy.autorestart ? 1 : 0);
    if (policy.maxRestarts !== undefined) set("max_restarts", policy.maxRestarts);
    if (policy.migrationFallback !== undefined) set("migration_fallback", policy.migrationFallback ? 1 : 0);
  }

  isRunning(): boolean {
    return this.process !== null && this.slot.isAlive();
  }

  /** Starts a new incarnation on the same disk (first start, or restart after a kill). */
  start(): void {
    const world = this.world;
    const slot = this.slot;
    slot.incarnation += 1;
    slot.state = "running";
    const incarnation = slot.incarnation;
    const clock = world.scheduler.clockOf(slot);
    const timers = world.scheduler.timersOf(slot, `${this.id} timer`);
    const logger = world.trace.logger(this.id);
    const bugs = world.bugs;
    let clusterId = "";
    const transport = new SimPeerTransport({
      network: world.network,
      self: { node: this.id, slot, incarnation },
      clusterId: () => clusterId,
      logger,
      transportAt: (node) => world.replica(node)?.liveProcess()?.transport,
      onSnapshotReceived: (message) => {
        world.counts.snapshotsReceived += 1;
        world.trace.line(this.id, `receives a snapshot from ${message.from} at index ${message.snapshot.metadata.index} (term ${message.snapshot.metadata.term}, ${message.snapshot.data.byteLength} bytes)`);
      },
    });
    const uniqueId = () => `${this.id}.${incarnation}.${this.nextId++}`;
    const replica = new RaftReplica({
      db: this.db,
      dataDir: this.dataDir,
      replicaId: this.id,
      address: this.id,
      transport,
      clock,
      timers,
      rng: seededRng(world.seedFor(`${this.id}#${incarnation}`)),
      logger,
      defer: world.scheduler.deferOf(slot, `${this.id} ready`),
      uniqueId,
      snapshotEveryEntries: this.spec.raft.snapshotEveryEntries,
      retainedEntries: this.spec.raft.retainedEntries,
      injectedBug: raftBugOf(bugs),
    });
    clusterId = replica.bootstrapOrCheck(new Map(this.spec.replicas.map((id) => [id, id])));
    const reader = replica.stateMachine.reader;
    const config = () => clusterConfig(reader);
    const sessions = new SessionRegistry();
    // -- as controlplane/main.ts, except that the lease timings are cached and refreshed whenever
    // entries apply: main.ts reads them from SQLite on every duty poll, which costs nothing in a
    // daemon but a quarter of the simulator's time. The membership is the founding one (the
    // simulator has no member add/remove yet; when it gets one, refresh on the change).
    const leaseTimings = () => ({
      previousLeaseWaitMs: bugs.has(SimBug.noTakeoverWait) || this.spec.replicas.length === 1 ? 0 : replica.previousLeaseWaitMs(),
      takeoverGraceMs: config().keepaliveIntervalMs * config().savingThrows,
    });
    let timings = leaseTimings();
    replica.onApplied(() => (timings = leaseTimings()));
    const primary = new PrimaryTracker(clock, () => timings, () => replica.holdsLease());
    const dispatcher = new CommandDispatcher({ log: replica, sessions, timers, commandBlocker: () => primary.commandBlocker(), logger, newCommandId: () => `cmd-${uniqueId()}` });
    const duties = new DutyGate(primary, clock, logger, () => replica.leaseExpiresAtMs());
    const context: ControlPlaneContext = { replicaId: this.id, address: this.id, log: replica, reader, sessions, dispatcher, primary, duties, clock, timers, logger, config, fenceMethods: this.fenceMethods() };
    duties.subscribe(new HaDuty(context, context.fenceMethods));
    duties.subscribe(new MigrationDuty(context));
    duties.subscribe(new FlushDuty(context));
    new JobDuty({ log: replica, reader, sessions, dispatcher, duties, clock, timers, logger, unknownTimeoutMs: () => config().jobUnknownTimeoutMs, commandTimeoutMs: () => config().commandTimeoutMs }).attach();
    replica.onApplied((notices) => {
      for (const notice of notices) {
        if (notice.kind === "PrimaryTakeover" && notice.replicaId === this.id && notice.term === replica.currentTerm()) primary.tookOver(notice.term);
      }
    });
    replica.onLeadershipChange((change) => {
      if (!change.leader) return primary.stepDown();
      replica.propose({ kind: "PrimaryTakeover", term: change.term, replicaId: this.id }).catch((error: unknown) => logger.warn({ err: String(error) }, "takeover not committed"));
    });
    const relay = new AgentRelay({ replicaId: this.id, clusterId: () => reader.meta("cluster_id") ?? "", sessions, transport, log: replica, clock, timers, logger });
    // -- the simulator's observers --
    world.observeReplica(this, { replica, duties, primary });
    this.process = {
      incarnation,
      replica,
      transport,
      context,
      relay,
      logger,
      agentGateway: new AgentGateway({
        log: replica,
        reader,
        sessions,
        clock,
        logger,
        keepaliveIntervalMs: () => config().keepaliveIntervalMs,
        injectedBug: bugs.has(SimBug.ackBeforeCommit) ? SimBug.ackBeforeCommit : null,
      }),
      clusterHandlers: clusterServiceHandlers(context),
      hostHandlers: hostServiceHandlers(context),
      vmHandlers: vmServiceHandlers(context),
      jobHandlers: jobServiceHandlers(context),
    };
    replica.start();
    relay.start();
    const pollDuties = () => {
      duties.poll();
      timers.after(dutyPollIntervalMs, pollDuties);
    };
    timers.after(dutyPollIntervalMs, pollDuties);
  }

  /** Each host's fence method as cluster.json says (vigild's YAML in production). */
  private fenceMethods(): FenceMethods {
    const byHost = new Map(this.spec.hosts.map((host) => [host.id, host.fence]));
    return {
      methodFor: (hostId): FenceMethod => {
        const kind = byHost.get(hostId) ?? "manual";
        const device = this.world.fences.get(hostId);
        if (kind === "fence-agent" && device !== undefined) return { kind, device };
        return { kind: kind === "fence-agent" ? "manual" : kind };
      },
    };
  }

  /** The process if it runs now (paused counts: it holds its state and sockets). */
  liveProcess(): ReplicaProcess | null {
    return this.slot.isAlive() ? this.process : null;
  }

  /** Takes an agent stream arriving at this replica's port. */
  acceptAgent(call: GatewayCall): void {
    const process = this.liveProcess();
    if (process === null) return;
    process.agentGateway.accept(call);
  }

  /** kill -9: the process objects are dropped mid-flight; the database stays as written. */
  kill(): void {
    this.slot.state = "dead";
    this.slot.parked = [];
    this.process = null;
  }

  /** SIGTERM, as controlplane/main.ts handles it: duties stop, streams close, the log closes. */
  async stop(): Promise<void> {
    const process = this.liveProcess();
    if (process === null) return;
    const { context, relay, replica } = process;
    context.primary.stepDown();
    context.duties.poll();
    relay.stop();
    context.sessions.closeAll("the control plane replica is stopping");
    await replica.close();
  }
}

/** The call the API handlers read: its request, and no client deadline. */
export function unaryCall<Request>(request: Request): grpc.ServerUnaryCall<Request, never> {
  return { request, getDeadline: () => Infinity } as unknown as grpc.ServerUnaryCall<Request, never>;
}
