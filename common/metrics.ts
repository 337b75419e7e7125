// Prometheus metrics (prom-client) for vigild and the agent, and the HTTP
// endpoint that serves them (`--metrics-listen ADDR`, `metricsListen:`).
//
// Metric names are a contract with operators' dashboards and alerts, so every
// family is registered here, with all its label values at 0, even before the
// code that increments it exists: fences, HA restarts and migrations get their
// counters now and the issues that add those duties call `.inc()` on them.
// Values that already live elsewhere (Raft indexes, hosts, the outbox) are read
// when Prometheus scrapes, never copied on a timer.
import { createServer, type Server } from "node:http";
import { Counter, Gauge, Registry, collectDefaultMetrics } from "prom-client";
import type { Logger } from "./logging.js";

export type { Registry };

/** A registry with the process and Node.js runtime metrics (CPU, memory, event loop lag, file descriptors). */
export function createMetricsRegistry(): Registry {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  return registry;
}

// ---- vigild ----

/** What the metrics read from replication; a ReplicatedLog (controlplane/replication/log.ts) fits. */
export interface ReplicationMetricsSource {
  readonly replicaId: string;
  currentTerm(): number;
  isLeader(): boolean;
  status(): { leaderId: string | null; members: { id: string; commitIndex: number; appliedIndex: number }[] };
  onLeadershipChange(listener: (change: { leader: boolean; term: number }) => void): unknown;
}

/** What the metrics read from the replicated state; a StateReader (controlplane/state/store.ts) fits. */
export interface HostsMetricsSource {
  listHosts(): { state: string }[];
}

/** Host states always exported, at 0 when no host is in them, so that alerts on them never see "no data". */
export const hostStatesExported = ["ready", "suspect", "dead", "fencing", "fenced", "fence-failed", "flushing", "flushed"] as const;

export const fenceOutcomes = ["confirmed", "failed", "operator_confirmed"] as const;
export type FenceOutcome = (typeof fenceOutcomes)[number];
export const haRestartOutcomes = ["started", "failed", "pending"] as const;
export type HaRestartOutcome = (typeof haRestartOutcomes)[number];
export const migrationOutcomes = ["succeeded", "shutdown_migrated", "rolled_back", "cancelled"] as const;
export type MigrationOutcome = (typeof migrationOutcomes)[number];

/** The counters that the primary's duties increment. */
export interface ControlPlaneMetrics {
  /** One per fence that ended: confirmed (power off confirmed), failed (host stays fence-failed), operator_confirmed. */
  fences: Counter<"outcome">;
  /** One per HA restart of a VM of a fenced host: started, failed, pending (no valid target yet). */
  haRestarts: Counter<"outcome">;
  /** One per migration that ended: succeeded (live), shutdown_migrated (fallback), rolled_back, cancelled. */
  migrations: Counter<"outcome">;
  leaderChanges: Counter;
}

export function registerControlPlaneMetrics(
  registry: Registry,
  sources: { replication: ReplicationMetricsSource; hosts: HostsMetricsSource },
): ControlPlaneMetrics {
  const { replication, hosts } = sources;
  const registers = [registry];
  const leaderChanges = new Counter({ name: "vigil_raft_leader_changes_total", help: "Changes of the Raft leader seen by this replica.", registers });
  let leaderSeen: string | null | undefined;
  const observeLeader = () => {
    const leaderId = replication.status().leaderId;
    if (leaderSeen !== undefined && leaderId !== leaderSeen && leaderId !== null) leaderChanges.inc();
    if (leaderId !== null) leaderSeen = leaderId;
  };
  // Each change of this replica's own role is seen at once; other replicas' elections are seen at the next scrape.
  // Nothing is read here: the log may not be started yet.
  replication.onLeadershipChange(() => observeLeader());

  new Gauge({
    name: "vigil_raft_term",
    help: "Current Raft term (the fencing token commands carry).",
    registers,
    collect() {
      this.set(replication.currentTerm());
      observeLeader();
    },
  });
  new Gauge({
    name: "vigil_raft_is_leader",
    help: "1 when this replica leads the Raft log, else 0.",
    registers,
    collect() {
      this.set(replication.isLeader() ? 1 : 0);
    },
  });
  registerIndexGauges(registers, replication);

  new Gauge({
    name: "vigil_hosts",
    help: "Hosts by state.",
    labelNames: ["state"],
    registers,
    collect() {
      const counts = new Map<string, number>(hostStatesExported.map((state) => [state, 0]));
      for (const host of hosts.listHosts()) counts.set(host.state, (counts.get(host.state) ?? 0) + 1);
      this.reset();
      for (const [state, count] of counts) this.set({ state }, count);
    },
  });

  return {
    fences: outcomeCounter(registers, "vigil_fences_total", "Fences that ended, by outcome.", fenceOutcomes),
    haRestarts: outcomeCounter(registers, "vigil_ha_restarts_total", "HA restarts of VMs of fenced hosts, by outcome.", haRestartOutcomes),
    migrations: outcomeCounter(registers, "vigil_migrations_total", "Migrations that ended, by outcome.", migrationOutcomes),
    leaderChanges,
  };
}

