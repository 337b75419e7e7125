// Proves the HA duty's targeted read loses nothing: on a real SQLite state holding every kind of VM and host, the planner's decisions from StateReader.vmsNeedingHa and provisionedByHost (planRestartStep) equal its decisions from every VM, and the read goes through the partial indexes.
import assert from "node:assert/strict";
import { after, describe, it } from "node:test";
import { clusterConfig } from "../../controlplane/context.js";
import { planRestartStep, plannerHosts, plannerVm } from "../../controlplane/primary/ha-duty.js";
import { jobBlockersByVm } from "../../controlplane/primary/job-blocker.js";
import { compareText, planRestarts, type PlannerEffect } from "../../controlplane/primary/restart-planner.js";
import { SessionRegistry } from "../../controlplane/primary/sessions.js";
import { aliveDomainStates } from "../../controlplane/state/domain-states.js";
import type { StateCommand, VmPolicy } from "../../controlplane/state/commands.js";
import { vmsNeedingHaSql, type HostProvisioned, type StateReader, type VmRecord } from "../../controlplane/state/store.js";
import { stateMachineHarness } from "../support/state-machine.js";

const MiB = 2 ** 20;
const GiB = 2 ** 30;

/** The planner's clock: after every entry the tests apply (1 s each, from 1 s), within the restart window of all of them. */
const nowMs = 1_000_000;

/** A cluster state built through apply (the replicas' own path). */
function cluster() {
  const harness = stateMachineHarness("restart-step-read");
  const apply = (command: StateCommand) => harness.apply(command);
  const host = (hostId: string, memoryBytes = 64 * GiB) => apply({ kind: "HostHello", hostId, bootId: "b", agentVersion: "t", migrationUri: "", cpus: 16, memoryBytes });
  const report = (hostId: string, name: string, state: string, reason = "booted", memoryBytes = 512 * MiB) =>
    harness.events(hostId, { body: "lifecycle", lifecycle: { domain: { name, uuid: uuidOf(name), state, reason, vcpus: 2, memoryBytes, persistent: true }, event: "x", detail: reason } });
  const policy = (name: string, changes: Partial<VmPolicy>) => apply({ kind: "SetVmPolicy", vmUuid: uuidOf(name), policy: changes });
  return { db: harness.machine.db, machine: harness.machine, apply, host, report, policy, nowMs: () => nowMs, close: harness.close };
}

/** The oracle of StateReader.provisionedByHost: its sums computed in memory from every VM, as the duty did before the GROUP BY. */
function provisionedOf(vms: readonly VmRecord[]): Map<string, HostProvisioned> {
  const provisioned = new Map<string, HostProvisioned>();
  for (const vm of vms) {
    if (vm.host === null || !(aliveDomainStates.has(vm.state) || vm.haState === "restarting")) continue;
    const sums = provisioned.get(vm.host) ?? { memoryBytes: 0, vcpus: 0, vmCount: 0 };
    provisioned.set(vm.host, { memoryBytes: sums.memoryBytes + vm.memoryBytes, vcpus: sums.vcpus + vm.vcpus, vmCount: sums.vmCount + 1 });
  }
  return provisioned;
}

let uuids = 0;
const uuidByName = new Map<string, string>();
function uuidOf(name: string): string {
  let uuid = uuidByName.get(name);
  if (uuid === undefined) {
    uuids += 1;
    uuid = `00000000-0000-4000-8000-${String(uuids).padStart(12, "0")}`;
    uuidByName.set(name, uuid);
  }
  return uuid;
}

/** Every host but `h-quiet` and `h-dead`'s peers connected, with the stats their heartbeats carry. */
function sessionsFor(hostIds: readonly string[]): SessionRegistry {
  const sessions = new SessionRegistry();
  for (const hostId of hostIds) {
    const stats = { cpus: 16, memoryBytes: 64 * GiB, freeMemoryBytes: 40 * GiB, memoryProvisionedBytes: 0, load: hostId.length % 3, vcpusProvisioned: 0, vmCount: 0 };
    sessions.put({ hostId, bootId: "b", sessionId: "s", via: null, connectedAtMs: 0, lastHeartbeatMs: 0, stats, send: () => {}, close: () => {} });
  }
  return sessions;
}

