// Proves the HA restart planner: only fenced hosts' VMs move, priority order, bounded concurrency, skip-trace blocks, pending with a reason, max restarts, and `always` on a live host.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { compareText, planRestarts, restartOrder, type PlannerHost, type PlannerInput, type PlannerVm } from "../../controlplane/primary/restart-planner.js";
import { vmBlocker } from "../../controlplane/primary/vm-blockers.js";

const GiB = 1024 ** 3;

function vm(name: string, overrides: Partial<PlannerVm> = {}): PlannerVm {
  return {
    uuid: `uuid-${name}`, name, host: "h1", state: "running", reason: "booted", desiredState: "running", restart: "on-host-failure", priority: 0, limit: [], selector: "mem",
    autorestart: true, maxRestarts: 3, memoryBytes: 4 * GiB, vcpus: 2, haState: "", haReason: "", restartHistory: [], ...overrides,
  };
}

function host(id: string, liveness: string, overrides: Partial<PlannerHost> = {}): PlannerHost {
  const ready = liveness === "alive";
  return { id, liveness, ready, notReadyReason: ready ? "" : liveness, memoryBytes: 64 * GiB, freeMemoryBytes: null, provisionedMemoryBytes: 0, provisionedVcpus: 0, vmCount: 0, load: 0, ...overrides };
}

function input(vms: PlannerVm[], h1Liveness: string, overrides: Partial<PlannerInput> = {}): PlannerInput {
  return { nowMs: 1_000_000, vms, hosts: [host("h1", h1Liveness), host("h2", "alive"), host("h3", "alive", { memoryBytes: 128 * GiB })], skipTrace: new Map(), jobBlockers: new Map(), maxConcurrentRestarts: 4, restartWindowMs: 3_600_000, ...overrides };
}

const restarts = (effects: ReturnType<typeof planRestarts>) => effects.filter((effect) => effect.kind === "restart").map((effect) => effect.kind === "restart" && `${effect.vm}->${effect.toHost}`);

