// Proves the migration and flush StateCommands on a real SQLite file: one entry creates the job and
// skip-traces the VM; ownership moves exactly once, in the success entry; every end releases the
// skip-trace entry; a final job never changes; fences, takeovers and the target's reports leave an
// in-flight migration alone; flush/unflush supersede each other and steps end on their results.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { StateCommand } from "../../controlplane/state/commands.js";
import { stateMachineHarness } from "../support/state-machine.js";

const uuid = "11111111-2222-3333-4444-555555555555";
const domain = (state: string, reason = "booted") => ({ name: "web1", uuid, state, reason, vcpus: 1, memoryBytes: 64 << 20, persistent: true });

function harness() {
  const { machine, apply, events, close } = stateMachineHarness("migration-apply");
  for (const hostId of ["h1", "h2", "h3"]) apply({ kind: "HostHello", hostId, bootId: "b", agentVersion: "t", migrationUri: `qemu+tcp://${hostId}/system`, cpus: 1, memoryBytes: 1 });
  events("h1", { body: "inventory", inventory: { domains: [domain("running")] } });
  const request = (jobId = "j1", extra: Partial<Extract<StateCommand, { kind: "MigrationRequested" }>> = {}) =>
    apply({ kind: "MigrationRequested", jobId, vmUuid: uuid, source: "h1", target: "h2", forceLive: false, originState: "running", parent: "", reason: "operator", ...extra });
  const vm = () => machine.reader.vmByUuid(uuid)!;
  const job = (id = "j1") => machine.reader.job(id)!;
  const trace = () => machine.reader.skipTraceOf(uuid);
  const messages = () => machine.reader.listEvents({ limit: 1000 }).map((event) => event.message);
  return { machine, apply, events, request, vm, job, trace, messages, close };
}

