// Replication benchmark (issue 4): vigil's Raft replication against etcd 3.4, both started here in
// the same run as 3 members on loopback with the same Raft timing (heartbeat 100 ms, election
// timeout 1 s). Writes bench/results/replication.json (DESIGN §11 "Tooling contract") and prints a
// short Markdown report.
//
// Run: npm run bench -- replication [--quick] [--profile]     (after `npm run build`)
//   --quick    fewer and shorter rounds (a smoke test, not for quoting)
//   --profile  every vigild writes a V8 CPU profile (node --cpu-prof) into
//              bench/results/replication-profiles/; for the in-process leader of step 3 run
//              `node --cpu-prof --cpu-prof-dir=DIR dist/bench/replication.js` instead.
//
// Method.
// 1. Writes/s through each system's public write path (vigil ClusterService/SetConfig, etcd
//    KV/Put) of a 19-byte value (clients.ts), from one load-client process (bench/replication/load-client.ts)
//    holding 1 or 64 calls in flight on one channel to the leader. Rounds alternate the systems so
//    both see the same machine load; the median round is reported with its p50/p99 latency, the
//    client's CPU and the servers' CPU per write. 64 in flight through a follower is shown too, and
//    64 in flight against ONE vigild (the same API path without replication), for context.
// 2. Failover: a client writes continuously (an attempt every 5 ms, 500 ms deadlines, next endpoint
//    on failure); the leader gets kill -9; failover = kill to the ack of the first write sent after
//    it. 5 runs per system, alternating; the killed member is restarted in between.
// 3. The replicated log's capacity: proposals made in-process on a leader RaftReplica with two
//    vigild followers, counted once on all 3 replicas; fsyncs per entry from the leader's SQLite
//    write transactions. Compared with better-sqlite3 appending 100-row transactions with
//    synchronous=FULL on the same disk, measured right before and after.
import { mkdirSync, writeFileSync, existsSync } from "node:fs";
import os from "node:os";
import { join } from "node:path";
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import Database from "better-sqlite3";
import { etcdClient, payloadBytes, payloadValue, systemClient, writeKey, type SystemName } from "./replication/clients.js";
import { EtcdCluster, VigilCluster, etcdPath, type BenchCluster } from "./replication/clusters.js";
import { measureOneFailover, type FailoverRun } from "./replication/failover.js";
import { runLoad, type LoadMeasurement } from "./replication/load.js";
import { measureLogCapacity, type CapacityResult } from "./replication/log-capacity.js";
import { killAllChildren } from "./replication/processes.js";
import { measureSqliteLimit, sqliteRowBytes, type SqliteLimit } from "./replication/sqlite-limit.js";
import { median, metric, percentile, round, type Metric } from "./replication/stats.js";

const quick = process.argv.includes("--quick");
const profile = process.argv.includes("--profile");
const settings = {
  loadRounds: quick ? 1 : 3,
  loadWarmUpMs: 1_000,
  loadDurationMs: quick ? 2_000 : 3_000,
  loadDeadlineMs: 5_000,
  inFlightLevels: [1, 64] as const,
  failoverRuns: quick ? 2 : 5,
  capacity: { entries: quick ? 5_000 : 20_000, window: 4_096, rounds: quick ? 1 : 3, warmUpEntries: 2_000 },
  sqliteLimitMs: quick ? 1_000 : 2_000,
};
/** The whole benchmark is abandoned (every child killed) after this long. */
const benchTimeoutMs = 12 * 60_000;
const repositoryRoot = fileURLToPath(new URL("../../", import.meta.url));
const resultsPath = join(repositoryRoot, "bench", "results", "replication.json");
/** The goal of a metric reported for context; bench/run.mjs shows no verdict for it. */
const contextGoal = "context (no goal)";
const profileDir = join(repositoryRoot, "bench", "results", "replication-profiles");
const vigildNodeOptions = profile ? ["--cpu-prof", `--cpu-prof-dir=${profileDir}`] : [];

interface LoadRoundKey {
  system: SystemName;
  inFlight: number;
  /** "single": a one-replica vigild, the same write path without replication (context for the goal). */
  via: "leader" | "follower" | "single";
}

