#!/usr/bin/env node
// The benchmark runner (DESIGN §11 "Tooling contract").
//   npm run bench -- NAME [ARGS...]   runs dist/bench/NAME.js, which writes bench/results/NAME.json
//   npm run bench                     runs every dist/bench/*.js in turn, then writes
//                                     bench/results/REPORT.md from every JSON in bench/results/
//   npm run bench -- report           only writes REPORT.md from the JSON already there
// Benchmarks are compiled TypeScript: run `npm run build` first.
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const distBench = join(root, "dist", "bench");
const resultsDir = join(root, "bench", "results");

function fail(message, code = 1) {
  process.stderr.write(`bench: ${message}\n`);
  process.exit(code);
}

function benchmarkNames() {
  if (!existsSync(distBench)) fail("dist/bench does not exist; run `npm run build` first");
  return readdirSync(distBench)
    .filter((file) => file.endsWith(".js"))
    .map((file) => basename(file, ".js"))
    .sort();
}

/** Runs one benchmark with the output going straight to the terminal; returns its exit code. */
function run(name, args) {
  const script = join(distBench, `${name}.js`);
  if (!existsSync(script)) {
    const known = existsSync(distBench) ? benchmarkNames().join(", ") : "none";
    fail(`no benchmark "${name}" (${script} is missing; run \`npm run build\` first). Known: ${known}`, 2);
  }
  process.stderr.write(`bench: running ${name}\n`);
  const result = spawnSync(process.execPath, [script, ...args], { stdio: "inherit", cwd: root });
  if (result.error) fail(`${name}: ${result.error.message}`);
  return result.status ?? 1;
}

function cell(value) {
  if (value === null || value === undefined) return "—";
  return typeof value === "number" ? String(value) : String(value).replaceAll("|", "\\|");
}

/** Whether a metric carries a verdict: one whose goal is empty, "—" or "context …" is shown for context only. */
function hasGoal(goal) {
  return typeof goal === "string" && goal !== "" && goal !== "—" && !goal.startsWith("context");
}

/**
 * The goals of issue 12, each with the benchmark and metric that judges it. A goal whose benchmark
 * has not run (or does not exist yet) is listed as not measured, so a missing figure is visible.
 */
const goals = [
  { goal: "Ingest ≥ 25,000 events/s and ≥ 10x etcd", benchmark: "ingest", metric: "ingest.eventsPerSecond" },
  { goal: "Ingest p99 emit-to-ack ≤ 50 ms at the offered rate", benchmark: "ingest", metric: "ingest.paced.latencyP99" },
  { goal: "Failover p50 ≤ 0.3x etcd's", benchmark: "replication", metric: "failover.p50" },
  { goal: "Public writes ≥ 1.0x etcd (64 in flight)", benchmark: "replication", metric: "writes.inflight64.writesPerSecond" },
  { goal: "Log capacity ≥ 0.5x the SQLite batch limit", benchmark: "replication", metric: "log.entriesPerSecond" },
  { goal: "≤ 100 KB per agent (10,000 agents, the replica holding the streams)", benchmark: "scale", metric: "scale.memoryPerAgent.holder" },
  { goal: "≤ 100 KB per agent (ingest, connection share)", benchmark: "ingest", metric: "ingest.memoryPerAgent" },
  { goal: "FFI ≤ 1.0x python3-libvirt (virConnectIsAlive)", benchmark: "ffi", metric: "virConnectIsAlive.nsPerCall" },
  { goal: "FFI ≤ 1.0x python3-libvirt (virDomainGetState)", benchmark: "ffi", metric: "virDomainGetState.nsPerCall" },
  { goal: "HA reaction ≤ 5 s for 1,000 VMs (the largest ha.maxConcurrentRestarts tried)", benchmark: "ha", metric: "ha.reactionSeconds" },
  { goal: "HA reaction ≤ 5 s for 1,000 VMs (the default ha.maxConcurrentRestarts, 4)", benchmark: "ha", metric: "ha.c4.reactionSeconds" },
  { goal: "Sync cycle for 200,000 VMs ≤ 1 s CPU", benchmark: "scale", metric: "scale.syncCycleCpu" },
];

