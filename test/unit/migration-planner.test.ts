// Proves the pure migration decisions: what a job does next from its committed record (a call sent
// by an earlier primary is adjudicated, never re-sent; fallback stages re-send their own id until
// their deadline), how a verdict becomes a rollback, a fallback, a cancel or a recheck, how agents'
// answers become adjudication reports, and how a migration target is chosen.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { JobRecord } from "../../controlplane/state/store.js";
import { actOnVerdict, hostReport, nextMigrationAction } from "../../controlplane/primary/migration-planner.js";
import { adjudicate, type HostReport } from "../../controlplane/primary/migration-adjudication.js";
import { chooseMigrationTarget, targetProblem, type MigrationHost } from "../../controlplane/primary/migration-target.js";

function job(overrides: Partial<JobRecord> = {}): JobRecord {
  return {
    id: "j1", kind: "migrate", vmUuid: "u1", host: "h1", target: "h2", state: "running", phase: "", error: "", mode: "live", forceLive: false, parent: "", originState: "running",
    fallbackStage: "", commandId: "c1", commandTerm: 2, processedBytes: 0, remainingBytes: 0, totalBytes: 0, downtimeMs: 0, adjudicationTrigger: "", adjudicationStartedMs: 0,
    nextRecheckMs: 0, recheckCount: 0, cancelRequested: false, deadlineMs: 100_000, startedMs: 0, updatedMs: 0, finishedMs: 0, ...overrides,
  };
}

const facts = (overrides: Partial<Parameters<typeof nextMigrationAction>[1]> = {}) => ({ result: undefined, sourceStillMigrating: false, awaitingResult: false, nowMs: 10_000, ...overrides });
const running: HostReport = { known: true, state: "running", reason: "unpaused" };
const absent: HostReport = { known: true, state: "absent", reason: "no such domain" };
const shutoff: HostReport = { known: true, state: "shutoff", reason: "migrated" };
const unknown: HostReport = { known: false, why: "host h1 is not connected" };

describe("migration planner", () => {
  it("a pending job sends the migration call; its committed success runs the success path, its failure adjudicates", () => {
    assert.deepEqual(nextMigrationAction(job({ state: "pending", commandId: "" }), facts()), { kind: "send", stage: "", resend: false });
    assert.equal(nextMigrationAction(job(), facts({ result: { outcome: "COMMAND_OUTCOME_SUCCEEDED", error: "" } })).kind, "succeed");
    assert.deepEqual(nextMigrationAction(job(), facts({ result: { outcome: "COMMAND_OUTCOME_FAILED", error: "unable to connect" } })), { kind: "begin-adjudication", trigger: "the migration call failed: unable to connect" });
  });

  it("without a result it waits while this primary awaits the call or the source reports the migration running, within the deadline", () => {
    assert.equal(nextMigrationAction(job(), facts({ awaitingResult: true })).kind, "wait");
    assert.equal(nextMigrationAction(job(), facts({ sourceStillMigrating: true })).kind, "wait");
    assert.equal(nextMigrationAction(job(), facts({ awaitingResult: true, nowMs: 100_000 })).kind, "begin-adjudication");
  });

  it("a call sent by an earlier primary (no result, nobody awaiting it) is adjudicated, never re-sent", () => {
    const action = nextMigrationAction(job({ commandTerm: 1 }), facts());
    assert.equal(action.kind, "begin-adjudication");
    assert.match(action.kind === "begin-adjudication" ? action.trigger : "", /never arrived/);
  });

  it("adjudication rechecks at the committed time: a new primary waits for it, then asks both hosts", () => {
    assert.deepEqual(nextMigrationAction(job({ state: "adjudicating", nextRecheckMs: 20_000 }), facts()), { kind: "wait", untilMs: 20_000, why: "next adjudication recheck" });
    assert.deepEqual(nextMigrationAction(job({ state: "adjudicating", nextRecheckMs: 5_000 }), facts()), { kind: "query-both" });
  });

  it("fallback stages re-send their own command until their deadline, then fail; a success moves to the next stage", () => {
    assert.deepEqual(nextMigrationAction(job({ fallbackStage: "shutdown" }), facts()), { kind: "send", stage: "shutdown", resend: true });
    const late = nextMigrationAction(job({ fallbackStage: "shutdown" }), facts({ nowMs: 200_000 }));
    assert.equal(late.kind, "end");
    assert.match(late.kind === "end" ? late.error : "", /stays on h1/);
    assert.deepEqual(nextMigrationAction(job({ fallbackStage: "shutdown" }), facts({ result: { outcome: "COMMAND_OUTCOME_SUCCEEDED", error: "" } })), { kind: "send", stage: "move", resend: false });
    assert.deepEqual(nextMigrationAction(job({ fallbackStage: "move" }), facts({ result: { outcome: "COMMAND_OUTCOME_DUPLICATE", error: "" } })), { kind: "succeed", detail: "shutdown migration: the definition moved to h2", withStart: true });
    assert.deepEqual(nextMigrationAction(job({ fallbackStage: "start" }), facts({ result: { outcome: "COMMAND_OUTCOME_SUCCEEDED", error: "" } })), { kind: "end", state: "succeeded", error: "" });
    const startFailed = nextMigrationAction(job({ fallbackStage: "start" }), facts({ result: { outcome: "COMMAND_OUTCOME_FAILED", error: "no memory" } }));
    assert.match(startFailed.kind === "end" ? startFailed.error : "", /moved to h2 but the start failed: no memory/);
  });
});

