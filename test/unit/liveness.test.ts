// Proves the pure liveness decision: saving throws, one keepalive resets, every fence guard, each fence method's confirmation, and bounded retry backoff.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { afterFenceAttempt, decideLiveness, emptyLivenessMemory, fenceAttemptSettled, fenceRetryDelayMs, missedKeepalives, type HostFacts, type LivenessConfig, type LivenessInput } from "../../controlplane/primary/liveness.js";

const config: LivenessConfig = { keepaliveIntervalMs: 5_000, savingThrows: 6, connectivityThreshold: 0.5, selfFenceMarginMs: 10_000, fenceRetryBackoffMs: 10_000, fenceRetryBackoffMaxMs: 300_000 };

function host(overrides: Partial<HostFacts> = {}): HostFacts {
  return { hostId: "h1", liveness: "alive", maintenance: false, contactMs: 0, connected: true, fenceMethod: "fence-agent", selfFence: { mode: "off", timeoutMs: 0 }, fenceAttempts: 0, livenessSinceMs: 0, ...overrides };
}

/** Three hosts: h1 as given, h2 and h3 heard from just now. */
function input(nowMs: number, h1: Partial<HostFacts>, overrides: Partial<LivenessInput> = {}): LivenessInput {
  return { nowMs, hosts: [host(h1), host({ hostId: "h2", contactMs: nowMs }), host({ hostId: "h3", contactMs: nowMs })], config, clusterMaintenance: false, graceBlocker: null, ...overrides };
}

const transitions = (decision: ReturnType<typeof decideLiveness>) => decision.effects.filter((effect) => effect.kind === "transition").map((effect) => effect.kind === "transition" && `${effect.hostId}:${effect.to}`);

