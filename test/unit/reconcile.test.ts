// Proves the pure recovery decisions: reconciling a journaled job with what libvirt shows (running, finished with the outcome the chain or the domain proves, unknown otherwise, never guessed finished), the chain proofs per block job kind, and the lifecycle events missed while the agent was down.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { JobRecord } from "../../agent/journal.js";
import { missedLifecycleEvents } from "../../agent/recovery/missed-events.js";
import { reconcileJob, type Observation } from "../../agent/recovery/reconcile.js";
import { proveFromChain } from "../../common/block-job-proof.js";

const top = "/img/top.qcow2";
const mid = "/img/mid.qcow2";
const base = "/img/base.qcow2";

function job(overrides: Partial<JobRecord>): JobRecord {
  return { jobId: "bj-1", vmUuid: "u1", kind: "active-commit", disk: "vda", chainBefore: [top, base], top, target: base, commandId: "", state: "running", outcome: "", detail: "", startedMs: 0, updatedMs: 0, ...overrides };
}

function seen(overrides: Partial<Observation>): Observation {
  return { libvirtError: null, domain: { state: "running", reason: "booted" }, blockJobType: null, domainJobOperation: null, chainNow: null, ...overrides };
}

describe("reconciling a journaled job with libvirt", () => {
  it("reports unknown, never finished, when libvirt does not answer or the domain is gone", () => {
    assert.deepEqual(reconcileJob(job({}), seen({ libvirtError: "Connection refused" })), { kind: "unknown", detail: "libvirt is not answering: Connection refused" });
    assert.equal(reconcileJob(job({}), seen({ domain: null })).kind, "unknown");
    assert.equal(reconcileJob(job({ kind: "migrate-out", disk: "" }), seen({ domain: null })).kind, "unknown");
  });

  it("keeps a job running while libvirt still runs it (a ready active commit counts)", () => {
    assert.deepEqual(reconcileJob(job({}), seen({ blockJobType: "active_commit", chainNow: [top, base] })), { kind: "running" });
    assert.deepEqual(reconcileJob(job({ kind: "copy", target: "/img/copy.qcow2" }), seen({ blockJobType: "copy", chainNow: [top, base] })), { kind: "running" });
    assert.deepEqual(reconcileJob(job({ kind: "migrate-in", disk: "" }), seen({ domain: { state: "paused", reason: "migration" }, domainJobOperation: "migration_in" })), { kind: "running" });
  });

  it("proves a gone block job from the live chain: completed when its effect is there, aborted when nothing changed", () => {
    assert.deepEqual(reconcileJob(job({}), seen({ chainNow: [base] })), { kind: "finished", outcome: "completed", detail: `${top} is no longer in the chain` });
    assert.deepEqual(reconcileJob(job({}), seen({ chainNow: [top, base] })), { kind: "finished", outcome: "aborted", detail: "the chain is unchanged: the job was canceled or failed" });
    // A different job on the disk now: ours is gone, and the chain decides.
    assert.equal(reconcileJob(job({}), seen({ blockJobType: "copy", chainNow: [base] })).kind, "finished");
  });

  it("reports unknown when the job is gone and the chain proves nothing, or the disk left the XML", () => {
    const changedOtherwise = reconcileJob(job({}), seen({ chainNow: ["/img/other.qcow2", base] }));
    assert.equal(changedOtherwise.kind, "unknown");
    assert.equal(reconcileJob(job({}), seen({ chainNow: null })).kind, "unknown");
  });

  it("reports an active commit or copy of a domain that stopped before the pivot aborted", () => {
    const stopped = seen({ domain: { state: "shutoff", reason: "crashed" }, chainNow: [top] });
    assert.deepEqual(reconcileJob(job({}), stopped), { kind: "finished", outcome: "aborted", detail: "the domain stopped (crashed) before the job pivoted" });
  });

  it("proves migrations from the domain's state and reason", () => {
    const out = job({ kind: "migrate-out", disk: "", chainBefore: [], top: "", target: "qemu+tls://h2/system" });
    assert.deepEqual(reconcileJob(out, seen({ domain: { state: "shutoff", reason: "migrated" } })), { kind: "finished", outcome: "completed", detail: "the domain stopped here because it migrated" });
    assert.deepEqual(reconcileJob(out, seen({})), { kind: "finished", outcome: "failed", detail: "the domain still runs here (running, booted) and no migration job is active" });
    assert.equal(reconcileJob(out, seen({ domain: { state: "shutoff", reason: "destroyed" } })).kind, "unknown", "destroyed is not proof it migrated");
    const incoming = job({ kind: "migrate-in", disk: "", chainBefore: [], top: "", target: "" });
    assert.equal((reconcileJob(incoming, seen({ domain: { state: "running", reason: "migrated" } })) as { outcome?: string }).outcome, "completed");
    assert.deepEqual(reconcileJob(incoming, seen({ domain: null })), { kind: "finished", outcome: "failed", detail: "the domain never arrived on this host" });
    assert.equal((reconcileJob(incoming, seen({ domain: { state: "shutoff", reason: "failed" } })) as { outcome?: string }).outcome, "failed");
  });
});