/** Commit and applied indexes of this replica, and how far it trails: commit lag behind the leader, apply lag behind its own commit. */
function registerIndexGauges(registers: Registry[], replication: ReplicationMetricsSource): void {
  const indexes = () => {
    const status = replication.status();
    const self = status.members.find((member) => member.id === replication.replicaId);
    const leader = status.members.find((member) => member.id === status.leaderId);
    const commitIndex = self?.commitIndex ?? 0;
    const appliedIndex = self?.appliedIndex ?? 0;
    // Without a known leader there is nothing to trail; the term and leader-change series show that case.
    const commitLag = leader === undefined ? 0 : Math.max(0, leader.commitIndex - commitIndex);
    return { commitIndex, appliedIndex, commitLag, applyLag: Math.max(0, commitIndex - appliedIndex) };
  };
  const gauges: [string, string, keyof ReturnType<typeof indexes>][] = [
    ["vigil_raft_commit_index", "Highest log index this replica knows is committed.", "commitIndex"],
    ["vigil_raft_applied_index", "Highest log index applied to this replica's state.", "appliedIndex"],
    ["vigil_raft_commit_lag_entries", "Entries the leader has committed that this replica has not (0 on the leader).", "commitLag"],
    ["vigil_raft_apply_lag_entries", "Entries committed on this replica but not yet applied.", "applyLag"],
  ];
  for (const [name, help, field] of gauges) {
    new Gauge({
      name,
      help,
      registers,
      collect() {
        this.set(indexes()[field]);
      },
    });
  }
}

function outcomeCounter(registers: Registry[], name: string, help: string, outcomes: readonly string[]): Counter<"outcome"> {
  const counter = new Counter({ name, help, labelNames: ["outcome"], registers });
  for (const outcome of outcomes) counter.inc({ outcome }, 0);
  return counter;
}

// ---- vigil-agent ----

/** What the metrics read from the agent's journal; a Journal (agent/journal.ts) fits. */
export interface JournalMetricsSource {
  lastSeq(): number;
  lastAckedSeq(): number;
}

/** A LibvirtConnection (agent/libvirt) fits. */
export interface LibvirtMetricsSource {
  onConnectionChange(listener: (change: "lost" | "restored") => void): unknown;
  /** Whether the connection is up now (the agent may start while libvirtd is down). */
  isAlive?(): boolean;
}

export interface AgentMetrics {
  libvirtReconnects: Counter;
}

/** In-flight jobs and disk syncs (DESIGN §9), for the agent's recovery gauges. */
export interface RecoveryMetricsSource {
  jobs: { unresolvedCounts(): { running: number; unknown: number } };
  diskSync: { pending(): readonly unknown[] };
}

