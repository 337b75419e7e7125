// Leadership churn under load (issue 12): 3 vigild on loopback carry a steady write load (64 in
// flight to the leader) while CPU hogs (busy loops) and an fsync hog load the machine, as other
// builds and tests do on a shared 2-core machine. Counts, over the window, what a follower that
// loses its leader leaves behind: role changes, pre-votes, terms, peer channels torn down by a
// keepalive timeout, and the moments a replica answered Status with no known leader.
// Writes bench/results/churn.json.
//
// Run: npm run bench -- churn     (after `npm run build`)
//   CHURN_SECONDS (60), CHURN_CPU_HOGS (8), CHURN_FSYNC_HOGS (1), CHURN_KEEP_LOGS=1 (keep the
//   replicas' logs and data dirs; their directory is printed)
import { spawn, type ChildProcess } from "node:child_process";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import os from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { systemClient } from "./replication/clients.js";
import { VigilCluster } from "./replication/clusters.js";
import { runLoad, type LoadMeasurement } from "./replication/load.js";
import { killAllChildren, sleep, trackChild } from "./replication/processes.js";
import { metric, round, type Metric } from "./replication/stats.js";

const seconds = Number(process.env.CHURN_SECONDS ?? 60);
const cpuHogs = Number(process.env.CHURN_CPU_HOGS ?? 8);
const fsyncHogs = Number(process.env.CHURN_FSYNC_HOGS ?? 1);
const statusIntervalMs = 100;
const statusDeadlineMs = 1_000;
const repositoryRoot = fileURLToPath(new URL("../../", import.meta.url));
const resultsPath = join(repositoryRoot, "bench", "results", "churn.json");
const contextGoal = "context (no goal)";

function log(message: string): void {
  process.stderr.write(`[churn] ${message}\n`);
}

/** Busy loops and an fsync loop, each its own process, killed when the benchmark ends. */
function startHogs(directory: string): ChildProcess[] {
  const hogs: ChildProcess[] = [];
  for (let position = 0; position < cpuHogs; position += 1) hogs.push(spawn(process.execPath, ["-e", "for (;;) {}"], { stdio: "ignore" }));
  const fsyncLoop = `const fs = require("node:fs"); const fd = fs.openSync(process.argv[1], "w"); const page = Buffer.alloc(16384, 7); for (let i = 0; ; i++) { fs.writeSync(fd, page, 0, page.length, (i % 256) * page.length); fs.fsyncSync(fd); }`;
  for (let position = 0; position < fsyncHogs; position += 1) hogs.push(spawn(process.execPath, ["-e", fsyncLoop, join(directory, `fsync-hog-${position}`)], { stdio: "ignore" }));
  for (const hog of hogs) trackChild(hog);
  return hogs;
}

interface LeaderlessSamples {
  samples: number;
  leaderless: number;
  unanswered: number;
  /** The longest run of consecutive leaderless answers from one replica, in ms of sampling. */
  longestLeaderlessMs: number;
}

/** Asks every replica for its leader every statusIntervalMs until `stop` resolves. */
async function sampleLeaders(cluster: VigilCluster, stop: Promise<void>): Promise<LeaderlessSamples> {
  const client = systemClient("vigil", cluster.endpoints());
  const result: LeaderlessSamples = { samples: 0, leaderless: 0, unanswered: 0, longestLeaderlessMs: 0 };
  const leaderlessSince = new Map<number, number>();
  let stopped = false;
  void stop.then(() => (stopped = true));
  while (!stopped) {
    const startedAt = performance.now();
    await Promise.all(
      cluster.members.map(async (_, index) => {
        result.samples += 1;
        try {
          const status = await client.status(index, statusDeadlineMs);
          if (status.leader === null) {
            result.leaderless += 1;
            const since = leaderlessSince.get(index) ?? startedAt;
            leaderlessSince.set(index, since);
            result.longestLeaderlessMs = Math.max(result.longestLeaderlessMs, performance.now() - since);
          } else {
            leaderlessSince.delete(index);
          }
        } catch {
          result.unanswered += 1;
        }
      }),
    );
    await sleep(Math.max(0, statusIntervalMs - (performance.now() - startedAt)));
  }
  client.close();
  return result;
}

interface LogCounts {
  preVotes: number;
  elections: number;
  leadersElected: number;
  leaderStepDowns: number;
  leaderConnectionClosed: number;
  keepaliveTimeouts: number;
  stalls: number;
  longestStallMs: number;
  highestTerm: number;
}

/** Counts the churn signs in the replicas' logs (pino JSON lines, plus grpc-js keepalive traces). */
function countLogs(logPaths: readonly string[]): LogCounts {
  const counts: LogCounts = { preVotes: 0, elections: 0, leadersElected: 0, leaderStepDowns: 0, leaderConnectionClosed: 0, keepaliveTimeouts: 0, stalls: 0, longestStallMs: 0, highestTerm: 0 };
  for (const path of logPaths) {
    for (const line of readFileSync(path, "utf8").split("\n")) {
      if (line.includes("Ping timeout passed without response")) counts.keepaliveTimeouts += 1;
      if (!line.startsWith("{")) continue;
      let entry: { msg?: string; term?: number; stalledMs?: number };
      try {
        entry = JSON.parse(line) as typeof entry;
      } catch {
        continue;
      }
      const message = entry.msg ?? "";
      if (message.endsWith("=> pre-candidate")) counts.preVotes += 1;
      if (message.endsWith("=> candidate")) counts.elections += 1;
      if (message.endsWith("=> leader")) counts.leadersElected += 1;
      if (message.startsWith("raft: leader =>")) counts.leaderStepDowns += 1;
      if (message.startsWith("connection from the leader closed")) counts.leaderConnectionClosed += 1;
      if (message.startsWith("event loop stalled")) {
        counts.stalls += 1;
        counts.longestStallMs = Math.max(counts.longestStallMs, entry.stalledMs ?? 0);
      }
      if (typeof entry.term === "number") counts.highestTerm = Math.max(counts.highestTerm, entry.term);
    }
  }
  return counts;
}

