// `npm run bench -- scale`: many agents with 20 VMs each against 3 real vigild replicas (issue 12).
// 1. Sync cycle (in-process, bench/scale/sync-cycle.ts): CPU of one full VM sync cycle (the HA
//    duty's restart step over every VM and host) over 200,000 VMs on a real SQLite file.
// 2. Intake: simulated agents (bench/ingest/swarm.ts: real AgentGateway streams, Hello, Welcome,
//    full inventory, then a heartbeat every keepalive interval) spread over a few swarm processes,
//    all connected to ONE follower (the holder). Recorded: the time until every inventory is
//    acknowledged and each replica's CPU for it.
// 3. Memory per connected agent: each replica's RSS growth over the intake divided by the agents.
//    The holder carries the streams and the state; the other follower (the witness) carries the
//    same state without streams; the leader carries the state plus a relayed session per agent.
// 4. Heartbeat headroom: with every agent beating at the configured interval, each replica's CPU
//    over a window, less its idle CPU before the agents came; CPU per heartbeat on the holder (which
//    receives them) and on the leader (which receives them relayed); the rate one core could take
//    at that cost against the configured rate (agents / interval).
// Writes bench/results/scale.json (DESIGN §11).
//
// SCALE_AGENTS (default 10,000) sets the agents; SCALE_SWARMS (default 4) the swarm processes.
// `scale --sync-only` measures the sync cycle alone (SCALE_SYNC_VMS, default 200,000) and puts its
// metrics into the scale.json already there, keeping the cluster's figures.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import os from "node:os";
import { fileURLToPath } from "node:url";
import { nextLine, rssBytes, signalSwarm, startSwarm, type Swarm } from "./ingest/swarm-process.js";
import type { SwarmResult } from "./ingest/swarm.js";
import { VigilCluster } from "./replication/clusters.js";
import { cpuTimeMs, killAllChildren, sleep } from "./replication/processes.js";
import { metric, round, type Metric } from "./replication/stats.js";
import { measureSyncCycle, type SyncCycleResult } from "./scale/sync-cycle.js";

const resultsPath = fileURLToPath(new URL("../../bench/results/scale.json", import.meta.url));

const settings = {
  agents: Number(process.env.SCALE_AGENTS ?? 10_000),
  vmsPerAgent: 20,
  swarmProcesses: Number(process.env.SCALE_SWARMS ?? 4),
  /** Agents of one swarm between Hello and an acknowledged inventory at once. */
  connectConcurrency: 64,
  /** keepalive.interval's default (config-keys.ts). */
  heartbeatIntervalMs: 5_000,
  idleWindowMs: 5_000,
  heartbeatWindowMs: 20_000,
  /** Bound on the whole intake; past it the benchmark reports what connected. */
  intakeTimeoutMs: Number(process.env.SCALE_INTAKE_TIMEOUT_MS ?? 20 * 60_000),
  /** The sync cycle's size: the issue's 200,000 VMs. */
  syncCycleVms: Number(process.env.SCALE_SYNC_VMS ?? 200_000),
};
const goalVmsPerCycle = 200_000;
const contextGoal = "context (no goal)";

interface ReplicaFigures {
  id: string;
  role: "leader" | "holder" | "witness";
  rssBeforeBytes: number;
  rssAfterBytes: number;
  intakeCpuMs: number;
  idleCpuMsPerSecond: number;
  heartbeatCpuMsPerSecond: number;
}

interface ScaleRun {
  syncCycle: SyncCycleResult;
  /** The leader when the heartbeat window ended: the roles above hold only if it did not change. */
  leaderAtEnd: string | null;
  connected: number;
  intakeMs: number;
  heartbeatsPerSecond: number;
  replicas: ReplicaFigures[];
  errors: string[];
}

function log(message: string): void {
  process.stderr.write(`[scale] ${message}\n`);
}

