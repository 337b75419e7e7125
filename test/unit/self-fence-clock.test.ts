// Proves the agent's pure self-fence clock: armed only with something to protect, fenced exactly at
// contact + timeout (watchdog: minus the device's timeout), contact counted from the send time, a
// late answer does not save the agent, watchdog mode latches, destroy-vms repeats and ends on
// contact, and an idle connected agent asks for a probe once a third of the timeout is quiet.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { initialSelfFenceState, selfFenceTickMs, stepSelfFence, type SelfFenceEffect, type SelfFenceInput, type SelfFenceSettings, type SelfFenceState } from "../../agent/self-fence-clock.js";

const destroyVms: SelfFenceSettings = { mode: "destroy-vms", timeoutMs: 30_000, watchdogTimeoutMs: 10_000 };
const watchdog: SelfFenceSettings = { mode: "watchdog", timeoutMs: 30_000, watchdogTimeoutMs: 10_000 };

/** Runs inputs at given times; returns the final state and the effects by time. */
function run(settings: SelfFenceSettings, script: [number, SelfFenceInput][], start: SelfFenceState = initialSelfFenceState) {
  let state = start;
  const log: [number, SelfFenceEffect["kind"]][] = [];
  for (const [atMs, input] of script) {
    const result = stepSelfFence(state, input, atMs, settings);
    state = result.state;
    for (const effect of result.effects) log.push([atMs, effect.kind]);
  }
  return { state, log };
}

const tick = (connected = false): SelfFenceInput => ({ kind: "tick", connected });

describe("self-fence clock", () => {
  it("stays unarmed without running domains or contact: a host booted while the control plane is down never fences itself", () => {
    const { state, log } = run(destroyVms, [[0, tick()], [60_000, tick()], [600_000, tick()]]);
    assert.equal(state.contactMs, null);
    assert.deepEqual(log, []);
  });

  it("armed at start, destroys at exactly start + timeout and again on every tick while silent", () => {
    const { log } = run(destroyVms, [[1_000, { kind: "arm" }], [30_999, tick()], [31_000, tick()], [32_000, tick()]]);
    assert.deepEqual(log, [[31_000, "destroy-vms"], [32_000, "destroy-vms"]]);
  });

  it("counts contact from the send time and moves the deadline with each contact", () => {
    const { state, log } = run(destroyVms, [
      [0, { kind: "arm" }],
      [20_000, { kind: "contact", sentAtMs: 19_000 }],
      [48_999, tick()],
      [49_000, tick()],
    ]);
    assert.equal(state.fenced, true);
    assert.deepEqual(log, [[49_000, "destroy-vms"]], "deadline = send time 19 s + 30 s");
  });

  it("checks the deadline before a late answer: contact proven after the deadline still fences", () => {
    const { log } = run(destroyVms, [[0, { kind: "arm" }], [30_500, { kind: "contact", sentAtMs: 10_000 }], [31_000, tick()]]);
    assert.deepEqual(log, [[30_500, "destroy-vms"], [30_500, "contact-restored"]]);
  });

  it("destroy-vms ends on contact and fences again after the next silence", () => {
    const { log } = run(destroyVms, [
      [0, { kind: "arm" }],
      [30_000, tick()],
      [35_000, { kind: "contact", sentAtMs: 34_000 }],
      [40_000, tick()],
      [64_000, tick()],
    ]);
    assert.deepEqual(log, [[30_000, "destroy-vms"], [35_000, "contact-restored"], [64_000, "destroy-vms"]]);
  });

  it("watchdog: feeds on every tick, stops at contact + timeout − watchdog timeout, and never resumes", () => {
    const { state, log } = run(watchdog, [
      [0, { kind: "arm" }],
      [10_000, tick()],
      [19_999, tick()],
      [20_000, tick()],
      [21_000, { kind: "contact", sentAtMs: 20_500 }],
      [22_000, tick()],
    ]);
    assert.deepEqual(log, [[10_000, "feed-watchdog"], [19_999, "feed-watchdog"], [20_000, "stop-feeding"]]);
    assert.equal(state.fenced, true, "latched: the primary may already restart the VMs elsewhere");
  });

  it("asks for a contact probe when connected and quiet for a third of the timeout, at most once per third", () => {
    const { log } = run(destroyVms, [
      [0, { kind: "contact", sentAtMs: 0 }],
      [9_999, tick(true)],
      [10_000, tick(true)],
      [15_000, tick(true)],
      [20_000, tick(true)],
      [25_000, tick(false)],
    ]);
    assert.deepEqual(log, [[10_000, "probe"], [20_000, "probe"]]);
  });

  it("ticks often enough to feed the watchdog and to be late by little", () => {
    assert.equal(selfFenceTickMs(watchdog), 1_000);
    assert.equal(selfFenceTickMs({ ...watchdog, timeoutMs: 2_000, watchdogTimeoutMs: 1_000 }), 200);
    assert.equal(selfFenceTickMs({ ...destroyVms, timeoutMs: 300 }), 50);
  });
});