describe("migration state", () => {
  it("a request creates the pending job and skip-traces the VM under the job id, in one entry", () => {
    const { request, job, trace, machine, close } = harness();
    const before = machine.reader.appliedIndex();
    request();
    assert.equal(machine.reader.appliedIndex(), before + 1);
    assert.deepEqual({ state: job().state, mode: job().mode, host: job().host, target: job().target }, { state: "pending", mode: "live", host: "h1", target: "h2" });
    assert.deepEqual({ operation: trace()?.operation, commandId: trace()?.commandId, host: trace()?.host, term: trace()?.term }, { operation: "migrate", commandId: "j1", host: "h1", term: 2 });
    close();
  });

  it("a second request for a held VM is recorded failed, naming the holder; the first keeps the VM", () => {
    const { request, job, trace, close } = harness();
    request("j1");
    request("j2", { target: "h3" });
    assert.equal(job("j2").state, "failed");
    assert.match(job("j2").error, /held by job j1 \(migrate h1 -> h2\)/);
    assert.equal(trace()?.commandId, "j1");
    close();
  });

  it("ownership moves exactly once, in the success entry; last_host is the source; the VM's state is the destination's report", () => {
    const { apply, request, vm, job, trace, messages, close } = harness();
    request();
    apply({ kind: "MigrationStep", jobId: "j1", previousCommandId: "", commandId: "c1", phase: "migrating h1 -> h2 (live)", deadlineMs: 700_000, mode: "live", stage: "" });
    assert.deepEqual([job().state, job().commandId, job().commandTerm], ["running", "c1", 2]);
    assert.equal(vm().host, "h1");
    apply({ kind: "MigrationSucceeded", jobId: "j1", detail: "the migration call succeeded", vmState: "running", vmReason: "migrated" });
    assert.deepEqual({ host: vm().host, lastHost: vm().lastHost, state: vm().state, reason: vm().reason }, { host: "h2", lastHost: "h1", state: "running", reason: "migrated" });
    assert.equal(job().state, "succeeded");
    assert.equal(trace(), undefined);
    // A repeated success entry (an old primary's, a retry) changes nothing: the job is final.
    apply({ kind: "MigrationSucceeded", jobId: "j1", detail: "again", vmState: "paused", vmReason: "x" });
    apply({ kind: "MigrationEnded", jobId: "j1", state: "rolled-back", error: "late" });
    assert.deepEqual([vm().host, vm().lastHost, vm().state, job().state], ["h2", "h1", "running", "succeeded"]);
    assert.equal(messages().filter((message) => /owner h1 => h2/.test(message)).length, 1);
    close();
  });

  it("a rollback leaves ownership with the source and releases the skip-trace entry", () => {
    const { apply, request, vm, job, trace, close } = harness();
    request();
    apply({ kind: "MigrationAdjudicating", jobId: "j1", trigger: "the migration call failed: boom", recheckCount: 0, nextRecheckMs: 5_000, deadlineMs: 305_000, phase: "adjudicating" });
    assert.deepEqual([job().state, job().adjudicationTrigger, job().adjudicationStartedMs > 0], ["adjudicating", "the migration call failed: boom", true]);
    const started = job().adjudicationStartedMs;
    apply({ kind: "MigrationAdjudicating", jobId: "j1", trigger: "ignored", recheckCount: 1, nextRecheckMs: 15_000, deadlineMs: 305_000, phase: "adjudicating: recheck 1" });
    assert.deepEqual([job().adjudicationStartedMs, job().adjudicationTrigger, job().recheckCount], [started, "the migration call failed: boom", 1]);
    apply({ kind: "MigrationEnded", jobId: "j1", state: "rolled-back", error: "destination reports absent" });
    assert.deepEqual([vm().host, job().state, job().error], ["h1", "rolled-back", "destination reports absent"]);
    assert.equal(trace(), undefined);
    close();
  });

  it("MigrationEnded succeeded without the success entry is refused: ownership only moves there", () => {
    const { apply, request, vm, job, close } = harness();
    request();
    apply({ kind: "MigrationEnded", jobId: "j1", state: "succeeded", error: "" });
    assert.deepEqual([vm().host, job().state], ["h1", "pending"]);
    close();
  });

  it("a shutdown migration moves ownership in the success entry, then holds the VM for the start until it ends", () => {
    const { apply, events, request, vm, job, trace, close } = harness();
    request();
    apply({ kind: "MigrationStep", jobId: "j1", previousCommandId: "", commandId: "c1", phase: "live", deadlineMs: 1e9, mode: "live", stage: "" });
    apply({ kind: "MigrationStep", jobId: "j1", previousCommandId: "c1", commandId: "c2", phase: "shutting down", deadlineMs: 1e9, mode: "shutdown", stage: "shutdown" });
    apply({ kind: "MigrationStep", jobId: "j1", previousCommandId: "c2", commandId: "c3", phase: "moving", deadlineMs: 1e9, mode: "shutdown", stage: "move" });
    apply({ kind: "MigrationSucceeded", jobId: "j1", detail: "definition moved", vmState: "shutoff", vmReason: "shutdown migration", startCommandId: "s1" });
    assert.deepEqual({ host: vm().host, lastHost: vm().lastHost, desired: vm().desiredState }, { host: "h2", lastHost: "h1", desired: "running" });
    assert.deepEqual([job().state, job().fallbackStage, job().mode, job().commandId], ["running", "start", "shutdown", "s1"]);
    assert.deepEqual([trace()?.operation, trace()?.commandId, trace()?.host], ["start", "s1", "h2"]);
    // A second success entry cannot move ownership again.
    apply({ kind: "MigrationSucceeded", jobId: "j1", detail: "again", vmState: "shutoff", vmReason: "x", startCommandId: "s2" });
    assert.equal(job().commandId, "s1");
    events("h2", { body: "commandResult", commandResult: { commandId: "s1", term: 2, outcome: "COMMAND_OUTCOME_SUCCEEDED", error: "", domain: domain("running"), domainAbsent: false } });
    apply({ kind: "MigrationEnded", jobId: "j1", state: "succeeded", error: "" });
    assert.deepEqual([job().state, vm().host, vm().state], ["succeeded", "h2", "running"]);
    assert.equal(trace(), undefined);
    close();
  });

  it("a step applies only over the command it follows (compare-and-set); a cancel before the call ends the job", () => {
    const { apply, request, job, trace, close } = harness();
    request();
    apply({ kind: "MigrationStep", jobId: "j1", previousCommandId: "stale", commandId: "c1", phase: "x", deadlineMs: 1, mode: "live", stage: "" });
    assert.deepEqual([job().state, job().commandId], ["pending", ""]);
    apply({ kind: "JobCancelRequested", jobId: "j1", reason: "operator" });
    assert.equal(job().state, "canceled");
    assert.equal(trace(), undefined);
    apply({ kind: "MigrationStep", jobId: "j1", previousCommandId: "", commandId: "c1", phase: "x", deadlineMs: 1, mode: "live", stage: "" });
    assert.deepEqual([job().state, job().commandId], ["canceled", ""]);
    close();
  });

  it("a cancel of a running migration is recorded; the job goes on until its outcome is adjudicated", () => {
    const { apply, request, job, trace, close } = harness();
    request();
    apply({ kind: "MigrationStep", jobId: "j1", previousCommandId: "", commandId: "c1", phase: "x", deadlineMs: 1e9, mode: "live", stage: "" });
    apply({ kind: "JobCancelRequested", jobId: "j1", reason: "operator" });
    assert.deepEqual([job().state, job().cancelRequested], ["running", true]);
    assert.equal(trace()?.commandId, "j1");
    close();
  });

  it("the target's reports of the VM are expected, not a conflict; the source's command results do not end the entry", () => {
    const { apply, events, request, vm, trace, messages, close } = harness();
    request();
    apply({ kind: "MigrationStep", jobId: "j1", previousCommandId: "", commandId: "c1", phase: "x", deadlineMs: 1e9, mode: "live", stage: "" });
    events("h2", { body: "lifecycle", lifecycle: { domain: domain("running", "migrated"), event: "resumed", detail: "" } });
    assert.equal(messages().filter((message) => /conflict|belongs to/.test(message)).length, 0);
    events("h1", { body: "commandResult", commandResult: { commandId: "c1", term: 2, outcome: "COMMAND_OUTCOME_FAILED", error: "boom", domain: domain("shutoff", "migrated"), domainAbsent: false } });
    assert.equal(trace()?.commandId, "j1", "the migrate call's result does not end the migration's skip-trace entry");
    assert.equal(vm().host, "h1");
    // Once the job is over, a report of the VM on h2 is a conflict again (h1 still owns it).
    apply({ kind: "MigrationEnded", jobId: "j1", state: "rolled-back", error: "x" });
    events("h2", { body: "lifecycle", lifecycle: { domain: domain("running", "unpaused"), event: "resumed", detail: "" } });
    assert.ok(messages().some((message) => /reported running on h2, but it belongs to h1/.test(message)));
    close();
  });

  it("a fence of the source and a primary change leave the migration's entry to its job", () => {
    const { apply, request, trace, vm, close } = harness();
    request();
    apply({ kind: "HostLiveness", hostId: "h1", liveness: "fenced", missedKeepalives: 6, reason: "fenced" });
    assert.equal(trace()?.commandId, "j1");
    assert.equal(vm().state, "shutoff", "a fenced host's VMs are recorded shut off");
    apply({ kind: "PrimaryTakeover", term: 3, replicaId: "cp2" }, 3);
    assert.equal(trace()?.orphanedAtMs, null);
    close();
  });

  it("JobProgress of the job fills its progress columns", () => {
    const { apply, events, request, job, close } = harness();
    request();
    apply({ kind: "MigrationStep", jobId: "j1", previousCommandId: "", commandId: "c1", phase: "x", deadlineMs: 1e9, mode: "live", stage: "" });
    events("h1", { body: "jobProgress", jobProgress: { jobId: "j1", vmUuid: uuid, kind: "migrate-out", processedBytes: 300, remainingBytes: 700, totalBytes: 1000, downtimeMs: 0 } });
    assert.deepEqual([job().processedBytes, job().remainingBytes, job().totalBytes], [300, 700, 1000]);
    close();
  });

  it("a flush supersedes the host's running unflush; a shutdown step parks the VM and ends on its result", () => {
    const { apply, events, vm, job, trace, machine, close } = harness();
    apply({ kind: "FlushRequested", jobId: "u1", flush: "unflush", hostId: "h1" });
    apply({ kind: "FlushRequested", jobId: "f1", flush: "flush", hostId: "h1" });
    assert.deepEqual([job("u1").state, job("u1").error], ["canceled", "superseded by flush f1"]);
    assert.deepEqual([job("f1").state, machine.reader.host("h1")?.state], ["running", "flushing"]);
    apply({ kind: "FlushVmStep", jobId: "f1", stepId: "s1", step: "shutdown", vmUuid: uuid, commandId: "c9", deadlineMs: 1e9, markAutorestart: true, reason: "no valid target" });
    assert.deepEqual({ desired: vm().desiredState, ha: vm().haState, lastHost: vm().lastHost }, { desired: "stopped", ha: "pending", lastHost: "h1" });
    assert.deepEqual([job("s1").state, job("s1").parent, trace()?.operation], ["running", "f1", "shutdown"]);
    events("h1", { body: "commandResult", commandResult: { commandId: "c9", term: 2, outcome: "COMMAND_OUTCOME_SUCCEEDED", error: "", domain: domain("shutoff", "shutdown"), domainAbsent: false } });
    assert.equal(job("s1").state, "succeeded");
    assert.equal(trace(), undefined);
    apply({ kind: "FlushFinished", jobId: "f1", state: "succeeded", error: "", summary: "flush of h1: 1 shut down", hostState: "flushed" });
    assert.deepEqual([job("f1").state, machine.reader.host("h1")?.state], ["succeeded", "flushed"]);
    close();
  });
});