async function intake(cluster: VigilCluster, holder: number): Promise<{ swarms: Swarm[]; connected: number; intakeMs: number; errors: string[] }> {
  const perSwarm = Math.ceil(settings.agents / settings.swarmProcesses);
  const started = performance.now();
  const swarms = Array.from({ length: settings.swarmProcesses }, (_, index) =>
    startSwarm({
      system: "vigil",
      endpoints: [cluster.members[holder]!.clientAddress],
      firstAgent: index * perSwarm,
      agents: Math.max(0, Math.min(perSwarm, settings.agents - index * perSwarm)),
      vmsPerAgent: settings.vmsPerAgent,
      windowEvents: 256,
      ratePerAgent: 0,
      warmupMs: 0,
      measureMs: settings.heartbeatWindowMs,
      runId: `scale-${Date.now()}`,
      connectConcurrency: settings.connectConcurrency,
      awaitInventoryAck: true,
      reconnectAttempts: 5,
      events: false,
      heartbeatIntervalMs: settings.heartbeatIntervalMs,
    }),
  );
  const lines = await Promise.all(swarms.map((swarm) => nextLine(swarm, settings.intakeTimeoutMs)));
  const connected = lines.reduce((sum, line) => sum + Number(line.connected), 0);
  const errors = lines.flatMap((line) => (line.errors as string[] | undefined) ?? []);
  return { swarms, connected, intakeMs: performance.now() - started, errors };
}

async function runCluster(syncCycle: SyncCycleResult): Promise<ScaleRun> {
  const cluster = await VigilCluster.create();
  cluster.launchAll();
  try {
    const leader = await cluster.waitForLeader(30_000);
    const followers = cluster.members.map((_, index) => index).filter((index) => index !== leader);
    const holder = followers[0]!;
    const witness = followers[1]!;
    const order = [leader, holder, witness];
    const roles = ["leader", "holder", "witness"] as const;
    const pid = (index: number) => cluster.members[index]!.process?.child.pid;
    const cpu = () => order.map((index) => cpuTimeMs(pid(index)));
    const rss = () => order.map((index) => rssBytes(pid(index)));

    const idleStart = cpu();
    await sleep(settings.idleWindowMs);
    const idleEnd = cpu();
    const rssBefore = rss();

    log(`intake: ${settings.agents} agents x ${settings.vmsPerAgent} VMs through ${cluster.members[holder]!.id} (leader ${cluster.members[leader]!.id})`);
    const intakeStart = cpu();
    const { swarms, connected, intakeMs, errors } = await intake(cluster, holder);
    const intakeEnd = cpu();
    log(`intake: ${connected} agents in ${(intakeMs / 1000).toFixed(1)} s`);
    // Let the heap settle a moment before reading RSS: the intake's garbage is collectable.
    await sleep(2_000);
    const rssAfter = rss();

    for (const swarm of swarms) signalSwarm(swarm);
    const beatStart = cpu();
    const beatStarted = performance.now();
    const results = (await Promise.all(swarms.map((swarm) => nextLine(swarm, settings.heartbeatWindowMs + 120_000)))) as unknown as SwarmResult[];
    const beatSeconds = (performance.now() - beatStarted) / 1000;
    const beatEnd = cpu();
    const heartbeats = results.reduce((sum, result) => sum + result.heartbeatsSent, 0);
    const measuredSeconds = Math.max(...results.map((result) => result.measuredMs)) / 1000;
    const leaderAtEnd = await cluster.waitForLeader(30_000).then((index) => cluster.members[index]!.id, () => null);
    if (leaderAtEnd !== cluster.members[leader]!.id) log(`leadership moved during the run: ${cluster.members[leader]!.id} -> ${leaderAtEnd ?? "none"}; the per-role figures mix roles`);

    const replicas: ReplicaFigures[] = order.map((index, position) => ({
      id: cluster.members[index]!.id,
      role: roles[position]!,
      rssBeforeBytes: rssBefore[position]!,
      rssAfterBytes: rssAfter[position]!,
      intakeCpuMs: intakeEnd[position]! - intakeStart[position]!,
      idleCpuMsPerSecond: (idleEnd[position]! - idleStart[position]!) / (settings.idleWindowMs / 1000),
      heartbeatCpuMsPerSecond: (beatEnd[position]! - beatStart[position]!) / beatSeconds,
    }));
    return { syncCycle, leaderAtEnd, connected, intakeMs, heartbeatsPerSecond: heartbeats / measuredSeconds, replicas, errors: [...errors, ...results.flatMap((result) => result.errors)].slice(0, 10) };
  } finally {
    await cluster.stop();
  }
}

