// Proves the flush/unflush planner step by step and end to end: a small driver plays the flush duty (creates each child, ends it, applies its effect on the VM) and every rule is asserted on the steps it is given.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  orchestrationScope,
  planFlushStep,
  type FlushChild,
  type FlushOrchestration,
  type FlushPlanInput,
  type FlushStep,
  type FlushVm,
} from "../../controlplane/primary/flush-planner.js";
import type { PlacementHost } from "../../controlplane/primary/placement.js";

const GiB = 1024 ** 3;

function vm(name: string, overrides: Partial<FlushVm> = {}): FlushVm {
  return {
    uuid: `uuid-${name}`, name, host: "h1", lastHost: "", state: "running", priority: 0, autorestart: true, haState: "", blockedBy: null,
    memoryBytes: 4 * GiB, vcpus: 2, limit: [], selector: "mem", ...overrides,
  };
}

function host(id: string, overrides: Partial<PlacementHost> = {}): PlacementHost {
  return { id, ready: true, notReadyReason: "", memoryBytes: 64 * GiB, freeMemoryBytes: null, provisionedMemoryBytes: 0, provisionedVcpus: 0, vmCount: 0, load: 0, ...overrides };
}

function child(vmName: string, overrides: Partial<FlushChild> = {}): FlushChild {
  return { id: `job-${vmName}`, vmUuid: `uuid-${vmName}`, kind: "migrate", state: "running", target: "h2", error: "", deadlineMs: 0, ...overrides };
}

function orchestration(overrides: Partial<FlushOrchestration> = {}): FlushOrchestration {
  return { jobId: "flush-1", kind: "flush", host: "h1", cancelRequested: false, vmUuids: null, ...overrides };
}

/** h1 is being flushed (not ready); h2 and h3 can take VMs, h3 has more room. */
function input(vms: FlushVm[], overrides: Partial<FlushPlanInput> = {}): FlushPlanInput {
  const hosts = [host("h1", { ready: false, notReadyReason: "flushing" }), host("h2", { provisionedMemoryBytes: 16 * GiB }), host("h3")];
  return { orchestration: orchestration(), vms, children: [], hosts, nowMs: 1_000_000, ...overrides };
}

/** What the flush duty does with each step; `outcomes` gives a child's final state and error per VM (default succeeded). */
interface Drive {
  steps: FlushStep[];
  world: FlushPlanInput;
}

function drive(start: FlushPlanInput, outcomes: Record<string, { state: string; error?: string }> = {}, stepsMax = 50): Drive {
  const world: FlushPlanInput = { ...start, vms: start.vms.map((entry) => ({ ...entry })), children: start.children.map((entry) => ({ ...entry })) };
  const steps: FlushStep[] = [];
  for (let count = 0; count < stepsMax; count += 1) {
    const step = planFlushStep(world);
    steps.push(step);
    const target = (uuid: string) => world.vms.find((entry) => entry.uuid === uuid)!;
    switch (step.kind) {
      case "migrate":
      case "shutdown":
      case "start": {
        const where = step.kind === "migrate" ? step.to : step.host;
        world.children = [...world.children, { id: `job-${world.children.length + 1}`, vmUuid: step.vmUuid, kind: step.kind, state: "running", target: where, error: "", deadlineMs: 0 }];
        if (step.kind === "shutdown") Object.assign(target(step.vmUuid), { lastHost: step.host, haState: step.markAutorestart ? "pending" : "" });
        break;
      }
      case "wait": {
        assert.notEqual(step.childJobId, "", `the driver only ends children: ${step.reason}`);
        const running = world.children.find((entry) => entry.id === step.childJobId)!;
        const outcome = outcomes[target(running.vmUuid).name] ?? { state: "succeeded" };
        running.state = outcome.state;
        running.error = outcome.error ?? "";
        if (outcome.state !== "succeeded") break;
        const moved = target(running.vmUuid);
        if (running.kind === "migrate") Object.assign(moved, { lastHost: moved.host, host: running.target });
        if (running.kind === "shutdown") moved.state = "shutoff";
        if (running.kind === "start") Object.assign(moved, { state: "running", haState: "" });
        break;
      }
      case "record-last-host":
        for (const entry of step.vms) target(entry.vmUuid).lastHost = step.host;
        break;
      case "finish":
      case "cancel-finish":
        return { steps, world };
    }
  }
  assert.fail(`no finish within ${stepsMax} steps: ${JSON.stringify(steps.slice(-3))}`);
}