/** The planner over every committed VM: what the duty decided before the targeted read. */
function planFromFullRead(reader: StateReader, sessions: SessionRegistry, maxConcurrentRestarts: number, nowMs: number): PlannerEffect[] {
  const vms = reader.listVms();
  return planRestarts({
    nowMs,
    vms: vms.map(plannerVm),
    hosts: plannerHosts(reader.listHosts(), provisionedOf(vms), sessions),
    skipTrace: reader.skipTrace(),
    jobBlockers: jobBlockersByVm(reader.unresolvedJobs()),
    maxConcurrentRestarts,
    restartWindowMs: clusterConfig(reader).haRestartWindowMs,
  });
}

/** Every kind of host (alive, in maintenance, not connected, suspect, dead, fence-failed, fenced) and VM the planner treats differently. */
function buildEveryKind() {
  const state = cluster();
  for (const hostId of ["h-alive1", "h-alive2", "h-maint", "h-quiet", "h-suspect", "h-dead", "h-fence-failed", "h-fenced"]) state.host(hostId);
  state.host("h-big", 256 * GiB);
  state.apply({ kind: "SetHostMaintenance", hostId: "h-maint", on: true });
  // Plenty of VMs that run where they should: the ones the targeted read leaves out.
  for (const hostId of ["h-alive1", "h-alive2", "h-big", "h-maint", "h-quiet"]) {
    for (let vm = 0; vm < 6; vm += 1) state.report(hostId, `${hostId}-ok${vm}`, vm === 5 ? "paused" : "running", "booted", (vm + 1) * 256 * MiB);
  }
  // A fenced host's VMs of every policy: moved by priority, never, stopped on purpose, limited to
  // one host, limited to no ready host (pending, or failed with autorestart off), skip-traced,
  // blocked by an unknown job, and out of restarts.
  const fencedVms = ["f-low", "f-high", "f-never", "f-stopped", "f-limit-alive2", "f-limit-dead", "f-no-autorestart", "f-traced", "f-job", "f-big", "f-mid1", "f-mid2", "f-exhausted"];
  for (const name of fencedVms) state.report("h-fenced", name, "running", "booted", name === "f-big" ? 100 * GiB : GiB);
  state.policy("f-high", { priority: 9 });
  state.policy("f-mid1", { priority: 5, selector: "vms" });
  state.policy("f-mid2", { priority: 5, selector: "load" });
  state.policy("f-never", { restart: "never" });
  state.apply({ kind: "VmRequested", vmUuid: uuidOf("f-stopped"), desiredState: "stopped", commandId: "" });
  state.policy("f-limit-alive2", { limit: ["h-alive2"], priority: 3 });
  state.policy("f-limit-dead", { limit: ["h-dead", "h-maint"] });
  state.policy("f-no-autorestart", { limit: ["h-quiet"], autorestart: false });
  state.apply({ kind: "VmRequested", vmUuid: uuidOf("f-traced"), desiredState: "running", commandId: "cmd-traced", operation: "start", host: "h-fenced" });
  state.db
    .prepare(
      `INSERT INTO vm_jobs (host, job_id, vm_uuid, kind, disk, state, outcome, detail, recovered, chain_before, top, target, command_id, started_ms, updated_ms)
       VALUES ('h-fenced', 'job-1', ?, 'block-commit', 'vda', 'unknown', '', 'agent restarted mid-job', 1, '[]', '', '', '', 0, 0)`,
    )
    .run(uuidOf("f-job"));
  state.policy("f-exhausted", { maxRestarts: 1 });
  state.apply({ kind: "VmRestartPlanned", vmUuid: uuidOf("f-exhausted"), fromHost: "h-fenced", toHost: "h-fenced", commandId: "cmd-exhausted", reason: "earlier" });
  state.apply({ kind: "SkipTraceClear", vmUuid: uuidOf("f-exhausted"), commandId: "cmd-exhausted", reason: "not sent" });
  // Live hosts' VMs HA may act on: restart always after a crash or a power-off, on-host-failure
  // left stopped, pending or restarting VMs that run again (cleared, unless still traced), a
  // restart whose result never came, and a crashed VM on a host in maintenance.
  state.report("h-alive1", "a-crashed-always", "crashed", "panicked");
  state.policy("a-crashed-always", { restart: "always" });
  state.report("h-alive1", "a-off-always", "shutoff", "shutdown");
  state.policy("a-off-always", { restart: "always", priority: 2 });
  state.report("h-alive1", "a-off-on-failure", "shutoff", "shutdown");
  state.report("h-alive2", "a-pending-running", "running");
  state.apply({ kind: "VmHaState", vmUuid: uuidOf("a-pending-running"), haState: "pending", reason: "no target" });
  state.report("h-alive2", "a-restarting-running", "running");
  state.apply({ kind: "VmRestartPlanned", vmUuid: uuidOf("a-restarting-running"), fromHost: "h-alive2", toHost: "h-alive2", commandId: "cmd-r", reason: "test" });
  state.report("h-alive2", "a-result-lost", "shutoff", "destroyed");
  state.policy("a-result-lost", { restart: "always" });
  state.apply({ kind: "VmRestartPlanned", vmUuid: uuidOf("a-result-lost"), fromHost: "h-alive2", toHost: "h-alive2", commandId: "cmd-lost", reason: "test" });
  state.apply({ kind: "SkipTraceClear", vmUuid: uuidOf("a-result-lost"), commandId: "cmd-lost", reason: "not sent" });
  state.report("h-maint", "m-crashed-always", "crashed", "panicked");
  state.policy("m-crashed-always", { restart: "always" });
  state.report("h-suspect", "s-off-always", "shutoff", "shutdown");
  state.policy("s-off-always", { restart: "always" });
  state.report("h-dead", "d-running", "running");
  state.report("h-fence-failed", "ff-running", "running");
  state.report("h-alive1", "a-failed", "shutoff", "shutdown");
  state.apply({ kind: "VmHaState", vmUuid: uuidOf("a-failed"), haState: "failed", reason: "max restarts" });
  for (const [hostId, liveness] of [["h-suspect", "suspect"], ["h-dead", "dead"], ["h-fence-failed", "fence-failed"], ["h-fenced", "fenced"]] as const) {
    state.apply({ kind: "HostLiveness", hostId, liveness, missedKeepalives: 6, reason: "test" });
  }
  const sessions = sessionsFor(["h-alive1", "h-alive2", "h-big", "h-maint", "h-suspect"]);
  return { ...state, sessions };
}