describe("acting on a verdict", () => {
  const adjudicating = job({ state: "adjudicating", adjudicationStartedMs: 1_000, adjudicationTrigger: "the migration call failed: boom" });
  const context = { fallbackAllowed: true, sourceStillMigrating: false, targetProblem: null, nowMs: 11_000, recheckIntervalMs: 10_000, recheckTimeoutMs: 300_000 };
  const verdictOf = (source: HostReport, destination: HostReport, nowMs = 11_000) =>
    adjudicate({ source, destination, originWasPaused: false, trigger: "boom", startedAtMs: 1_000, nowMs, recheckIntervalMs: 10_000, recheckTimeoutMs: 300_000 });

  it("destination absent and source running: a shutdown migration when allowed", () => {
    const reports = { source: running, destination: absent };
    assert.equal(actOnVerdict(adjudicating, verdictOf(running, absent), reports, context).kind, "fallback");
  });

  it("force-live or the VM's fallback off: rolled back, saying why", () => {
    const reports = { source: running, destination: absent };
    const forced = actOnVerdict({ ...adjudicating, forceLive: true }, verdictOf(running, absent), reports, context);
    assert.deepEqual([forced.kind, forced.kind === "end" && /force-live: no fallback/.test(forced.error)], ["end", true]);
    const off = actOnVerdict(adjudicating, verdictOf(running, absent), reports, { ...context, fallbackAllowed: false });
    assert.deepEqual([off.kind, off.kind === "end" && off.state, off.kind === "end" && /fallback is off/.test(off.error)], ["end", "rolled-back", true]);
  });

  it("a target that cannot take the VM now (dead, fenced, not ready): rolled back, never a shutdown for nothing", () => {
    const next = actOnVerdict(adjudicating, verdictOf(running, absent), { source: running, destination: absent }, { ...context, targetProblem: "host h2 is not ready (fenced)" });
    assert.deepEqual([next.kind, next.kind === "end" && next.state], ["end", "rolled-back"]);
    assert.match(next.kind === "end" ? next.error : "", /no shutdown migration: host h2 is not ready \(fenced\)/);
  });

  it("a cancel turns a rollback into canceled, never a fallback", () => {
    const next = actOnVerdict({ ...adjudicating, cancelRequested: true }, verdictOf(running, absent), { source: running, destination: absent }, context);
    assert.deepEqual([next.kind, next.kind === "end" && next.state], ["end", "canceled"]);
  });

  it("destination running and source shut off: success; an unknown source is a recheck with the time left", () => {
    assert.equal(actOnVerdict(adjudicating, verdictOf(shutoff, running), { source: shutoff, destination: running }, context).kind, "succeed");
    const next = actOnVerdict(adjudicating, verdictOf(unknown, running), { source: unknown, destination: running }, context);
    assert.equal(next.kind, "recheck");
    if (next.kind === "recheck") {
      assert.deepEqual([next.count, next.atMs, next.deadlineMs], [1, 21_000, 301_000]);
      assert.match(next.phase, /recheck 1, 290 s left/);
    }
  });

  it("the source's agent still migrating: a destination not yet alive proves nothing, recheck within the bound", () => {
    const next = actOnVerdict(adjudicating, verdictOf(running, { known: true, state: "paused", reason: "migration" }), { source: running, destination: { known: true, state: "paused", reason: "migration" } }, { ...context, sourceStillMigrating: true });
    assert.equal(next.kind, "recheck");
  });

  it("both alive at the timeout: rolled back (no fallback), with the may-still-be-migrating detail", () => {
    const next = actOnVerdict(adjudicating, verdictOf(running, running, 301_000), { source: running, destination: running }, { ...context, nowMs: 301_000 });
    assert.deepEqual([next.kind, next.kind === "end" && next.state], ["end", "rolled-back"]);
    assert.match(next.kind === "end" ? next.error : "", /may still be migrating/);
  });
});

