// `npm run bench -- ingest`: agent event ingest, vigil against etcd in the same run (issue 5).
// - vigil: simulated agents (bench/ingest/swarm.ts, real AgentGateway streams spread over 3
//   replicas; followers relay to the leader) stream lifecycle events; an event counts once the
//   control plane acknowledged it, which it does only after it is committed and applied.
// - etcd: the same events from the same number of simulated agents, one pipelined put each.
// Two phases per system: window-limited (as fast as each agent's 256-event window allows) for
// throughput, and paced at the goal rate for emit-to-ack latency. Memory per connected agent is
// the growth of each replica's RSS when the idle agents connect, divided by the agents it holds.
// Writes bench/results/ingest.json (DESIGN §11) and prints a short report.
// Run: npm run bench -- ingest [--profile] [--vigil-only]     (after `npm run build`)
//   --profile     every vigild writes a V8 CPU profile into bench/results/ingest-profiles/
//   --vigil-only  skips etcd (no peer, no ratio): for iterating on vigil's side only
//   INGEST_KEEP_LOGS=1 keeps each cluster's data dirs and logs (their paths are printed)
import { mkdirSync, writeFileSync } from "node:fs";
import os from "node:os";
import { fileURLToPath } from "node:url";
import { EtcdCluster, VigilCluster, type BenchCluster } from "./replication/clusters.js";
import { cpuTimeMs, killAllChildren } from "./replication/processes.js";
import { metric, percentile, round, type Metric } from "./replication/stats.js";
import type { SwarmResult } from "./ingest/swarm.js";
import { nextLine, rssBytes, signalSwarm, startSwarm } from "./ingest/swarm-process.js";
const resultsPath = fileURLToPath(new URL("../../bench/results/ingest.json", import.meta.url));
const profile = process.argv.includes("--profile");
const vigilOnly = process.argv.includes("--vigil-only");
const profileDir = fileURLToPath(new URL("../../bench/results/ingest-profiles/", import.meta.url));

const settings = {
  agents: Number(process.env.INGEST_AGENTS ?? 200),
  vmsPerAgent: Number(process.env.INGEST_VMS ?? 50),
  windowEvents: 256,
  swarmProcesses: 2,
  warmupMs: 3_000,
  measureMs: Number(process.env.INGEST_MEASURE_MS ?? 10_000),
  goalEventsPerSecond: 25_000,
};

interface Phase {
  eventsPerSecond: number;
  latencyP50Ms: number;
  latencyP99Ms: number;
  /** CPU (user + system) of each server process over the whole phase, per event acknowledged in it, in microseconds. */
  serverCpuUsPerEvent: number[];
  /** Agent streams that failed (a leader change on a loaded machine) and were opened again, resending. */
  reconnects: number;
  errors: string[];
}

interface SystemRun {
  throughput: Phase;
  paced: Phase;
  memoryPerAgentBytes: number;
  connected: number;
  /** The leader's member index (for serverCpuUsPerEvent). */
  leader: number;
}

/** One phase: fresh host ids (a new run id), connect, then churn; returns the phase figures and memory. */
async function runPhase(cluster: BenchCluster, system: "vigil" | "etcd", ratePerAgent: number, phaseIndex: number): Promise<{ phase: Phase; connected: number }> {
  const perSwarm = Math.ceil(settings.agents / settings.swarmProcesses);
  const swarms = Array.from({ length: settings.swarmProcesses }, (_, index) =>
    startSwarm({
      system,
      endpoints: cluster.endpoints(),
      firstAgent: phaseIndex * 100_000 + index * perSwarm,
      agents: Math.min(perSwarm, settings.agents - index * perSwarm),
      vmsPerAgent: settings.vmsPerAgent,
      windowEvents: settings.windowEvents,
      ratePerAgent,
      warmupMs: settings.warmupMs,
      measureMs: settings.measureMs,
      runId: `${system}-${phaseIndex}-${Date.now()}`,
      resendOnReconnect: true,
    }),
  );
  let connected = 0;
  for (const swarm of swarms) connected += Number((await nextLine(swarm, 120_000)).connected);
  const pids = cluster.pids();
  const cpuBefore = pids.map(cpuTimeMs);
  for (const swarm of swarms) signalSwarm(swarm);
  const results = await Promise.all(swarms.map(async (swarm) => (await nextLine(swarm, settings.warmupMs + settings.measureMs + 120_000)) as unknown as SwarmResult));
  const cpuMs = pids.map((pid, index) => cpuTimeMs(pid) - cpuBefore[index]!);
  const acked = results.reduce((sum, result) => sum + result.ackedEvents, 0);
  const ackedWholePhase = results.reduce((sum, result) => sum + result.ackedEventsWholePhase, 0);
  const measuredMs = Math.max(...results.map((result) => result.measuredMs));
  const latencies = results.flatMap((result) => result.latenciesMs);
  return {
    connected,
    phase: {
      eventsPerSecond: acked / (measuredMs / 1000),
      latencyP50Ms: percentile(latencies, 0.5),
      latencyP99Ms: percentile(latencies, 0.99),
      serverCpuUsPerEvent: cpuMs.map((ms) => round((ms * 1000) / Math.max(1, ackedWholePhase), 1)),
      reconnects: results.reduce((sum, result) => sum + result.reconnects, 0),
      errors: results.flatMap((result) => result.errors).slice(0, 5),
    },
  };
}