describe("the HA duty's targeted read", () => {
  /** A fresh state per test: the second one commits restarts. */
  const everyKind = () => {
    const state = buildEveryKind();
    after(() => state.close());
    return { state, reader: state.machine.reader };
  };

  it("decides exactly what the planner decides over every VM, at every concurrency bound", () => {
    const { state, reader } = everyKind();
    const kinds = new Set<string>();
    for (const maxConcurrentRestarts of [1, 2, 3, 4, 6, 100]) {
      const config = { ...clusterConfig(reader), haMaxConcurrentRestarts: maxConcurrentRestarts };
      const full = planFromFullRead(reader, state.sessions, maxConcurrentRestarts, state.nowMs());
      // Small first pages make the step read several pages before the bound stops the planner.
      for (const firstPage of [1, 2, 5, 64]) {
        const targeted = planRestartStep(reader, state.sessions, config, state.nowMs(), firstPage);
        assert.deepEqual(targeted, full, `at ha.maxConcurrentRestarts ${maxConcurrentRestarts}, first page ${firstPage}`);
      }
      for (const effect of full) kinds.add(effect.kind === "restart" ? (effect.fromHost === effect.toHost ? "restart in place" : "move") : `ha-state ${effect.haState || "cleared"}`);
    }
    // The state exercises every decision, or the equality above proves little.
    assert.deepEqual([...kinds].sort(), ["ha-state cleared", "ha-state failed", "ha-state pending", "move", "restart in place"]);
  });

  it("decides the same once the restarts are under way (VMs restarting on their new hosts count as provisioned there)", () => {
    const { state, reader } = everyKind();
    const firstRound = planRestartStep(reader, state.sessions, clusterConfig(reader), state.nowMs());
    for (const effect of firstRound) {
      if (effect.kind === "restart") state.apply({ kind: "VmRestartPlanned", vmUuid: effect.vmUuid, fromHost: effect.fromHost, toHost: effect.toHost, commandId: `cmd-${effect.vm}`, reason: effect.reason });
      else state.apply({ kind: "VmHaState", vmUuid: effect.vmUuid, haState: effect.haState, reason: effect.reason });
    }
    for (const effect of firstRound) if (effect.kind === "restart") state.apply({ kind: "SkipTraceClear", vmUuid: effect.vmUuid, commandId: `cmd-${effect.vm}`, reason: "test" });
    assert.deepEqual(reader.provisionedByHost(), provisionedOf(reader.listVms()));
    for (const maxConcurrentRestarts of [1, 4, 100]) {
      const config = { ...clusterConfig(reader), haMaxConcurrentRestarts: maxConcurrentRestarts };
      const targeted = planRestartStep(reader, state.sessions, config, state.nowMs(), 2);
      // One restart is still in flight (a-restarting-running's): at 1 nothing more may start.
      if (maxConcurrentRestarts > 1) assert.ok(targeted.some((effect) => effect.kind === "restart"), "the second round still restarts: there is something to compare");
      assert.deepEqual(targeted, planFromFullRead(reader, state.sessions, maxConcurrentRestarts, state.nowMs()));
    }
  });

  it("sums each host's provisioned resources in SQL as placement sums them in memory", () => {
    const { reader } = everyKind();
    const provisioned = reader.provisionedByHost();
    assert.deepEqual(provisioned, provisionedOf(reader.listVms()));
    assert.ok((provisioned.get("h-alive1")?.vmCount ?? 0) >= 6);
  });

  it("reads only the VMs HA may act on, through the partial indexes", () => {
    const { state, reader } = everyKind();
    const needing = new Set(reader.vmsNeedingHa().map((vm) => vm.name));
    assert.ok(!needing.has("h-alive1-ok0") && !needing.has("h-alive2-ok5"), "a VM running on a live host with no HA state is not read");
    for (const name of ["f-low", "d-running", "ff-running", "a-crashed-always", "a-pending-running", "a-failed", "s-off-always"]) assert.ok(needing.has(name), name);
    const plan = (sql: string) => (state.db.prepare(`EXPLAIN QUERY PLAN ${sql}`).all(64) as { detail: string }[]).map((row) => row.detail).join(" | ");
    assert.match(plan(vmsNeedingHaSql), /USING INDEX vms_needing_ha/);
    assert.doesNotMatch(plan(vmsNeedingHaSql).split("RIGHT")[0]!, /TEMP B-TREE/, "the waiting VMs come in the planner's order from the index: a page stops early");
    assert.match(plan(vmsNeedingHaSql), /USING INDEX hosts_not_alive/);
    assert.doesNotMatch(plan(vmsNeedingHaSql), /SCAN vms( |$)(?!USING)/);
  });

  it("pages in the planner's order: SQLite orders names as restartOrder does, astral characters included", () => {
    const { state } = everyKind();
    const names = ["web-b", "Web-a", "web-a", "web-\u{1F600}", "web-\uFFFD", "web", "web-\u00e9"];
    const sqlite = (state.db.prepare("SELECT value FROM json_each(?) ORDER BY value").all(JSON.stringify(names)) as { value: string }[]).map((row) => row.value);
    assert.deepEqual(sqlite, [...names].sort(compareText));
  });

  it("decides nothing, reading no VM, when every VM runs where it should", () => {
    const calm = cluster();
    after(() => calm.close());
    calm.host("h1");
    calm.host("h2");
    for (let vm = 0; vm < 10; vm += 1) calm.report(vm % 2 === 0 ? "h1" : "h2", `calm${vm}`, "running");
    const sessions = sessionsFor(["h1", "h2"]);
    assert.deepEqual(calm.machine.reader.vmsNeedingHa(), []);
    assert.deepEqual(planRestartStep(calm.machine.reader, sessions, clusterConfig(calm.machine.reader), calm.nowMs()), []);
    assert.deepEqual(planFromFullRead(calm.machine.reader, sessions, 4, calm.nowMs()), []);
  });
});