describe("restart planner", () => {
  it("moves nothing off a host that is dead or fence-failed: only a confirmed fence counts", () => {
    for (const liveness of ["suspect", "dead", "fencing", "fence-failed"]) assert.deepEqual(planRestarts(input([vm("web1")], liveness)), [], liveness);
  });

  it("restarts a fenced host's VMs by priority, on the best host, leaving `never` and stopped VMs alone", () => {
    const vms = [vm("a-low", { priority: 1 }), vm("b-high", { priority: 9, limit: ["h2"] }), vm("c-never", { restart: "never" }), vm("d-off", { state: "shutoff", desiredState: "stopped" })];
    assert.deepEqual(restarts(planRestarts(input(vms, "fenced"))), ["b-high->h2", "a-low->h3"]);
  });

  it("orders equal priorities by name then uuid in code-point order, as SQLite's BINARY collation does (the duty reads pages in that order)", () => {
    const names = ["web-b", "Web-a", "web-a", "web-\u{1F600}", "web-\uFFFD", "web"];
    assert.deepEqual([...names].sort(compareText), ["Web-a", "web", "web-a", "web-b", "web-\uFFFD", "web-\u{1F600}"]);
    const twins = [vm("same", { uuid: "uuid-2" }), vm("same", { uuid: "uuid-1" }), vm("low", { priority: -1 })];
    assert.deepEqual([...twins].sort(restartOrder).map((entry) => `${entry.name}/${entry.uuid}`), ["same/uuid-1", "same/uuid-2", "low/uuid-low"]);
  });

  it("bounds the restarts in flight", () => {
    const vms = ["a", "b", "c"].map((name) => vm(name));
    const inFlight = new Map([["uuid-x", { operation: "ha-restart", term: 2, host: "h2", orphanedAtMs: null }]]);
    assert.deepEqual(restarts(planRestarts(input(vms, "fenced", { maxConcurrentRestarts: 2, skipTrace: inFlight }))), ["a->h3"]);
  });

  it("leaves a skip-traced or orphaned VM alone", () => {
    for (const orphanedAtMs of [null, 5]) {
      const skipTrace = new Map([["uuid-web1", { operation: "start", term: 2, host: "h1", orphanedAtMs }]]);
      assert.deepEqual(planRestarts(input([vm("web1")], "fenced", { skipTrace })), []);
      assert.match(vmBlocker({ skipTrace: skipTrace.get("uuid-web1") }) ?? "", orphanedAtMs === null ? /in flight/ : /orphaned/);
    }
  });

  it("marks a VM autorestart-pending with the reason when no allowed host is ready, and failed when autorestart is off", () => {
    const pending = planRestarts(input([vm("web1", { limit: ["h1"] })], "fenced"));
    assert.equal(pending[0]?.kind, "ha-state");
    assert.match(pending[0]?.kind === "ha-state" ? `${pending[0].haState}: ${pending[0].reason}` : "", /^pending: host h1 fenced; no allowed host is ready \(h1: fenced\)/);
    const failed = planRestarts(input([vm("web1", { limit: ["h1"], autorestart: false })], "fenced"));
    assert.match(failed[0]?.kind === "ha-state" ? `${failed[0].haState}: ${failed[0].reason}` : "", /^failed: .*autorestart is off/);
  });

  it("starts a pending VM once a host of its limit is ready", () => {
    const pendingVm = vm("web1", { limit: ["h1", "h2"], haState: "pending", haReason: "no target" });
    assert.deepEqual(restarts(planRestarts({ ...input([pendingVm], "fenced"), hosts: [host("h1", "fenced"), host("h2", "dead")] })), []);
    assert.deepEqual(restarts(planRestarts({ ...input([pendingVm], "fenced"), hosts: [host("h1", "fenced"), host("h2", "alive")] })), ["web1->h2"]);
  });

  it("stops at max restarts within the window", () => {
    const history = [990_000, 995_000, 999_000];
    const effects = planRestarts(input([vm("web1", { restartHistory: history })], "fenced"));
    assert.deepEqual(restarts(effects), []);
    assert.match(effects[0]?.kind === "ha-state" ? `${effects[0].haState}: ${effects[0].reason}` : "", /^failed: max restarts reached \(3 within 3600 s/);
    // Old restarts fall out of the window.
    assert.deepEqual(restarts(planRestarts(input([vm("web1", { restartHistory: [1, 2, 4_999_000] })], "fenced", { nowMs: 5_000_000 }))), ["web1->h3"]);
  });

  it("restart always restarts a VM that stopped unexpectedly on its live host; on-host-failure does not", () => {
    const crashed = { host: "h2", state: "crashed", reason: "crashed" };
    assert.deepEqual(restarts(planRestarts(input([vm("web1", { ...crashed, restart: "always" })], "alive"))), ["web1->h2"]);
    assert.deepEqual(restarts(planRestarts(input([vm("web1", crashed)], "alive"))), []);
    // A VM stopped on request stays stopped.
    assert.deepEqual(restarts(planRestarts(input([vm("web1", { ...crashed, restart: "always", desiredState: "stopped" })], "alive"))), []);
  });

  it("retries a restart whose result never came on the host that owns the VM, never elsewhere", () => {
    const lost = vm("web1", { host: "h2", state: "shutoff", haState: "restarting" });
    assert.deepEqual(restarts(planRestarts(input([lost], "alive"))), ["web1->h2"]);
  });

  it("leaves a VM with an unknown job alone: unknown is not finished", () => {
    const blocked = input([vm("web1"), vm("web2")], "fenced", { jobBlockers: new Map([[vm("web1").uuid, "active-commit job j1 on h1 is unknown"]]) });
    assert.deepEqual(restarts(planRestarts(blocked)), ["web2->h3"]);
  });
});
