// Proves a simulation is a pure function of its seed: the same scenario or random seed run twice in
// one process gives the same trace hash and the same log, byte for byte; another seed differs.
import assert from "node:assert/strict";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, it } from "node:test";
import { runRandom } from "./random.js";
import { runScenario } from "./scenario.js";

const scenariosRoot = join(fileURLToPath(new URL(".", import.meta.url)), "..", "..", "..", "test", "scenarios");

describe("determinism", () => {
  it("runs a scenario twice to the same trace and log", async () => {
    const folder = join(scenariosRoot, "control-plane-crash-mid-burst");
    const first = await runScenario(folder, { writeMissing: false });
    const second = await runScenario(folder, { writeMissing: false });
    assert.equal(first.outcome, "passed", first.message);
    assert.equal(second.traceHash, first.traceHash);
    assert.deepEqual(second.lines, first.lines);
  });

  it("runs a migration (transfer, switch-over, events on both hosts) twice to the same trace", async () => {
    const folder = join(scenariosRoot, "sim-migrate-outside-vigil");
    const first = await runScenario(folder, { writeMissing: false });
    const second = await runScenario(folder, { writeMissing: false });
    assert.equal(first.outcome, "passed", first.message);
    assert.equal(second.traceHash, first.traceHash);
  });

  it("runs a random seed twice to the same trace, and another seed to a different one", async () => {
    const first = await runRandom({ seed: 7 });
    const second = await runRandom({ seed: 7 });
    const other = await runRandom({ seed: 8 });
    assert.equal(second.traceHash, first.traceHash);
    assert.equal(second.events, first.events);
    assert.notEqual(other.traceHash, first.traceHash);
  });
});