describe("agents' answers as reports", () => {
  it("absent and fenced are known not alive; a failed or missing answer is unknown", () => {
    assert.deepEqual(hostReport({ kind: "answered", outcome: "COMMAND_OUTCOME_SUCCEEDED", error: "", domain: null, domainAbsent: true }), absent);
    assert.deepEqual(hostReport({ kind: "fenced" }), { known: true, state: "shutoff", reason: "host fenced" });
    assert.equal(hostReport({ kind: "answered", outcome: "COMMAND_OUTCOME_FAILED", error: "libvirt down", domain: null, domainAbsent: false }).known, false);
    assert.equal(hostReport({ kind: "no-answer", why: "timeout" }).known, false);
    const answered = hostReport({ kind: "answered", outcome: "COMMAND_OUTCOME_SUCCEEDED", error: "", domain: { name: "web1", uuid: "u1", state: "paused", reason: "user", vcpus: 1, memoryBytes: 1, persistent: true } as never, domainAbsent: false });
    assert.deepEqual(answered, { known: true, state: "paused", reason: "user" });
  });
});

describe("migration target", () => {
  const host = (id: string, overrides: Partial<MigrationHost> = {}): MigrationHost => ({ id, ready: true, notReadyReason: "", memoryBytes: 8 * 2 ** 30, freeMemoryBytes: null, provisionedMemoryBytes: 0, provisionedVcpus: 0, vmCount: 0, load: 0, migrationUri: `qemu+tcp://${id}/system`, liveness: "alive", ...overrides });
  const vm = { name: "web1", memoryBytes: 1 << 30, vcpus: 1, limit: [] as string[], selector: "mem" as const };

  it("never the source; a host without a migration URI is not a target", () => {
    assert.deepEqual(chooseMigrationTarget(vm, "h1", [host("h1", { provisionedMemoryBytes: -(1 << 40) }), host("h2")]), { host: "h2" });
    const none = chooseMigrationTarget(vm, "h1", [host("h1"), host("h2", { migrationUri: "" })]);
    assert.equal(none.host, null);
    assert.match("reason" in none ? none.reason : "", /no migration URI/);
    assert.match(targetProblem(host("h3", { ready: false, notReadyReason: "flushing" })) ?? "", /not ready \(flushing\)/);
  });

  it("the VM's limit and selector decide among the others", () => {
    assert.deepEqual(chooseMigrationTarget({ ...vm, limit: ["h3"] }, "h1", [host("h1"), host("h2"), host("h3")]), { host: "h3" });
    assert.deepEqual(chooseMigrationTarget({ ...vm, selector: "vms" }, "h1", [host("h1"), host("h2", { vmCount: 3 }), host("h3", { vmCount: 1 })]), { host: "h3" });
  });
});