export function registerAgentMetrics(registry: Registry, sources: { journal: JournalMetricsSource; libvirt: LibvirtMetricsSource } & Partial<RecoveryMetricsSource>): AgentMetrics {
  const registers = [registry];
  const { jobs, diskSync } = sources;
  if (jobs !== undefined) {
    new Gauge({
      name: "vigil_agent_jobs",
      help: "Journaled jobs not yet resolved, by state (running, unknown).",
      labelNames: ["state"],
      registers,
      collect() {
        const counts = jobs.unresolvedCounts();
        this.set({ state: "running" }, counts.running);
        this.set({ state: "unknown" }, counts.unknown);
      },
    });
  }
  if (diskSync !== undefined) {
    new Gauge({
      name: "vigil_agent_disk_syncs_pending",
      help: "Disk chain syncs waiting for libvirt or storage to answer (retrying with backoff).",
      registers,
      collect() {
        this.set(diskSync.pending().length);
      },
    });
  }
  new Gauge({
    name: "vigil_agent_outbox_backlog_events",
    help: "Journaled events the control plane has not yet acknowledged as committed.",
    registers,
    collect() {
      this.set(Math.max(0, sources.journal.lastSeq() - sources.journal.lastAckedSeq()));
    },
  });
  const libvirtConnected = new Gauge({ name: "vigil_agent_libvirt_connected", help: "1 while the libvirt connection is up, else 0.", registers });
  libvirtConnected.set(sources.libvirt.isAlive?.() === false ? 0 : 1);
  const libvirtReconnects = new Counter({ name: "vigil_agent_libvirt_reconnects_total", help: "Times the libvirt connection was lost and opened again.", registers });
  sources.libvirt.onConnectionChange((change) => {
    libvirtConnected.set(change === "restored" ? 1 : 0);
    if (change === "restored") libvirtReconnects.inc();
  });
  return { libvirtReconnects };
}

// ---- the endpoint ----

export interface MetricsEndpoint {
  readonly port: number;
  close(): Promise<void>;
}

/** Splits "host:port" or "[v6]:port"; throws a one-line error naming the setting. */
export function parseListenAddress(listen: string): { host: string; port: number } {
  const match = /^(?:\[([^\]]+)\]|([^:]+)):(\d{1,5})$/.exec(listen);
  const port = match === null ? NaN : Number(match[3]);
  if (match === null || port > 65_535) throw new Error(`metrics listen address ${JSON.stringify(listen)} is not host:port`);
  return { host: match[1] ?? match[2]!, port };
}

/** Serves GET /metrics from `registry` on `listen` (host:port; port 0 picks one). */
export function startMetricsEndpoint(listen: string, registry: Registry): Promise<MetricsEndpoint> {
  const { host, port } = parseListenAddress(listen);
  const server: Server = createServer((request, response) => {
    if (request.method !== "GET" || request.url?.split("?")[0] !== "/metrics") {
      response.writeHead(404, { "content-type": "text/plain" }).end("not found: metrics are at GET /metrics\n");
      return;
    }
    registry.metrics().then(
      (text) => response.writeHead(200, { "content-type": registry.contentType }).end(text),
      (error: unknown) => response.writeHead(500, { "content-type": "text/plain" }).end(`collecting metrics failed: ${String(error)}\n`),
    );
  });
  return new Promise((resolve, reject) => {
    server.once("error", (error) => reject(new Error(`metrics endpoint ${listen}: ${error.message}`)));
    server.listen(port, host, () => {
      const address = server.address();
      resolve({
        port: typeof address === "object" && address !== null ? address.port : port,
        close: () =>
          new Promise((done) => {
            server.close(() => done());
            // Prometheus keeps its connection open between scrapes.
            server.closeAllConnections();
          }),
      });
    });
  });
}

/** Starts the endpoint when `listen` is not empty (metrics are off by default in development) and logs where. */
export async function serveMetrics(options: { listen: string; registry: Registry; logger: Logger }): Promise<MetricsEndpoint | null> {
  if (options.listen === "") return null;
  const endpoint = await startMetricsEndpoint(options.listen, options.registry);
  options.logger.info({ metricsListen: options.listen, metricsPort: endpoint.port }, "metrics endpoint listening");
  return endpoint;
}