/** The steps as short strings, for whole-trace assertions. */
function trace(steps: readonly FlushStep[]): string[] {
  return steps.map((step) => {
    switch (step.kind) {
      case "migrate":
        return `migrate ${step.vm} ${step.from}->${step.to}`;
      case "shutdown":
        return `shutdown ${step.vm}${step.markAutorestart ? " +autorestart" : ""}`;
      case "start":
        return `start ${step.vm} on ${step.host}`;
      case "record-last-host":
        return `record ${step.vms.map((entry) => entry.vm).join(",")} last host ${step.host}`;
      case "wait":
        return `wait ${step.vm}`;
      case "finish":
        return `finish ${step.outcome} ${step.hostState}`;
      case "cancel-finish":
        return "canceled";
    }
  });
}

function finished(steps: readonly FlushStep[]): Extract<FlushStep, { kind: "finish" | "cancel-finish" }> {
  const last = steps.at(-1)!;
  assert.ok(last.kind === "finish" || last.kind === "cancel-finish", `last step is ${last.kind}`);
  return last;
}

describe("flush planner: flush", () => {
  it("drains a host one VM at a time, by priority then name, to placement's target, and ends flushed", () => {
    const vms = [vm("b-web"), vm("a-web"), vm("z-db", { priority: 5 }), vm("elsewhere", { host: "h2" })];
    const { steps, world } = drive(input(vms));
    assert.deepEqual(trace(steps), [
      "migrate z-db h1->h3", "wait z-db",
      "migrate a-web h1->h3", "wait a-web",
      "migrate b-web h1->h3", "wait b-web",
      "finish succeeded flushed",
    ]);
    // The success path records each VM's last host (the driver plays it as B does).
    assert.deepEqual(world.vms.filter((entry) => entry.lastHost === "h1").map((entry) => entry.name), ["b-web", "a-web", "z-db"]);
    assert.equal(finished(steps).summary.text, "flush of h1: 3 migrated");
    assert.deepEqual(finished(steps).summary.migrated.map((entry) => entry.detail), ["z-db -> h3", "a-web -> h3", "b-web -> h3"]);
  });

  it("never starts a second child while one is not final, and says which one it waits for and for how long", () => {
    const running = child("a", { state: "adjudicating", deadlineMs: 1_042_500 });
    const step = planFlushStep(input([vm("a", { host: "h1" }), vm("b")], { children: [running] }));
    assert.deepEqual(step, { kind: "wait", childJobId: "job-a", vmUuid: "uuid-a", vm: "a", reason: "migrate of a to h2 adjudicating (43 s left)" });
    // A state the planner does not know is not final either.
    assert.equal(planFlushStep(input([vm("a"), vm("b")], { children: [child("a", { state: "mystery" })] })).kind, "wait");
  });

  it("respects node limits and selectors, and never targets the flushed host, even when it looks ready", () => {
    const hosts = [host("h1"), host("h2", { vmCount: 1 }), host("h3", { vmCount: 5 }), host("h4", { ready: false, notReadyReason: "maintenance" })];
    const vms = [
      vm("limited", { limit: ["h1", "h2"], priority: 3 }),
      vm("by-vms", { selector: "vms", priority: 2 }),
      vm("by-mem", { priority: 1 }),
      vm("maintenance-only", { limit: ["h1", "h4"] }),
    ];
    const { steps } = drive(input(vms, { hosts }));
    assert.deepEqual(trace(steps).filter((line) => !line.startsWith("wait")), [
      "migrate limited h1->h2",
      "migrate by-vms h1->h2",
      "migrate by-mem h1->h2", // ties on free memory go to the lower host id
      "shutdown maintenance-only +autorestart",
      "finish succeeded flushed",
    ]);
    const shutdown = steps.find((step) => step.kind === "shutdown");
    assert.match(shutdown?.kind === "shutdown" ? shutdown.reason : "", /^flush of h1: no valid target \(no allowed host is ready \(h4: maintenance\)\)$/);
  });

  it("shuts down a VM that no host can take, marks it autorestart only when its policy says so, and reports both", () => {
    const big = { memoryBytes: 100 * GiB };
    const vms = [vm("huge", big), vm("huge-no-autorestart", { ...big, autorestart: false })];
    const { steps } = drive(input(vms));
    assert.deepEqual(trace(steps), ["shutdown huge +autorestart", "wait huge", "shutdown huge-no-autorestart", "wait huge-no-autorestart", "finish succeeded flushed"]);
    const { summary } = finished(steps);
    assert.deepEqual(summary.shutDown.map((entry) => `${entry.vm}: ${entry.detail}`), ["huge: shut down, autorestart pending", "huge-no-autorestart: shut down, stays stopped (autorestart off)"]);
    assert.equal(summary.text, "flush of h1: 2 shut down for want of a target");
  });

  it("leaves a VM whose migration rolled back or failed where it is, never retries or shuts it down, and ends failed naming it", () => {
    const vms = [vm("a"), vm("b"), vm("c")];
    const outcomes = { a: { state: "rolled-back", error: "destination refused the domain; fallback off" }, b: { state: "failed", error: "timed out" } };
    const { steps, world } = drive(input(vms), outcomes);
    assert.deepEqual(trace(steps), ["migrate a h1->h3", "wait a", "migrate b h1->h3", "wait b", "migrate c h1->h3", "wait c", "finish failed flushed"]);
    assert.equal(world.vms.find((entry) => entry.name === "a")?.host, "h1");
    assert.equal(finished(steps).summary.text, "flush of h1: 1 migrated; left behind: a (migration to h3 rolled-back: destination refused the domain; fallback off); b (migration to h3 failed: timed out)");
    // Asked again after the end, it does not loop on them.
    assert.equal(planFlushStep(world).kind, "finish");
  });

  it("records the last host of VMs stopped on the host once, without moving them, and leaves a VM of unknown state", () => {
    const vms = [vm("off", { state: "shutoff", lastHost: "h9" }), vm("crashed", { state: "crashed" }), vm("recorded", { state: "shutoff", lastHost: "h1" }), vm("odd", { state: "nostate" }), vm("web")];
    const { steps } = drive(input(vms));
    assert.deepEqual(trace(steps), ["record crashed,off last host h1", "migrate web h1->h3", "wait web", "finish failed flushed"]);
    const { summary } = finished(steps);
    assert.deepEqual(summary.stoppedInPlace.map((entry) => entry.vm), ["crashed", "off", "recorded"]);
    assert.deepEqual(summary.leftBehind.map((entry) => entry.vm), ["odd"]);
    assert.match(summary.text, /left behind: odd \(state nostate: cannot tell whether it runs/);
  });

  it("passes over a VM something else holds, then waits for it, bounded by its holder", () => {
    const held = vm("a", { blockedBy: "skip-traced: start on h1 in flight (term 3)" });
    const first = planFlushStep(input([held, vm("b")]));
    assert.equal(first.kind === "migrate" && first.vm, "b");
    const step = planFlushStep(input([held, vm("b", { host: "h3" })], { children: [child("b", { state: "succeeded", target: "h3" })] }));
    assert.deepEqual(step, { kind: "wait", childJobId: "", vmUuid: "uuid-a", vm: "a", reason: "a is held: skip-traced: start on h1 in flight (term 3)" });
  });

  it("once canceled starts no new child, waits for the running one, then finishes canceled", () => {
    const vms = [vm("a", { host: "h3", lastHost: "h1" }), vm("b"), vm("c")];
    const canceled = orchestration({ cancelRequested: true });
    const children = [child("a", { state: "succeeded", target: "h3" }), child("b", { state: "running", target: "h3" })];
    const waiting = planFlushStep(input(vms, { orchestration: canceled, children }));
    assert.equal(waiting.kind, "wait");
    assert.match(waiting.kind === "wait" ? waiting.reason : "", /^cancel requested; waiting for the running child: migrate of b to h3 running$/);
    const { steps } = drive(input(vms, { orchestration: canceled, children }));
    assert.deepEqual(trace(steps), ["wait b", "canceled"]);
    assert.equal(finished(steps).summary.text, "flush of h1: 2 migrated, 1 not handled (canceled)");
    // With nothing running, a cancel finishes at once, even while a VM is held by something else.
    assert.equal(planFlushStep(input([vm("c")], { orchestration: canceled })).kind, "cancel-finish");
    assert.equal(planFlushStep(input([vm("c", { blockedBy: "skip-traced: start" })], { orchestration: canceled })).kind, "cancel-finish");
  });

  it("resumes after a primary change where the old primary stopped, and never migrates a VM twice", () => {
    const scope = orchestrationScope("flush", "h1", [vm("a", { priority: 2 }), vm("b", { priority: 1 }), vm("c")]);
    assert.deepEqual(scope, ["uuid-a", "uuid-b", "uuid-c"]);
    // The old primary migrated a, and b's migration rolled back; b still runs on h1.
    const vms = [vm("a", { host: "h2", lastHost: "h1", priority: 2 }), vm("b", { priority: 1 }), vm("c")];
    const children = [child("a", { state: "succeeded" }), child("b", { state: "rolled-back", error: "dest gone" })];
    for (const vmUuids of [scope, null]) {
      const { steps } = drive(input(vms, { orchestration: orchestration({ vmUuids }), children }));
      assert.deepEqual(trace(steps), ["migrate c h1->h3", "wait c", "finish failed flushed"], `scope ${vmUuids === null ? "computed" : "recorded"}`);
      assert.match(finished(steps).summary.text, /^flush of h1: 2 migrated; left behind: b \(migration to h2 rolled-back: dest gone\)$/);
    }
  });

  it("takes the recorded scope in its order and reports a VM that arrived later instead of taking it on", () => {
    const vms = [vm("a", { priority: 9 }), vm("b"), vm("late")];
    const recorded = orchestration({ vmUuids: ["uuid-b", "uuid-a", "uuid-gone"] });
    const { steps } = drive(input(vms, { orchestration: recorded }));
    assert.deepEqual(trace(steps), ["migrate b h1->h3", "wait b", "migrate a h1->h3", "wait a", "finish failed flushed"]);
    assert.match(finished(steps).summary.text, /left behind: late \(arrived on h1 after the flush began; not taken on\)$/);
  });

  it("decides the same whatever order its inputs come in", () => {
    const vms = [vm("c"), vm("a", { priority: 1 }), vm("b", { priority: 1 }), vm("d", { state: "shutoff" }), vm("e", { memoryBytes: 200 * GiB })];
    const expected = trace(drive(input(vms)).steps);
    assert.deepEqual(expected.filter((line) => !line.startsWith("wait")), ["record d last host h1", "migrate a h1->h3", "migrate b h1->h3", "migrate c h1->h3", "shutdown e +autorestart", "finish succeeded flushed"]);
    const base = input(vms);
    assert.deepEqual(trace(drive({ ...base, vms: [...vms].reverse(), hosts: [...base.hosts].reverse() }).steps), expected);
    assert.deepEqual(orchestrationScope("flush", "h1", [...vms].reverse()), orchestrationScope("flush", "h1", vms));
  });
});

describe("flush planner: unflush", () => {
  const unflush = orchestration({ jobId: "unflush-1", kind: "unflush" });
  const readyHosts = [host("h1"), host("h2"), host("h3")];

  it("migrates back VMs last on this host that run elsewhere, starts its autorestart VMs, and ends ready", () => {
    const vms = [
      vm("back-b", { host: "h2", lastHost: "h1" }),
      vm("back-a", { host: "h3", lastHost: "h1", state: "paused" }),
      vm("pending", { host: "h1", lastHost: "h1", state: "shutoff", haState: "pending", priority: 1 }),
      vm("stopped-elsewhere", { host: "h2", lastHost: "h1", state: "shutoff" }),
      vm("other-last-host", { host: "h2", lastHost: "h3" }),
      vm("stopped-here", { host: "h1", lastHost: "h1", state: "shutoff" }),
    ];
    const { steps, world } = drive(input(vms, { orchestration: unflush, hosts: readyHosts }));
    assert.deepEqual(trace(steps), ["start pending on h1", "wait pending", "migrate back-a h3->h1", "wait back-a", "migrate back-b h2->h1", "wait back-b", "finish succeeded ready"]);
    assert.equal(finished(steps).summary.text, "unflush of h1: 2 migrated back, 1 started");
    assert.deepEqual(world.vms.filter((entry) => entry.host === "h1" && entry.state !== "shutoff").map((entry) => entry.name), ["back-b", "back-a", "pending"]);
  });

  it("flush then unflush brings every VM home, the shut-down one included", () => {
    const vms = [vm("a"), vm("b", { limit: ["h1"] }), vm("c", { host: "h2" })];
    const flushed = drive(input(vms));
    assert.deepEqual(trace(flushed.steps).filter((line) => !line.startsWith("wait")), ["migrate a h1->h3", "shutdown b +autorestart", "finish succeeded flushed"]);
    const back = drive({ ...flushed.world, orchestration: unflush, children: [], hosts: readyHosts });
    assert.deepEqual(trace(back.steps).filter((line) => !line.startsWith("wait")), ["migrate a h3->h1", "start b on h1", "finish succeeded ready"]);
    assert.deepEqual(back.world.vms.map((entry) => `${entry.name}@${entry.host}:${entry.state}`), ["a@h1:running", "b@h1:running", "c@h2:running"]);
  });

  it("leaves a VM elsewhere when its limit or this host's capacity forbids the way back, and says why", () => {
    const vms = [vm("limited", { host: "h2", lastHost: "h1", limit: ["h2", "h3"] }), vm("too-big", { host: "h2", lastHost: "h1", memoryBytes: 60 * GiB })];
    const hosts = [host("h1", { provisionedMemoryBytes: 8 * GiB }), host("h2")];
    const { steps } = drive(input(vms, { orchestration: unflush, hosts }));
    assert.deepEqual(trace(steps), ["finish failed ready"]);
    assert.match(finished(steps).summary.text, /^unflush of h1: nothing done; left behind: limited/);
    assert.equal(finished(drive(input([], { orchestration: unflush })).steps).summary.text, "unflush of h1: nothing to do");
    const left = finished(steps).summary.leftBehind.map((entry) => `${entry.vm}: ${entry.detail}`);
    assert.deepEqual(left, ["limited: stays on h2: h1 is not in its limit (h2,h3)", "too-big: stays on h2: no ready allowed host has 60.0 GiB free (most: h1 with 56.0 GiB)"]);
  });

  it("does not retry a start that failed, and reports the VM still stopped", () => {
    const vms = [vm("pending", { host: "h1", lastHost: "h1", state: "shutoff", haState: "pending" })];
    const { steps } = drive(input(vms, { orchestration: unflush, hosts: readyHosts }), { pending: { state: "failed", error: "libvirt: disk missing" } });
    assert.deepEqual(trace(steps), ["start pending on h1", "wait pending", "finish failed ready"]);
    assert.equal(finished(steps).summary.text, "unflush of h1: nothing done; left behind: pending (start on h1 failed: libvirt: disk missing)");
  });

  it("resumed by a new primary, does not bring a VM back twice", () => {
    const vms = [vm("a", { host: "h1", lastHost: "h2" }), vm("b", { host: "h2", lastHost: "h1" })];
    const children = [child("a", { state: "succeeded", target: "h1" })];
    const { steps } = drive(input(vms, { orchestration: unflush, hosts: readyHosts, children }));
    assert.deepEqual(trace(steps), ["migrate b h2->h1", "wait b", "finish succeeded ready"]);
    assert.equal(finished(steps).summary.text, "unflush of h1: 2 migrated back");
  });
});
