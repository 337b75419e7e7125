#!/usr/bin/env node
// npm run chaos -- [--seed S] [--duration 30m] [--window 30s] [--hosts N] [--logs DIR]
// A chaos run with real processes (run.ts). Prints the seed first and a summary last; exits 1 when
// a property was violated (the report says which, with the seed that replays the schedule).
import { tmpdir } from "node:os";
import { parseArgs } from "node:util";
import { defaultChaosOptions, runChaos } from "./run.js";

function durationMs(text: string, flag: string): number {
  const match = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(text.trim());
  if (match === null) {
    process.stderr.write(`--${flag}: "${text}" is not a duration (e.g. 90s, 30m, 1h)\n`);
    process.exit(2);
  }
  const unitMs = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000 }[match[2] as "ms" | "s" | "m" | "h" | undefined ?? "s"];
  return Math.round(Number(match[1]) * unitMs);
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      seed: { type: "string" },
      duration: { type: "string", default: "5m" },
      window: { type: "string", default: `${defaultChaosOptions.windowMs / 1000}s` },
      hosts: { type: "string", default: String(defaultChaosOptions.hosts) },
      logs: { type: "string", default: tmpdir() },
    },
    strict: true,
  });
  const seed = values.seed === undefined ? Math.floor(Math.random() * 1_000_000) : Number(values.seed);
  const hosts = Number(values.hosts);
  if (!Number.isInteger(seed) || seed < 0) {
    process.stderr.write(`--seed: "${values.seed}" is not a whole number >= 0\n`);
    process.exit(2);
  }
  if (!Number.isInteger(hosts) || hosts < 1 || hosts > 20) {
    process.stderr.write(`--hosts: "${values.hosts}" is not a whole number in 1..20\n`);
    process.exit(2);
  }
  const options = { ...defaultChaosOptions, seed, durationMs: durationMs(values.duration!, "duration"), windowMs: durationMs(values.window!, "window"), hosts, failureLogsDirectory: values.logs!, log: (line: string) => process.stdout.write(`${line}\n`) };
  if (options.windowMs < 10_000) {
    process.stderr.write("--window must be at least 10s (faults heal inside the window's last 8 s)\n");
    process.exit(2);
  }
  process.stdout.write(`chaos seed ${seed}, ${options.durationMs / 1000} s of faults in ${options.windowMs / 1000} s windows, ${hosts} agents\n`);
  // `kill -USR2 PID` prints what keeps this process alive (a run that does not end is a harness bug).
  process.on("SIGUSR2", () => process.stdout.write(`active resources: ${JSON.stringify(process.getActiveResourcesInfo())}\n`));
  const result = await runChaos(options);
  process.stdout.write(`\n--- summary (seed ${seed}) ---\n${result.summary.join("\n")}\n`);
  if (result.violations.length > 0) {
    process.stdout.write(`\n--- ${result.violations.length} violations (replay the schedule: npm run chaos -- --seed ${seed} --duration ${values.duration}) ---\n${result.violations.join("\n")}\n`);
    process.exit(1);
  }
  process.stdout.write("no violations\n");
  process.exit(0);
}

void main();
