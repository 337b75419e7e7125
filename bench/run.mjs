#!/usr/bin/env node
// The benchmark runner (DESIGN §11 "Tooling contract").
//   npm run bench -- NAME [ARGS...]   runs dist/bench/NAME.js, which writes bench/results/NAME.json
//   npm run bench                     runs every dist/bench/*.js in turn, then writes
//                                     bench/results/REPORT.md from every JSON in bench/results/
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

/** One table per benchmark JSON: metric, value+unit, peer (peerName), ratio, goal, met. */
function report() {
  mkdirSync(resultsDir, { recursive: true });
  const sections = ["# Benchmark report", ""];
  const files = readdirSync(resultsDir).filter((file) => file.endsWith(".json")).sort();
  for (const file of files) {
    let result;
    try {
      result = JSON.parse(readFileSync(join(resultsDir, file), "utf8"));
    } catch (error) {
      sections.push(`## ${file}`, "", `Unreadable: ${error.message}`, "");
      continue;
    }
    if (result === null || typeof result !== "object" || typeof result.metrics !== "object" || result.metrics === null) continue;
    const machine = result.machine ?? {};
    sections.push(`## ${cell(result.name ?? basename(file, ".json"))}`, "", `${cell(result.when)} — ${cell(machine.cpus)} CPUs, ${cell(machine.model)}, Node ${cell(machine.node)}`, "");
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
if (name !== undefined && !name.startsWith("-")) {
  process.exit(run(name, args));
}
const failed = [];
for (const benchmark of benchmarkNames()) {
  if (run(benchmark, name === undefined ? [] : [name, ...args]) !== 0) failed.push(benchmark);
}
report();
if (failed.length > 0) fail(`failed: ${failed.join(", ")}`);