/**
 * Memory one agent connection costs the replica that holds it: every agent connects (idle after its
 * inventory) to one follower; the other follower applies the same state without the connections,
 * so the difference of their RSS growth is the connections' share.
 */
async function measureConnectionMemory(cluster: VigilCluster): Promise<number> {
  const leader = await cluster.waitForLeader();
  const followers = cluster.members.map((_, index) => index).filter((index) => index !== leader);
  const holder = followers[0]!;
  const witness = followers[1]!;
  const pid = (index: number) => cluster.members[index]!.process?.child.pid;
  const before = [rssBytes(pid(holder)), rssBytes(pid(witness))];
  const swarm = startSwarm({
    system: "vigil",
    endpoints: [cluster.members[holder]!.clientAddress],
    firstAgent: 900_000,
    agents: settings.agents,
    vmsPerAgent: settings.vmsPerAgent,
    windowEvents: settings.windowEvents,
    ratePerAgent: 1,
    warmupMs: 0,
    measureMs: 0,
    runId: `memory-${Date.now()}`,
  });
  const connected = Number((await nextLine(swarm, 120_000)).connected);
  const after = [rssBytes(pid(holder)), rssBytes(pid(witness))];
  signalSwarm(swarm);
  await nextLine(swarm, 120_000);
  return (after[0]! - before[0]! - (after[1]! - before[1]!)) / connected;
}

async function runSystem(system: "vigil" | "etcd"): Promise<SystemRun> {
  const nodeOptions = profile ? ["--cpu-prof", `--cpu-prof-dir=${profileDir}`] : [];
  const cluster: BenchCluster = system === "vigil" ? await VigilCluster.create({ nodeOptions }) : await EtcdCluster.create();
  cluster.launchAll();
  try {
    const leader = await cluster.waitForLeader();
    // Paced first: the window-limited phase leaves a backlog that would queue the paced events.
    const pacedRatePerAgent = settings.goalEventsPerSecond / settings.agents;
    const paced = await runPhase(cluster, system, pacedRatePerAgent, 1);
    const throughput = await runPhase(cluster, system, 0, 2);
    const memoryPerAgentBytes = cluster instanceof VigilCluster ? await measureConnectionMemory(cluster) : 0;
    return { throughput: throughput.phase, paced: paced.phase, memoryPerAgentBytes, connected: throughput.connected, leader };
  } finally {
    const keepLogs = process.env.INGEST_KEEP_LOGS === "1";
    await cluster.stop({ keepData: keepLogs });
    if (keepLogs) process.stderr.write(`kept ${system}'s data and logs: ${cluster.members.map((member) => member.dataDir).join(" ")}\n`);
  }
}