interface Measurements {
  load: { key: LoadRoundKey; round: number; result: LoadMeasurement }[];
  failover: Record<SystemName, FailoverRun[]>;
  vigilEntryBytes: number;
  sqliteLimits: SqliteLimit[];
  sqliteOneRow: SqliteLimit | null;
  capacity: CapacityResult | null;
  capacityError: string | null;
}

function log(message: string): void {
  process.stderr.write(`[replication] ${message}\n`);
}

function etcdVersion(): string {
  const result = spawnSync(etcdPath, ["--version"], { encoding: "utf8" });
  return /etcd Version: (\S+)/.exec(result.stdout)?.[1] ?? "unknown";
}

async function checkWritePaths(vigil: VigilCluster, etcd: EtcdCluster): Promise<void> {
  const vigilLeader = await vigil.waitForLeader();
  const vigilClient = systemClient("vigil", vigil.endpoints());
  await vigilClient.write(vigilLeader, payloadValue(0), 5_000);
  vigilClient.close();
  const etcdLeader = await etcd.waitForLeader();
  const client = etcdClient(etcd.endpoints());
  await client.write(etcdLeader, payloadValue(0), 5_000);
  const stored = await client.read(etcdLeader, 5_000);
  client.close();
  if (stored?.length !== payloadBytes) throw new Error(`etcd stored ${stored?.length} bytes under ${writeKey}, expected ${payloadBytes}`);
}

async function loadRound(cluster: BenchCluster, key: LoadRoundKey): Promise<LoadMeasurement> {
  const leader = await cluster.waitForLeader();
  const endpoint = key.via === "follower" ? (leader + 1) % cluster.members.length : leader;
  const result = await runLoad(
    { system: key.system, endpoint: cluster.endpoints()[endpoint]!, inFlight: key.inFlight, warmUpMs: settings.loadWarmUpMs, durationMs: settings.loadDurationMs, deadlineMs: settings.loadDeadlineMs },
    cluster.pids(),
  );
  log(`${key.system} ${key.inFlight} in flight via ${key.via}: ${result.writesPerSecond.toFixed(0)} writes/s, p50 ${result.latencyP50Ms.toFixed(2)} ms, p99 ${result.latencyP99Ms.toFixed(2)} ms, client CPU ${(result.clientCpuShare * 100).toFixed(0)} %, servers ${result.serverCpuUsPerWrite.toFixed(0)} us/write and ${(result.serverDiskBytesPerWrite / 1024).toFixed(1)} KiB written/write${result.failed > 0 ? `, ${result.failed} failed (${result.firstError})` : ""}`);
  return result;
}

async function measureLoad(clusters: Record<SystemName, BenchCluster>, single: VigilCluster, measurements: Measurements): Promise<void> {
  for (let round = 0; round < settings.loadRounds; round += 1) {
    // Alternate which system goes first, so neither always runs right after the other's load.
    const order: SystemName[] = round % 2 === 0 ? ["vigil", "etcd"] : ["etcd", "vigil"];
    for (const inFlight of settings.inFlightLevels) {
      for (const system of order) {
        const key: LoadRoundKey = { system, inFlight, via: "leader" };
        measurements.load.push({ key, round, result: await loadRound(clusters[system], key) });
      }
      if (inFlight !== 64) continue;
      // The same write path on one vigild: what the API path alone allows in this round.
      const key: LoadRoundKey = { system: "vigil", inFlight, via: "single" };
      measurements.load.push({ key, round, result: await loadRound(single, key) });
    }
  }
  for (const system of ["vigil", "etcd"] as const) {
    const key: LoadRoundKey = { system, inFlight: 64, via: "follower" };
    measurements.load.push({ key, round: 0, result: await loadRound(clusters[system], key) });
  }
}

async function measureFailovers(clusters: Record<SystemName, BenchCluster>, measurements: Measurements): Promise<void> {
  for (let run = 0; run < settings.failoverRuns; run += 1) {
    const order: SystemName[] = run % 2 === 0 ? ["vigil", "etcd"] : ["etcd", "vigil"];
    for (const system of order) {
      const result = await measureOneFailover(clusters[system]);
      measurements.failover[system].push(result);
      log(`${system} failover ${run + 1}: ${result.failoverMs.toFixed(0)} ms (killed ${result.killed}, new leader ${result.newLeader}, ${result.failedAttempts} failed attempts)`);
    }
  }
}

