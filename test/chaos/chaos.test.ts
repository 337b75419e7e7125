// Proves DESIGN §10 with real processes under faults: 3 vigild replicas and 3 agents (libvirt test
// driver) behind fault proxies take kill -9, SIGSTOP/SIGCONT, link faults and partitions from a
// fixed seeded schedule while clients call random replicas; then the config registers' history
// must be linearizable, every acknowledged agent event applied exactly once on every replica, no
// VM alive on two hosts, one leader and one primary per term, and every call and every
// convergence within its bound. A failure names the seed: `npm run chaos -- --seed S`.
import assert from "node:assert/strict";
import { tmpdir } from "node:os";
import { after, describe, it } from "node:test";
import { defaultChaosOptions, runChaos, type ChaosOptions } from "./run.js";

async function chaosRun(seed: number, durationMs: number): Promise<void> {
  const lines: string[] = [];
  const options: ChaosOptions = { ...defaultChaosOptions, seed, durationMs, failureLogsDirectory: tmpdir(), log: (line) => lines.push(line) };
  const result = await runChaos(options, { onWorld: (world) => after(() => world.stop()) });
  const report = [`seed ${seed}:`, ...lines, "--- summary ---", ...result.summary, "--- violations ---", ...result.violations].join("\n");
  process.stdout.write(`${report}\n`);
  assert.deepEqual(result.violations, [], report);
}

describe("chaos with real processes", () => {
  it("keeps every property through two fault windows (seed 1)", async () => {
    await chaosRun(1, 2 * defaultChaosOptions.windowMs);
  });

  it("keeps every property through one fault window (seed 2)", async () => {
    await chaosRun(2, defaultChaosOptions.windowMs);
  });
});
