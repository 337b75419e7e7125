// Proves the chaos fault schedule is a pure function of the seed and keeps its rules: one fault per
// process or link at a time, at most one replica down or paused, every fault healed in its window.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { faultFootprint, faultWindow, type ScheduledFault } from "./schedule.js";

const topology = { replicas: ["cp1", "cp2", "cp3"], hosts: ["h1", "h2", "h3"] };
const options = { windowMs: 30_000, meanGapMs: 2_500 };

function overlapping(faults: readonly ScheduledFault[], key: string): [ScheduledFault, ScheduledFault] | null {
  const holding = faults.filter((scheduled) => faultFootprint(scheduled.fault, topology).keys.includes(key));
  for (let index = 1; index < holding.length; index++) {
    const previous = holding[index - 1]!;
    if (previous.atMs + faultFootprint(previous.fault, topology).durationMs > holding[index]!.atMs) return [previous, holding[index]!];
  }
  return null;
}

describe("chaos fault schedule", () => {
  it("repeats exactly for a seed and window, and differs across seeds and windows", () => {
    assert.deepEqual(faultWindow(7, 3, topology, options), faultWindow(7, 3, topology, options));
    assert.notDeepEqual(faultWindow(7, 3, topology, options), faultWindow(8, 3, topology, options));
    assert.notDeepEqual(faultWindow(7, 3, topology, options), faultWindow(7, 4, topology, options));
  });

  it("keeps its rules over many seeds", () => {
    const kinds = new Set<string>();
    for (let seed = 1; seed <= 200; seed++) {
      const faults = faultWindow(seed, 0, topology, options);
      assert.ok(faults.length >= 4, `seed ${seed}: ${faults.length} faults`);
      const keys = new Set(faults.flatMap((scheduled) => faultFootprint(scheduled.fault, topology).keys));
      for (const key of keys) assert.equal(overlapping(faults, key), null, `seed ${seed}: two faults hold ${key} at once`);
      for (const scheduled of faults) {
        kinds.add(scheduled.fault.kind);
        assert.ok(scheduled.atMs + faultFootprint(scheduled.fault, topology).durationMs <= options.windowMs, `seed ${seed}: a fault outlives its window`);
      }
    }
    assert.deepEqual([...kinds].sort(), ["kill-agent", "kill-replica", "link", "partition", "pause-agent", "pause-replica", "reset-link", "transfer-primary"]);
  });
});