/** Average size of the SetConfig entries in a stopped replica's log (log_entries.data). */
function entryBytesOf(databasePath: string): number {
  const db = new Database(databasePath, { readonly: true, fileMustExist: true });
  try {
    const bytes = db.prepare("SELECT AVG(LENGTH(data)) FROM log_entries WHERE type = 0 AND INSTR(data, ?) > 0").pluck().get(Buffer.from(writeKey)) as number | null;
    return bytes ?? Number.NaN;
  } finally {
    db.close();
  }
}

async function measureAgainstEtcd(measurements: Measurements): Promise<void> {
  const vigil = await VigilCluster.create({ nodeOptions: vigildNodeOptions });
  const single = await VigilCluster.create({ size: 1 });
  const etcd = await EtcdCluster.create();
  try {
    vigil.launchAll();
    single.launchAll();
    etcd.launchAll();
    await Promise.all([vigil.waitForLeader(30_000), single.waitForLeader(30_000), etcd.waitForLeader(30_000)]);
    await checkWritePaths(vigil, etcd);
    const clusters = { vigil, etcd };
    log("writes/s through the public write paths");
    await measureLoad(clusters, single, measurements);
    await single.stop();
    log("failover after kill -9 of the leader");
    await measureFailovers(clusters, measurements);
    await vigil.stop({ keepData: true });
    measurements.vigilEntryBytes = entryBytesOf(join(vigil.members[0]!.dataDir, "vigild.db"));
  } finally {
    await Promise.all([vigil.stop(), single.stop(), etcd.stop()]);
  }
}

function measureLimit(measurements: Measurements): void {
  const limit = measureSqliteLimit({ rowsPerTransaction: 100, durationMs: settings.sqliteLimitMs });
  measurements.sqliteLimits.push(limit);
  log(`SQLite 100 rows/tx, synchronous=FULL: ${limit.rowsPerSecond.toFixed(0)} rows/s`);
}

// ---------------------------------------------------------------------------------------------
// Report
// ---------------------------------------------------------------------------------------------

/** The round with the median writes/s for one (system, in flight, via). */
function medianRound(measurements: Measurements, key: LoadRoundKey): LoadMeasurement {
  const rounds = measurements.load
    .filter((entry) => entry.key.system === key.system && entry.key.inFlight === key.inFlight && entry.key.via === key.via)
    .map((entry) => entry.result)
    .sort((a, b) => a.writesPerSecond - b.writesPerSecond);
  if (rounds.length === 0) throw new Error(`no load round for ${JSON.stringify(key)}`);
  return rounds[Math.floor((rounds.length - 1) / 2)]!;
}