describe("what a chain proves about a block job", () => {
  it("commit without a known top: layers lost under the same active image", () => {
    const commit = { kind: "commit" as const, chainBefore: [top, mid, base], top: "", target: "" };
    assert.equal(proveFromChain(commit, [top, base])?.outcome, "completed");
    assert.equal(proveFromChain(commit, [top, mid, base])?.outcome, "aborted");
    assert.equal(proveFromChain(commit, [mid, base]), null, "a different active image is not a commit's work");
    assert.equal(proveFromChain(commit, []), null);
  });

  it("pull: the active image kept, its backing layers gone", () => {
    const pull = { kind: "pull" as const, chainBefore: [top, mid, base], top: "", target: top };
    assert.equal(proveFromChain(pull, [top])?.outcome, "completed");
    assert.equal(proveFromChain(pull, [top, base])?.outcome, "completed", "a pull with a base keeps the layers below it");
    assert.equal(proveFromChain(pull, ["/img/x.qcow2"]), null);
  });

  it("copy: the disk runs on the destination", () => {
    const copy = { kind: "copy" as const, chainBefore: [top, base], top: "", target: "/img/copy.qcow2" };
    assert.equal(proveFromChain(copy, ["/img/copy.qcow2"])?.outcome, "completed");
    assert.equal(proveFromChain(copy, [top, base])?.outcome, "aborted");
    assert.equal(proveFromChain({ ...copy, target: "" }, ["/img/copy.qcow2"]), null, "without a known destination nothing is proven");
  });
});

describe("lifecycle events missed while the agent was down", () => {
  const domain = (name: string, uuid: string, state: string, reason: string) => ({ name, uuid, state: state as "running", reason, vcpus: 1, memoryBytes: 1, persistent: true });

  it("reports changed and vanished domains, and leaves new ones to the inventory", () => {
    const reported = new Map([
      ["u1", domain("web1", "u1", "running", "booted")],
      ["u2", domain("db1", "u2", "running", "booted")],
      ["u3", domain("old1", "u3", "paused", "user")],
      ["u4", domain("same1", "u4", "running", "booted")],
    ]);
    const now = [domain("web1", "u1", "shutoff", "crashed"), domain("db1", "u2", "running", "unpaused"), domain("same1", "u4", "running", "booted"), domain("new1", "u5", "running", "booted")];
    const missed = missedLifecycleEvents(reported, now);
    assert.deepEqual(
      missed.map((event) => `${event.domain.name} ${event.event}/${event.detail} ${event.domain.state}`),
      ["db1 resumed/unpaused running", "web1 stopped/crashed shutoff", "old1 undefined/removed shutoff"],
    );
  });

  it("finds nothing on a first start (nothing was reported)", () => {
    assert.deepEqual(missedLifecycleEvents(new Map(), [domain("web1", "u1", "running", "booted")]), []);
  });
});