/** The machine line of a result: CPUs, model, Node and the load average around the run. */
function machineLine(machine) {
  const load = machine.loadAverage ?? machine.loadAverage1m;
  const loadText = Array.isArray(load) ? load.join(" / ") : load && typeof load === "object" ? `${cell(Array.isArray(load.before) ? load.before[0] : load.before)} before, ${cell(Array.isArray(load.after) ? load.after[0] : load.after)} after` : cell(load);
  const after = Array.isArray(machine.loadAverageAfter) ? `, after ${machine.loadAverageAfter.join(" / ")}` : "";
  return `${cell(machine.cpus)} CPUs, ${cell(machine.model ?? machine.cpuModel)}, Node ${cell(machine.node)}, load average ${loadText}${after}`;
}

function readResults() {
  const results = new Map();
  for (const file of readdirSync(resultsDir).filter((entry) => entry.endsWith(".json")).sort()) {
    try {
      results.set(basename(file, ".json"), JSON.parse(readFileSync(join(resultsDir, file), "utf8")));
    } catch (error) {
      results.set(basename(file, ".json"), { unreadable: error.message });
    }
  }
  return results;
}

function goalTable(results) {
  const rows = ["| goal | value | peer | ratio | met | from |", "|---|---|---|---|---|---|"];
  for (const { goal, benchmark, metric } of goals) {
    const entry = results.get(benchmark)?.metrics?.[metric];
    if (entry === undefined) {
      rows.push(`| ${cell(goal)} | not measured | — | — | — | ${benchmark} has no ${metric} |`);
      continue;
    }
    const peer = entry.peer === null || entry.peer === undefined ? "—" : `${cell(entry.peer)} (${cell(entry.peerName)})`;
    rows.push(`| ${cell(goal)} | ${cell(entry.value)} ${cell(entry.unit)} | ${peer} | ${cell(entry.ratio)} | ${entry.met === true ? "yes" : "**no**"} | ${benchmark} ${cell(results.get(benchmark).when)} |`);
  }
  return rows;
}

/** The goals first, then one table per benchmark JSON: metric, value+unit, peer (peerName), ratio, goal, met. */
function report() {
  mkdirSync(resultsDir, { recursive: true });
  const results = readResults();
  const sections = ["# Benchmark report", "", "Figures from a shared 2-core machine: compare each with its peer from the same run, not across runs.", "", "## Goals", "", ...goalTable(results), ""];
  for (const [name, result] of results) {
    if (result.unreadable !== undefined) {
      sections.push(`## ${name}`, "", `Unreadable: ${result.unreadable}`, "");
      continue;
    }
    if (result === null || typeof result !== "object" || typeof result.metrics !== "object" || result.metrics === null) continue;
    const machine = result.machine ?? {};
    sections.push(`## ${cell(result.name ?? name)}`, "", `${cell(result.when)} — ${machineLine(machine)}`, "");
    sections.push("| metric | value | peer | ratio | goal | met |", "|---|---|---|---|---|---|");
    for (const [key, entry] of Object.entries(result.metrics)) {
      const peer = entry.peer === null || entry.peer === undefined ? "—" : `${cell(entry.peer)} (${cell(entry.peerName)})`;
      const met = !hasGoal(entry.goal) ? "—" : entry.met === true ? "yes" : entry.met === false ? "**no**" : "—";
      sections.push(`| ${cell(key)} | ${cell(entry.value)} ${cell(entry.unit)} | ${peer} | ${cell(entry.ratio)} | ${cell(entry.goal)} | ${met} |`);
    }
    sections.push("");
  }
  const path = join(resultsDir, "REPORT.md");
  writeFileSync(path, `${sections.join("\n")}\n`);
  process.stderr.write(`bench: wrote ${path}\n`);
}

const [name, ...args] = process.argv.slice(2);
if (name === "report") {
  report();
  process.exit(0);
}
if (name !== undefined && !name.startsWith("-")) {
  process.exit(run(name, args));
}
const failed = [];
for (const benchmark of benchmarkNames()) {
  if (run(benchmark, name === undefined ? [] : [name, ...args]) !== 0) failed.push(benchmark);
}
report();
if (failed.length > 0) fail(`failed: ${failed.join(", ")}`);