function loadMetrics(measurements: Measurements): Record<string, Metric> {
  const metrics: Record<string, Metric> = {};
  for (const inFlight of settings.inFlightLevels) {
    const ours = medianRound(measurements, { system: "vigil", inFlight, via: "leader" });
    const peer = medianRound(measurements, { system: "etcd", inFlight, via: "leader" });
    const prefix = `writes.inflight${inFlight}`;
    const peerName = `etcd 3.4 KV.Put, same client, ${inFlight} in flight`;
    const rateGoal = inFlight === 64 ? ">= 1.0x etcd" : contextGoal;
    const rateMet = inFlight === 64 ? ours.writesPerSecond >= peer.writesPerSecond : true;
    metrics[`${prefix}.writesPerSecond`] = metric({ value: ours.writesPerSecond, unit: "writes/s", peer: peer.writesPerSecond, peerName, goal: rateGoal, met: rateMet });
    metrics[`${prefix}.latencyP50`] = metric({ value: ours.latencyP50Ms, unit: "ms", peer: peer.latencyP50Ms, peerName, goal: contextGoal, met: true });
    metrics[`${prefix}.latencyP99`] = metric({ value: ours.latencyP99Ms, unit: "ms", peer: peer.latencyP99Ms, peerName, goal: contextGoal, met: true });
    metrics[`${prefix}.clientCpu`] = metric({ value: ours.clientCpuShare * 100, unit: "% of a core", peer: peer.clientCpuShare * 100, peerName, goal: contextGoal, met: true });
    metrics[`${prefix}.serverCpuPerWrite`] = metric({ value: ours.serverCpuUsPerWrite, unit: "us CPU/write (3 servers)", peer: peer.serverCpuUsPerWrite, peerName, goal: contextGoal, met: true });
    metrics[`${prefix}.serverDiskBytesPerWrite`] = metric({ value: ours.serverDiskBytesPerWrite, unit: "bytes written to storage/write (3 servers)", peer: peer.serverDiskBytesPerWrite, peerName, goal: contextGoal, met: true });
  }
  const ours = medianRound(measurements, { system: "vigil", inFlight: 64, via: "follower" });
  const peer = medianRound(measurements, { system: "etcd", inFlight: 64, via: "follower" });
  const peerName = "etcd 3.4 KV.Put through a follower, 64 in flight";
  metrics["writes.inflight64.viaFollower.writesPerSecond"] = metric({ value: ours.writesPerSecond, unit: "writes/s", peer: peer.writesPerSecond, peerName, goal: contextGoal, met: true });
  metrics["writes.inflight64.viaFollower.latencyP50"] = metric({ value: ours.latencyP50Ms, unit: "ms", peer: peer.latencyP50Ms, peerName, goal: contextGoal, met: true });
  const single = medianRound(measurements, { system: "vigil", inFlight: 64, via: "single" });
  const etcd = medianRound(measurements, { system: "etcd", inFlight: 64, via: "leader" });
  const singleName = "etcd 3.4 KV.Put, 3 members, 64 in flight (vigil: ONE vigild, no replication)";
  metrics["writes.inflight64.singleReplica.writesPerSecond"] = metric({ value: single.writesPerSecond, unit: "writes/s", peer: etcd.writesPerSecond, peerName: singleName, goal: contextGoal, met: true });
  metrics["writes.inflight64.singleReplica.latencyP50"] = metric({ value: single.latencyP50Ms, unit: "ms", peer: etcd.latencyP50Ms, peerName: singleName, goal: contextGoal, met: true });
  return metrics;
}

function failoverMetrics(measurements: Measurements): Record<string, Metric> {
  const ours = measurements.failover.vigil.map((run) => run.failoverMs);
  const peer = measurements.failover.etcd.map((run) => run.failoverMs);
  const peerName = `etcd 3.4, ${peer.length} runs (no pre-vote, its default)`;
  const p50 = median(ours);
  const peerP50 = median(peer);
  return {
    "failover.p50": metric({ value: p50, unit: "ms", peer: peerP50, peerName, goal: "<= 0.3x etcd", met: p50 <= 0.3 * peerP50 }),
    "failover.p99": metric({ value: percentile(ours, 0.99), unit: "ms", peer: percentile(peer, 0.99), peerName: `${peerName}; p99 of 5 runs is the slowest`, goal: contextGoal, met: true }),
  };
}

