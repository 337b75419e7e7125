// Proves the flush duty's narrowed read loses nothing: on a real SQLite state, the flush planner's step from the VMs a flush or unflush concerns (StateReader.vmsConcerning) equals its step from every VM, for flushes, unflushes and children whose VM moved elsewhere.
import assert from "node:assert/strict";
import { after, describe, it } from "node:test";
import { asFlushVms, flushVms } from "../../controlplane/primary/flush-duty.js";
import { planFlushStep, type ChildKind, type FlushVm } from "../../controlplane/primary/flush-planner.js";
import type { PlacementHost } from "../../controlplane/primary/placement.js";
import type { StateCommand } from "../../controlplane/state/commands.js";
import type { JobRecord, StateReader } from "../../controlplane/state/store.js";
import { stateMachineHarness } from "../support/state-machine.js";

const GiB = 2 ** 30;

function cluster() {
  const harness = stateMachineHarness("flush-read");
  let vms = 0;
  const report = (hostId: string, name: string, state: string) => {
    vms += 1;
    const uuid = `00000000-0000-4000-8000-${String(vms).padStart(12, "0")}`;
    harness.events(hostId, { body: "lifecycle", lifecycle: { domain: { name, uuid, state, reason: "booted", vcpus: 2, memoryBytes: GiB, persistent: true }, event: "x", detail: "" } });
    return uuid;
  };
  return { db: harness.machine.db, reader: harness.machine.reader, apply: (command: StateCommand) => harness.apply(command), report, close: harness.close };
}

function hosts(reader: StateReader): PlacementHost[] {
  return reader.listHosts().map((host) => ({ id: host.id, ready: host.state === "ready", notReadyReason: host.state === "ready" ? "" : host.state, memoryBytes: 64 * GiB, freeMemoryBytes: null, provisionedMemoryBytes: 0, provisionedVcpus: 0, vmCount: 0, load: 0 }));
}

/** The planner's step for `job` from `vms`, with its children and the hosts as the duty reads them. */
function step(reader: StateReader, job: JobRecord, vms: readonly FlushVm[]) {
  const children = reader.childJobs(job.id).map((child) => ({ id: child.id, vmUuid: child.vmUuid, kind: child.kind as ChildKind, state: child.state, target: child.target, error: child.error, deadlineMs: child.deadlineMs }));
  return planFlushStep({ orchestration: { jobId: job.id, kind: job.kind as "flush" | "unflush", host: job.host, cancelRequested: job.cancelRequested, vmUuids: null }, vms, children, hosts: hosts(reader), nowMs: 1_000_000 });
}

describe("the flush duty's narrowed read", () => {
  const state = cluster();
  after(() => state.close());
  const { reader, apply, report, db } = state;
  for (const hostId of ["h1", "h2", "h3", "h4"]) apply({ kind: "HostHello", hostId, bootId: "b", agentVersion: "t", migrationUri: `qemu+tcp://${hostId}/system`, cpus: 8, memoryBytes: 64 * GiB });
  // h1 is flushed: running, paused and stopped VMs on it, one of them last on h2 already.
  report("h1", "a-run", "running");
  report("h1", "b-paused", "paused");
  const stopped = report("h1", "c-off", "shutoff");
  // h2 is unflushed: VMs that left it and run elsewhere, one that a flush stopped there (pending), one elsewhere stopped.
  const away = report("h3", "d-away", "running");
  const pending = report("h2", "e-pending", "shutoff");
  const awayStopped = report("h4", "f-away-off", "shutoff");
  // Unrelated VMs, and a child's VM that moved on to h4 since.
  for (let vm = 0; vm < 8; vm += 1) report(vm % 2 === 0 ? "h3" : "h4", `z-other${vm}`, "running");
  const movedOn = report("h4", "g-moved-on", "running");
  db.prepare("UPDATE vms SET last_host = 'h2' WHERE uuid IN (?, ?, ?)").run(away, awayStopped, pending);
  db.prepare("UPDATE vms SET last_host = 'h2' WHERE uuid = ?").run(stopped);
  db.prepare("UPDATE vms SET ha_state = 'pending', ha_reason = 'flush of h2' WHERE uuid = ?").run(pending);
  apply({ kind: "FlushRequested", jobId: "flush-h1", flush: "flush", hostId: "h1" });
  apply({ kind: "FlushRequested", jobId: "unflush-h2", flush: "unflush", hostId: "h2" });
  db.prepare(
    `INSERT INTO jobs (id, kind, vm_uuid, host, target, state, phase, error, mode, force_live, parent, origin_state, started_ms, updated_ms)
     VALUES ('child-1', 'migrate', ?, 'h1', 'h3', 'succeeded', 'done', '', 'live', 0, 'flush-h1', 'running', 1, 1)`,
  ).run(movedOn);
  const orchestrations = reader.activeJobs().filter((job) => job.kind === "flush" || job.kind === "unflush");

  it("plans each flush and unflush exactly as from every VM", () => {
    assert.deepEqual(orchestrations.map((job) => job.id).sort(), ["flush-h1", "unflush-h2"]);
    const every = asFlushVms(reader, reader.listVms());
    for (const job of orchestrations) {
      const narrowed = flushVms(reader, [job]);
      assert.ok(narrowed.length < every.length, "the narrowed read leaves unrelated VMs out");
      const expected = step(reader, job, every);
      assert.notEqual(expected.kind, "finish", `${job.id} has work left: the comparison means something`);
      assert.deepEqual(step(reader, job, narrowed), expected, job.id);
      // The duty reads once for every orchestration of the tick.
      assert.deepEqual(step(reader, job, flushVms(reader, orchestrations)), expected, `${job.id}, read with the others`);
    }
  });

  it("reads the VMs on the hosts, last on them, and those its children name", () => {
    const names = flushVms(reader, orchestrations.filter((job) => job.id === "flush-h1")).map((vm) => vm.name);
    assert.deepEqual(names, ["a-run", "b-paused", "c-off", "g-moved-on"]);
    const unflush = flushVms(reader, orchestrations.filter((job) => job.id === "unflush-h2")).map((vm) => vm.name);
    assert.deepEqual(unflush, ["c-off", "d-away", "e-pending", "f-away-off"]);
  });
});