describe("liveness", () => {
  it("counts missed keepalives with one interval of slack", () => {
    assert.equal(missedKeepalives(0, 9_999, 5_000), 0);
    assert.equal(missedKeepalives(0, 10_000, 5_000), 1);
    assert.equal(missedKeepalives(0, 35_000, 5_000), 6);
  });

  it("is suspect after one miss and dead only after the saving throws", () => {
    assert.deepEqual(transitions(decideLiveness(emptyLivenessMemory(), input(10_000, { contactMs: 0, connected: false }))), ["h1:suspect"]);
    assert.deepEqual(transitions(decideLiveness(emptyLivenessMemory(), input(34_999, { liveness: "suspect", contactMs: 0, connected: false }))), []);
    assert.deepEqual(transitions(decideLiveness(emptyLivenessMemory(), input(35_000, { liveness: "suspect", contactMs: 0, connected: false }))), ["h1:dead"]);
  });

  it("a suspect host heard again within its saving throws is alive", () => {
    assert.deepEqual(transitions(decideLiveness(emptyLivenessMemory(), input(30_000, { liveness: "suspect", contactMs: 29_000 }))), ["h1:alive"]);
  });

  it("a fenced host is alive again only by a keepalive later than its fence", () => {
    const fenced = { liveness: "fenced" as const, livenessSinceMs: 50_000 };
    assert.deepEqual(transitions(decideLiveness(emptyLivenessMemory(), input(51_000, { ...fenced, contactMs: 51_000 }))), []);
    assert.deepEqual(transitions(decideLiveness(emptyLivenessMemory(), input(57_000, { ...fenced, contactMs: 56_000 }))), ["h1:alive"]);
  });

  it("a reset counter never revives a dead or fenced host that is not connected", () => {
    for (const liveness of ["dead", "fenced", "fence-failed"] as const) {
      const decision = decideLiveness(emptyLivenessMemory(), input(1_000, { liveness, contactMs: 1_000, connected: false }, { graceBlocker: "grace" }));
      assert.deepEqual(transitions(decision), [], liveness);
    }
  });

  it("fences a dead host through its device, and counts it fenced only when confirmed", () => {
    const first = decideLiveness(emptyLivenessMemory(), input(40_000, { liveness: "dead", connected: false }));
    assert.deepEqual(transitions(first), ["h1:fencing"]);
    assert.ok(first.effects.some((effect) => effect.kind === "power-off" && effect.attempt === 1));
    // While the attempt is in flight nothing else happens, even though the state says fencing.
    assert.deepEqual(decideLiveness(first.memory, input(41_000, { liveness: "fencing", connected: false, fenceAttempts: 1 })).effects, []);
    const failed = afterFenceAttempt(first.memory, { hostId: "h1", attempt: 1, confirmedOff: false, detail: "status on", nowMs: 42_000, missedKeepalives: 7 }, config);
    assert.deepEqual(transitions(failed), ["h1:fence-failed"]);
    assert.match(failed.effects[0]!.kind === "transition" ? failed.effects[0]!.reason : "", /not restarted/);
    const settled = fenceAttemptSettled(failed.memory, "h1");
    // The retry waits for its backoff (10 s after the first failure).
    assert.deepEqual(decideLiveness(settled, input(51_999, { liveness: "fence-failed", connected: false, fenceAttempts: 1 })).effects, []);
    const retry = decideLiveness(settled, input(52_000, { liveness: "fence-failed", connected: false, fenceAttempts: 1 }));
    assert.ok(retry.effects.some((effect) => effect.kind === "power-off" && effect.attempt === 2));
    const confirmed = afterFenceAttempt(retry.memory, { hostId: "h1", attempt: 2, confirmedOff: true, detail: "off", nowMs: 54_000, missedKeepalives: 9 }, config);
    assert.deepEqual(transitions(confirmed), ["h1:fenced"]);
  });

  it("backs off exponentially up to the bound", () => {
    assert.deepEqual([1, 2, 3, 6, 30].map((attempt) => fenceRetryDelayMs(attempt, config)), [10_000, 20_000, 40_000, 300_000, 300_000]);
  });

  it("suppresses fencing in maintenance, in the grace and past the connectivity threshold, once per reason", () => {
    const dead = { liveness: "dead" as const, connected: false };
    const cases: [string, LivenessInput][] = [
      ["cluster is in maintenance", input(40_000, dead, { clusterMaintenance: true })],
      ["h1 is in maintenance", input(40_000, { ...dead, maintenance: true })],
      ["grace", input(40_000, dead, { graceBlocker: "the takeover grace is running" })],
      ["went silent within one keepalive window", { ...input(40_000, dead), hosts: [host({ ...dead }), host({ hostId: "h2", contactMs: 3_000, connected: false }), host({ hostId: "h3", contactMs: 40_000 })] }],
    ];
    for (const [reason, caseInput] of cases) {
      const decision = decideLiveness(emptyLivenessMemory(), caseInput);
      assert.equal(decision.effects.filter((effect) => effect.kind === "power-off").length, 0, reason);
      const suppressed = decision.effects.find((effect) => effect.kind === "suppress" && effect.hostId === "h1");
      assert.match(suppressed?.kind === "suppress" ? suppressed.reason : "", new RegExp(reason), reason);
      // The same reason is not logged again.
      assert.equal(decideLiveness(decision.memory, caseInput).effects.filter((effect) => effect.hostId === "h1").length, 0, reason);
    }
  });

  it("one silent host out of two is not the control plane's network", () => {
    const decision = decideLiveness(emptyLivenessMemory(), { ...input(40_000, { liveness: "dead", connected: false }), hosts: [host({ liveness: "dead", connected: false }), host({ hostId: "h2", contactMs: 40_000 })] });
    assert.ok(decision.effects.some((effect) => effect.kind === "power-off"));
  });

  it("self-fence counts only after the agent's timeout plus the margin since the last contact", () => {
    const self = { liveness: "dead" as const, connected: false, contactMs: 0, fenceMethod: "self" as const, selfFence: { mode: "watchdog", timeoutMs: 60_000 } };
    assert.deepEqual(transitions(decideLiveness(emptyLivenessMemory(), input(40_000, self))), ["h1:fencing"]);
    assert.deepEqual(transitions(decideLiveness(emptyLivenessMemory(), input(69_999, { ...self, liveness: "fencing" }))), []);
    assert.deepEqual(transitions(decideLiveness(emptyLivenessMemory(), input(70_000, { ...self, liveness: "fencing" }))), ["h1:fenced"]);
    assert.deepEqual(transitions(decideLiveness(emptyLivenessMemory(), input(80_000, { ...self, selfFence: { mode: "off", timeoutMs: 0 } }))), ["h1:fence-failed"]);
  });

  it("manual fencing waits for the operator", () => {
    const manual = { liveness: "dead" as const, connected: false, fenceMethod: "manual" as const };
    const decision = decideLiveness(emptyLivenessMemory(), input(40_000, manual));
    assert.deepEqual(transitions(decision), ["h1:fencing"]);
    assert.deepEqual(decideLiveness(decision.memory, input(400_000, { ...manual, liveness: "fencing" })).effects, []);
  });
});