function capacityMetrics(measurements: Measurements): Record<string, Metric> {
  const capacity = measurements.capacity;
  const limit = measurements.sqliteLimits.reduce((sum, entry) => sum + entry.rowsPerSecond, 0) / Math.max(1, measurements.sqliteLimits.length);
  if (capacity === null || capacity.rounds.length === 0) {
    const peerName = `better-sqlite3 100 rows/tx; vigil not measured: ${measurements.capacityError ?? "no round"}`;
    return { "log.entriesPerSecond": metric({ value: 0, unit: "entries/s on 3 replicas", peer: limit, peerName, goal: ">= 0.5x the SQLite limit", met: false }) };
  }
  const rate = median(capacity.rounds.map((entry) => entry.entriesPerSecond));
  const fsyncs = median(capacity.rounds.map((entry) => entry.fsyncsPerEntry));
  const peerName = `better-sqlite3 WAL synchronous=FULL, 100 x ${sqliteRowBytes}-byte rows per transaction, same disk`;
  const metrics: Record<string, Metric> = {
    "log.entriesPerSecond": metric({ value: rate, unit: "entries/s on 3 replicas", peer: limit, peerName, goal: ">= 0.5x the SQLite limit", met: rate >= 0.5 * limit }),
    "log.fsyncsPerEntry": metric({ value: fsyncs, unit: "fsyncs/entry (leader)", peer: 0.01, peerName: "100 rows per transaction", goal: contextGoal, met: true }),
    "log.leaderCpuPerEntry": metric({ value: median(capacity.rounds.map((entry) => entry.leaderCpuUsPerEntry)), unit: "us CPU/entry (leader)", peer: null, peerName: "", goal: contextGoal, met: true }),
    "log.followerCpuPerEntry": metric({ value: median(capacity.rounds.map((entry) => entry.followerCpuUsPerEntry)), unit: "us CPU/entry (2 followers)", peer: null, peerName: "", goal: contextGoal, met: true }),
    "log.diskBytesPerEntry": metric({ value: median(capacity.rounds.map((entry) => entry.leaderDiskBytesPerEntry + entry.followerDiskBytesPerEntry)), unit: "bytes written to storage/entry (3 replicas)", peer: null, peerName: "", goal: contextGoal, met: true }),
    "log.entriesPerAppend": metric({ value: median(capacity.rounds.map((entry) => entry.entriesPerAppend)), unit: "entries/append message", peer: null, peerName: "", goal: contextGoal, met: true }),
    "log.entryBytes": metric({ value: capacity.entryBytes, unit: "bytes/entry (log_entries.data)", peer: payloadBytes, peerName: "payload bytes", goal: contextGoal, met: true }),
  };
  if (measurements.sqliteOneRow !== null) {
    metrics["disk.fsyncsPerSecond"] = metric({ value: measurements.sqliteOneRow.transactionsPerSecond, unit: "transactions/s (1 row each, FULL)", peer: null, peerName: "", goal: contextGoal, met: true });
  }
  return metrics;
}

function machine(): Record<string, unknown> {
  const cpus = os.cpus();
  return {
    cpus: cpus.length,
    model: cpus[0]?.model ?? "unknown",
    node: process.version,
    os: `${os.type()} ${os.release()}`,
    memoryBytes: os.totalmem(),
    loadAverage: os.loadavg().map((value) => round(value, 2)),
    etcd: etcdVersion(),
    tmpdir: os.tmpdir(),
  };
}

function markdown(metrics: Record<string, Metric>, measurements: Measurements): string {
  const cell = (value: number | null) => (value === null ? "—" : String(value));
  const lines = [
    "## replication: vigil vs etcd 3.4 (3 members on loopback, heartbeat 100 ms, election 1 s)",
    "",
    "| metric | vigil | etcd / peer | ratio | goal | met |",
    "|---|---|---|---|---|---|",
    ...Object.entries(metrics).map(([key, entry]) => `| ${key} | ${cell(entry.value)} ${entry.unit} | ${cell(entry.peer)} | ${cell(entry.ratio)} | ${entry.goal} | ${entry.goal === contextGoal ? "" : entry.met ? "yes" : "**no**"} |`),
    "",
    `Failover runs (ms): vigil ${measurements.failover.vigil.map((run) => run.failoverMs.toFixed(0)).join(", ")}; etcd ${measurements.failover.etcd.map((run) => run.failoverMs.toFixed(0)).join(", ")}.`,
    `Entry size in vigil's log: ${measurements.vigilEntryBytes.toFixed(0)} bytes for a ${payloadBytes}-byte SetConfig value (JSON envelope).`,
  ];
  if (measurements.capacity !== null) {
    const capacity = measurements.capacity;
    lines.push(
      `Log capacity rounds (entries/s): ${capacity.rounds.map((entry) => entry.entriesPerSecond.toFixed(0)).join(", ")} with ${capacity.window} proposals outstanding; ` +
        `entries per append message ${capacity.rounds.map((entry) => entry.entriesPerAppend.toFixed(1)).join(", ")}; ` +
        `leader loop stalls up to ${Math.max(...capacity.rounds.map((entry) => entry.leaderLoopDelayMaxMs)).toFixed(0)} ms; ` +
        `SQLite limit (rows/s): ${measurements.sqliteLimits.map((entry) => entry.rowsPerSecond.toFixed(0)).join(", ")}.`,
    );
    if (capacity.lostRounds.length > 0) lines.push(`Rounds lost to a leader step-down and measured again: ${capacity.lostRounds.length} (${capacity.lostRounds[0]}).`);
  }
  if (measurements.capacityError !== null) lines.push(`Log capacity not measured: ${measurements.capacityError}`);
  return `${lines.join("\n")}\n`;
}