async function main(): Promise<void> {
  const loadBefore = os.loadavg();
  const cluster = await VigilCluster.create();
  // The replicas (not this process: grpc-js read its environment when it loaded) trace keepalive
  // pings, so a channel torn down by a ping timeout shows in their logs.
  process.env.GRPC_TRACE = "keepalive";
  process.env.GRPC_VERBOSITY = "DEBUG";
  cluster.launchAll();
  const leader = await cluster.waitForLeader();
  const countsAtStart = countLogs(cluster.members.map((member) => member.process!.logPath));
  const directory = join(cluster.members[0]!.dataDir, "..");
  const hogs = startHogs(directory);
  log(`${cpuHogs} CPU hogs, ${fsyncHogs} fsync hogs; ${seconds} s of writes (64 in flight) to ${cluster.members[leader]!.id}`);
  let loadResult: LoadMeasurement | null = null;
  let loadError: string | null = null;
  let stopSampling!: () => void;
  const samplingStopped = new Promise<void>((resolve) => (stopSampling = resolve));
  const sampling = sampleLeaders(cluster, samplingStopped);
  try {
    loadResult = await runLoad({ system: "vigil", endpoint: cluster.endpoints()[leader]!, inFlight: 64, warmUpMs: 1_000, durationMs: seconds * 1_000, deadlineMs: 5_000 }, cluster.pids());
  } catch (error) {
    loadError = error instanceof Error ? error.message : String(error);
  }
  const loadDuring = os.loadavg();
  stopSampling();
  const leaderless = await sampling;
  for (const hog of hogs) hog.kill("SIGKILL");
  // Counted before the replicas stop: a stopping leader's closed streams are not churn.
  const end = countLogs(cluster.members.map((member) => member.process!.logPath));
  await cluster.stop({ keepData: true });
  const counts = Object.fromEntries(Object.entries(end).map(([key, value]) => [key, key === "longestStallMs" || key === "highestTerm" ? value : value - countsAtStart[key as keyof LogCounts]])) as unknown as LogCounts;
  if (process.env.CHURN_KEEP_LOGS === "1") log(`kept ${directory}`);
  else cluster.removeData();
  log(`load average ${loadDuring.map((value) => value.toFixed(1)).join(" / ")}; ${JSON.stringify(counts)}; leaderless ${leaderless.leaderless}/${leaderless.samples} status answers (longest ${leaderless.longestLeaderlessMs.toFixed(0)} ms), ${leaderless.unanswered} unanswered; ${loadResult?.writesPerSecond.toFixed(0) ?? "?"} writes/s, ${loadResult?.failed ?? "?"} failed${loadError === null ? "" : ` (${loadError})`}`);
  const context = (value: number, unit: string) => metric({ value, unit, peer: null, peerName: "", goal: contextGoal, met: true });
  const perMinute = (count: number) => round((count * 60) / seconds, 2);
  const metrics: Record<string, Metric> = {
    "churn.preVotesPerMinute": context(perMinute(counts.preVotes), "per minute"),
    "churn.electionsPerMinute": context(perMinute(counts.elections), "per minute"),
    "churn.leaderStepDowns": context(counts.leaderStepDowns, "count"),
    "churn.keepaliveTimeouts": context(counts.keepaliveTimeouts, "count"),
    "churn.leaderlessShare": context(round(leaderless.leaderless / Math.max(1, leaderless.samples), 4), "share of Status answers"),
    "churn.longestLeaderlessMs": context(round(leaderless.longestLeaderlessMs, 0), "ms"),
    "churn.writesPerSecond": context(round(loadResult?.writesPerSecond ?? Number.NaN, 0), "writes/s"),
  };
  mkdirSync(join(repositoryRoot, "bench", "results"), { recursive: true });
  const output = {
    name: "churn",
    when: new Date().toISOString(),
    machine: { cpus: os.cpus().length, model: os.cpus()[0]?.model ?? "unknown", node: process.version, loadAverage: { before: loadBefore, after: loadDuring } },
    settings: { seconds, cpuHogs, fsyncHogs, inFlight: 64, statusIntervalMs },
    metrics,
    details: { counts, leaderless, load: loadResult, loadError },
  };
  writeFileSync(resultsPath, `${JSON.stringify(output, null, 2)}\n`);
  log(`wrote ${resultsPath}`);
}

main().then(
  () => {
    killAllChildren();
    process.exit(0);
  },
  (error: unknown) => {
    log(error instanceof Error ? (error.stack ?? error.message) : String(error));
    killAllChildren();
    process.exit(1);
  },
);