/** The sync cycle's figures, scaled to the goal's 200,000 VMs when measured over another count. */
function syncCycleMetrics(syncCycle: SyncCycleResult): Record<string, Metric> {
  const cycleFor200k = (syncCycle.cycleCpuMs * goalVmsPerCycle) / Math.max(1, syncCycle.vms);
  return {
    "scale.syncCycleCpu": metric({ value: cycleFor200k, unit: `ms CPU per sync cycle over 200,000 VMs (${syncCycle.measured}${syncCycle.vms === goalVmsPerCycle ? "" : `; measured over ${syncCycle.vms} VMs, scaled`})`, peer: null, peerName: "", goal: "≤ 1 s CPU for 200,000 VMs", met: cycleFor200k <= 1_000 }),
    "scale.syncCycleRestartingCpu": metric({ value: (syncCycle.restartingCycleCpuMs * goalVmsPerCycle) / Math.max(1, syncCycle.vms), unit: `ms CPU per sync cycle over 200,000 VMs with one host of ${settings.vmsPerAgent} VMs fenced (every host and the hosts' provisioned sums read, ${syncCycle.restartingCycleEffects} restarts planned)${syncCycle.vms === goalVmsPerCycle ? "" : "; scaled"}`, peer: null, peerName: "", goal: "≤ 1 s CPU for 200,000 VMs", met: (syncCycle.restartingCycleCpuMs * goalVmsPerCycle) / Math.max(1, syncCycle.vms) <= 1_000 }),
    "scale.discoveryCpu": metric({ value: (syncCycle.discoveryCpuMs * goalVmsPerCycle) / Math.max(1, syncCycle.vms), unit: "ms CPU to apply a first full inventory of 200,000 VMs (every VM new; in-process, scaled)", peer: null, peerName: "", goal: contextGoal, met: true }),
  };
}

function report(run: ScaleRun): Record<string, Metric> {
  const byRole = (role: ReplicaFigures["role"]) => run.replicas.find((replica) => replica.role === role)!;
  const holder = byRole("holder");
  const witness = byRole("witness");
  const leader = byRole("leader");
  const agents = Math.max(1, run.connected);
  const perAgent = (replica: ReplicaFigures) => (replica.rssAfterBytes - replica.rssBeforeBytes) / agents;
  const configuredRate = run.connected / (settings.heartbeatIntervalMs / 1000);
  /** CPU microseconds per heartbeat on `replica`: its CPU over the window less its idle CPU. */
  const usPerHeartbeat = (replica: ReplicaFigures) => (Math.max(0, replica.heartbeatCpuMsPerSecond - replica.idleCpuMsPerSecond) * 1000) / Math.max(1, run.heartbeatsPerSecond);
  const headroom = (replica: ReplicaFigures) => 1_000_000 / Math.max(1, usPerHeartbeat(replica)) / Math.max(1, configuredRate);
  const vms = run.connected * settings.vmsPerAgent;
  return {
    "scale.agentsConnected": metric({ value: run.connected, unit: `agents x ${settings.vmsPerAgent} VMs (asked for ${settings.agents})`, peer: null, peerName: "", goal: "10,000 agents", met: run.connected >= 10_000 }),
    "scale.intakeSeconds": metric({ value: run.intakeMs / 1000, unit: "s from the first Hello to the last inventory acknowledged", peer: null, peerName: "", goal: contextGoal, met: true }),
    "scale.intakeCpuPerVm": metric({ value: (run.replicas.reduce((sum, replica) => sum + replica.intakeCpuMs, 0) * 1000) / Math.max(1, vms), unit: "us CPU per VM taken in (3 replicas: Hello, inventory, Raft, apply)", peer: null, peerName: "", goal: contextGoal, met: true }),
    "scale.memoryPerAgent.holder": metric({ value: perAgent(holder) / 1024, unit: `KiB RSS growth per agent on ${holder.id}, the follower holding every stream`, peer: null, peerName: "", goal: "≤ 100 KB", met: perAgent(holder) <= 100_000 }),
    "scale.memoryPerAgent.leader": metric({ value: perAgent(leader) / 1024, unit: `KiB RSS growth per agent on ${leader.id}, the leader (state + a relayed session each)`, peer: null, peerName: "", goal: "≤ 100 KB", met: perAgent(leader) <= 100_000 }),
    "scale.memoryPerAgent.witness": metric({ value: perAgent(witness) / 1024, unit: `KiB RSS growth per agent on ${witness.id}, the follower with the same state and no streams`, peer: null, peerName: "", goal: contextGoal, met: true }),
    "scale.memoryPerAgent.streamOnly": metric({ value: (perAgent(holder) - perAgent(witness)) / 1024, unit: "KiB per agent stream (holder's growth less the witness's)", peer: null, peerName: "", goal: contextGoal, met: true }),
    "scale.heartbeatsPerSecond": metric({ value: run.heartbeatsPerSecond, unit: `heartbeats/s sent (every agent each ${settings.heartbeatIntervalMs / 1000} s)`, peer: configuredRate, peerName: "the configured rate: agents / keepalive.interval", goal: contextGoal, met: true }),
    "scale.heartbeatCpu.holder": metric({ value: usPerHeartbeat(holder), unit: `us CPU per heartbeat on ${holder.id} (receives them; relays them to the leader)`, peer: null, peerName: "", goal: contextGoal, met: true }),
    "scale.heartbeatCpu.leader": metric({ value: usPerHeartbeat(leader), unit: `us CPU per heartbeat on ${leader.id}, the primary (receives them relayed)`, peer: null, peerName: "", goal: contextGoal, met: true }),
    "scale.heartbeatHeadroom.leader": metric({ value: headroom(leader), unit: "x the configured rate one core of the primary could take at that cost", peer: null, peerName: "", goal: "context (≥ 1x needed)", met: true }),
    "scale.heartbeatHeadroom.holder": metric({ value: headroom(holder), unit: "x the configured rate one core of the holder could take at that cost", peer: null, peerName: "", goal: "context (≥ 1x needed)", met: true }),
    ...syncCycleMetrics(run.syncCycle),
  };
}

