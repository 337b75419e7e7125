// Proves the whole cluster keeps the invariants of DESIGN §10 under seeded random faults and
// operator actions, and converges once healed, for 500 seeds (VIGIL_SIM_SEEDS overrides the count).
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { replayCommand, runRandom } from "./random.js";

const seedCount = Number(process.env.VIGIL_SIM_SEEDS ?? 500);
const chunkSeeds = 50;

describe("random seeds", () => {
  for (let from = 1; from <= seedCount; from += chunkSeeds) {
    const through = Math.min(seedCount, from + chunkSeeds - 1);
    it(`seeds ${from}..${through} keep every invariant and converge`, async () => {
      const failures: string[] = [];
      for (let seed = from; seed <= through; seed += 1) {
        const result = await runRandom({ seed });
        const failure = result.failure;
        if (failure !== null) failures.push(`seed ${seed} step ${failure.step} (${failure.phase}): ${failure.invariant}: ${failure.detail}\n  replay: ${replayCommand(seed, new Set())}`);
      }
      assert.deepEqual(failures, []);
    });
  }
});