/** The figures beside etcd's; with `--vigil-only` (no etcd run) every peer is null and the ratio goal unmet. */
function report(vigil: SystemRun, etcdRun: SystemRun | null): Record<string, Metric> {
  const peerName = etcdRun === null ? "etcd not run (--vigil-only)" : "etcd 3.4 (same events, one put each)";
  const none: Phase = { eventsPerSecond: Number.NaN, latencyP50Ms: Number.NaN, latencyP99Ms: Number.NaN, serverCpuUsPerEvent: [], reconnects: 0, errors: [] };
  const etcd = etcdRun ?? { throughput: none, paced: none, memoryPerAgentBytes: 0, connected: 0, leader: -1 };
  const rateRatio = vigil.throughput.eventsPerSecond / etcd.throughput.eventsPerSecond;
  return {
    "ingest.eventsPerSecond": metric({ value: vigil.throughput.eventsPerSecond, unit: "events/s committed", peer: etcd.throughput.eventsPerSecond, peerName, goal: "≥ 25,000 events/s and ≥ 10x etcd", met: vigil.throughput.eventsPerSecond >= settings.goalEventsPerSecond && rateRatio >= 10 }),
    "ingest.windowLimited.latencyP99": metric({ value: vigil.throughput.latencyP99Ms, unit: "ms emit-to-ack", peer: etcd.throughput.latencyP99Ms, peerName, goal: "context (saturated: latency is the window over the rate)", met: true }),
    "ingest.paced.eventsPerSecond": metric({ value: vigil.paced.eventsPerSecond, unit: "events/s (offered 25,000)", peer: etcd.paced.eventsPerSecond, peerName, goal: "context", met: true }),
    "ingest.paced.latencyP50": metric({ value: vigil.paced.latencyP50Ms, unit: "ms emit-to-ack", peer: etcd.paced.latencyP50Ms, peerName, goal: "context", met: true }),
    "ingest.paced.latencyP99": metric({ value: vigil.paced.latencyP99Ms, unit: "ms emit-to-ack", peer: etcd.paced.latencyP99Ms, peerName, goal: "≤ 50 ms at the offered rate", met: vigil.paced.latencyP99Ms <= 50 }),
    "ingest.memoryPerAgent": metric({ value: vigil.memoryPerAgentBytes / 1024, unit: "KiB per connected agent (holder's RSS growth minus a witness replica's)", peer: null, peerName: "", goal: "≤ 100 KB", met: vigil.memoryPerAgentBytes <= 100_000 }),
  };
}

async function main(): Promise<void> {
  process.on("exit", killAllChildren);
  process.on("SIGINT", () => process.exit(130));
  const loadBefore = os.loadavg().map((value) => round(value, 2));
  if (profile) mkdirSync(profileDir, { recursive: true });
  const vigil = await runSystem("vigil");
  const etcd = vigilOnly ? null : await runSystem("etcd");
  const metrics = report(vigil, etcd);
  const cpus = os.cpus();
  const machine = { cpus: cpus.length, model: cpus[0]?.model ?? "unknown", node: process.version, loadAverage: { before: loadBefore, after: os.loadavg().map((value) => round(value, 2)) } };
  mkdirSync(fileURLToPath(new URL("../../bench/results/", import.meta.url)), { recursive: true });
  writeFileSync(resultsPath, `${JSON.stringify({ name: "ingest", when: new Date().toISOString(), machine, settings, metrics, details: { vigil, etcd } }, null, 2)}\n`);
  const rows = Object.entries(metrics).map(([key, value]) => `| ${key} | ${value.value} ${value.unit} | ${value.peer ?? "-"} | ${value.ratio ?? "-"} | ${value.goal} | ${value.met ? "yes" : "NO"} |`);
  process.stdout.write(["# ingest", "", `${settings.agents} agents × ${settings.vmsPerAgent} VMs, window ${settings.windowEvents}, 3 replicas each side.`, "", "| metric | vigil | etcd | ratio | goal | met |", "|---|---|---|---|---|---|", ...rows, ""].join("\n"));
  const errors = { vigil: [...vigil.paced.errors, ...vigil.throughput.errors], etcd: etcd === null ? [] : [...etcd.paced.errors, ...etcd.throughput.errors] };
  if (errors.vigil.length > 0 || errors.etcd.length > 0) process.stdout.write(`errors: ${JSON.stringify(errors)}\n`);
  process.stdout.write(`vigil CPU per event (us, by replica; leader ${vigil.leader}): paced ${vigil.paced.serverCpuUsPerEvent.join(" / ")}, window-limited ${vigil.throughput.serverCpuUsPerEvent.join(" / ")}; streams reopened: paced ${vigil.paced.reconnects}, window-limited ${vigil.throughput.reconnects}\n`);
}

main().catch((error: unknown) => {
  process.stderr.write(`ingest: ${(error as Error).stack}\n`);
  killAllChildren();
  process.exit(1);
});