async function main(): Promise<void> {
  const when = new Date().toISOString();
  const loadBefore = os.loadavg().map((value) => round(value, 2));
  log(`sync cycle over ${settings.syncCycleVms} VMs, in-process`);
  const syncCycle = measureSyncCycle(settings.syncCycleVms / settings.vmsPerAgent, settings.vmsPerAgent);
  log(`sync cycle: ${syncCycle.cycleCpuMs.toFixed(0)} ms CPU, discovery ${syncCycle.discoveryCpuMs.toFixed(0)} ms CPU`);
  const cpus = os.cpus();
  const machine = () => ({ cpus: cpus.length, model: cpus[0]?.model ?? "unknown", node: process.version, loadAverage: { before: loadBefore, after: os.loadavg().map((value) => round(value, 2)) } });
  mkdirSync(fileURLToPath(new URL("../../bench/results/", import.meta.url)), { recursive: true });
  if (process.argv.includes("--sync-only")) {
    // Keep the cluster's figures of an earlier full run; the sync cycle's replace their own.
    const earlier = existsSync(resultsPath) ? (JSON.parse(readFileSync(resultsPath, "utf8")) as { metrics?: Record<string, Metric>; details?: Record<string, unknown> }) : {};
    const metrics = { ...earlier.metrics, ...syncCycleMetrics(syncCycle) };
    const details = { ...earlier.details, syncCycle, syncCycleWhen: when, syncCycleMachine: machine() };
    writeFileSync(resultsPath, `${JSON.stringify({ name: "scale", when, machine: machine(), settings, metrics, details }, null, 2)}\n`);
    process.stdout.write(`${JSON.stringify(syncCycleMetrics(syncCycle), null, 2)}\n`);
    return;
  }
  const run = await runCluster(syncCycle);
  const metrics = report(run);
  writeFileSync(resultsPath, `${JSON.stringify({ name: "scale", when, machine: machine(), settings, metrics, details: run }, null, 2)}\n`);
  const rows = Object.entries(metrics).map(([key, value]) => `| ${key} | ${value.value} ${value.unit} | ${value.peer ?? "—"} | ${value.goal} | ${value.goal.startsWith("context") ? "" : value.met ? "yes" : "**no**"} |`);
  process.stdout.write(["# scale", "", "| metric | value | peer | goal | met |", "|---|---|---|---|---|", ...rows, ""].join("\n"));
  if (run.errors.length > 0) process.stdout.write(`errors: ${JSON.stringify(run.errors)}\n`);
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    process.stderr.write(`scale: ${(error as Error).stack}\n`);
    killAllChildren();
    process.exit(1);
  },
);