async function main(): Promise<void> {
  if (!existsSync(etcdPath)) throw new Error(`${etcdPath} is missing: apt-get install etcd-server`);
  if (profile) mkdirSync(profileDir, { recursive: true });
  const startedAt = performance.now();
  const when = new Date().toISOString();
  const machineFacts = machine();
  const measurements: Measurements = { load: [], failover: { vigil: [], etcd: [] }, vigilEntryBytes: Number.NaN, sqliteLimits: [], sqliteOneRow: null, capacity: null, capacityError: null };
  await measureAgainstEtcd(measurements);
  log("the replicated log's own capacity");
  measurements.sqliteOneRow = measureSqliteLimit({ rowsPerTransaction: 1, durationMs: 1_000 });
  measureLimit(measurements);
  try {
    measurements.capacity = await measureLogCapacity({ ...settings.capacity, followerNodeOptions: vigildNodeOptions });
    for (const [index, entry] of measurements.capacity.rounds.entries()) {
      log(
        `log capacity round ${index + 1}: ${entry.entriesPerSecond.toFixed(0)} entries/s, ${entry.fsyncsPerEntry.toFixed(4)} fsyncs/entry, ` +
          `${entry.entriesPerAppend.toFixed(1)} entries/append, leader ${entry.leaderCpuUsPerEntry.toFixed(0)} us/entry, followers ${entry.followerCpuUsPerEntry.toFixed(0)} us/entry, ` +
          `${((entry.leaderDiskBytesPerEntry + entry.followerDiskBytesPerEntry) / 1024).toFixed(1)} KiB written/entry, ` +
          `leader loop stall max ${entry.leaderLoopDelayMaxMs.toFixed(0)} ms`,
      );
    }
  } catch (error) {
    measurements.capacityError = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
    log(`log capacity failed: ${measurements.capacityError}`);
  }
  measureLimit(measurements);
  machineFacts.loadAverageAfter = os.loadavg().map((value) => round(value, 2));
  const metrics = { ...failoverMetrics(measurements), ...loadMetrics(measurements), ...capacityMetrics(measurements) };
  const details = {
    settings,
    elapsedSeconds: round((performance.now() - startedAt) / 1000, 1),
    vigilEntryBytesThroughSetConfig: round(measurements.vigilEntryBytes, 1),
    load: measurements.load.map((entry) => ({ ...entry.key, round: entry.round, ...roundNumbers(entry.result) })),
    failover: measurements.failover,
    sqliteLimits: measurements.sqliteLimits,
    sqliteOneRowPerTransaction: measurements.sqliteOneRow,
    capacity: measurements.capacity,
    capacityError: measurements.capacityError,
  };
  mkdirSync(join(repositoryRoot, "bench", "results"), { recursive: true });
  writeFileSync(resultsPath, `${JSON.stringify({ name: "replication", when, machine: machineFacts, metrics, details }, null, 2)}\n`);
  process.stdout.write(markdown(metrics, measurements));
  process.stdout.write(`\nWrote ${resultsPath} in ${details.elapsedSeconds} s.\n`);
}

function roundNumbers(result: LoadMeasurement): Record<string, number | string | null> {
  const rounded: Record<string, number | string | null> = {};
  for (const [key, value] of Object.entries(result)) rounded[key] = typeof value === "number" ? round(value, 3) : value;
  return rounded;
}

const watchdog = setTimeout(() => {
  log(`abandoned after ${benchTimeoutMs / 1000} s`);
  killAllChildren();
  process.exit(1);
}, benchTimeoutMs);

try {
  await main();
  clearTimeout(watchdog);
  process.exit(0);
} catch (error) {
  log(`failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
  killAllChildren();
  process.exit(1);
}
