// Proves the control plane's job state on a real SQLite file and its pure decisions: agents' job and disk-chain events become per-VM jobs (running, unknown, finished once) and chains; a VM seen on another host is recorded and its chain there resolves the old host's job; the job watch asks for a disk sync on the new host (commit first, then send, bounded resends) and escalates an unknown job once after job.unknownTimeout; unresolvedJobBlocker names unknown jobs only.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { AgentEvent__Output } from "../../common/generated/vigil/v1/AgentEvent.js";
import { unresolvedJobBlocker } from "../../controlplane/primary/job-blocker.js";
import { decideJobWatch, initialJobWatchState, resendIntervalMs, type JobWatchInput } from "../../controlplane/primary/job-watch.js";
import { StateMachine } from "../../controlplane/state/apply.js";
import type { StateCommand } from "../../controlplane/state/commands.js";
import { configProblem } from "../../controlplane/state/config-keys.js";
import { openDatabase, type VmJobRecord } from "../../controlplane/state/store.js";
import { temporaryDirectory } from "../support/processes.js";

const uuid = "9d25f96b-d63b-448a-8d6e-0f1a2cf49bdd";
const top = "/img/top.qcow2";
const base = "/img/base.qcow2";

function harness() {
  const directory = temporaryDirectory("job-state");
  const db = openDatabase({ path: `${directory.path}/state.db`, synchronous: "OFF" });
  const machine = new StateMachine(db);
  let index = 0;
  const seqs = new Map<string, number>();
  const apply = (command: StateCommand) =>
    db.transaction(() => {
      index += 1;
      machine.applyEntry(index, { atMs: 1_000 * index, term: 1, replicaId: "cp1", command });
      machine.setAppliedIndex(index);
    })();
  const send = (hostId: string, body: Omit<AgentEvent__Output, "seq" | "atMs" | "recovered">, recovered = false) => {
    const seq = (seqs.get(hostId) ?? 0) + 1;
    seqs.set(hostId, seq);
    apply({ kind: "AgentEvents", hostId, events: [{ seq, atMs: 0, recovered, ...body } as AgentEvent__Output] });
  };
  for (const hostId of ["h1", "h2"]) apply({ kind: "HostHello", hostId, bootId: "b", agentVersion: "t", migrationUri: "", cpus: 1, memoryBytes: 1 });
  const domain = { name: "web1", uuid, state: "running", reason: "booted", vcpus: 1, memoryBytes: 1, persistent: true };
  send("h1", { body: "inventory", inventory: { domains: [domain] } });
  const started = { jobId: "bj-1", vmUuid: uuid, kind: "active-commit", disk: "vda", chainBefore: [top, base], top, target: base, commandId: "" };
  const messages = () => machine.reader.listEvents({ limit: 1000 }).map((event) => event.message);
  return { machine, apply, send, domain, started, messages, close: () => (db.close(), directory.remove()) };
}

describe("control plane job state", () => {
  it("records a job running, unknown (with the time it became so), running again, then finished exactly once", () => {
    const { machine, send, started, messages, close } = harness();
    send("h1", { body: "jobStarted", jobStarted: started });
    assert.equal(machine.reader.vmJobs(uuid)[0]?.state, "running");
    send("h1", { body: "jobFinished", jobFinished: { jobId: "bj-1", vmUuid: uuid, kind: "active-commit", disk: "vda", outcome: "unknown", error: "libvirt is not answering" } }, true);
    const unknown = machine.reader.vmJob("h1", "bj-1")!;
    assert.equal(unknown.state, "unknown");
    assert.ok(unknown.unknownSinceMs > 0);
    assert.match(unresolvedJobBlocker(machine.reader.vmJobs(uuid)) ?? "", /active-commit job bj-1 on h1 is unknown: libvirt is not answering/);
    send("h1", { body: "jobStarted", jobStarted: started }, true);
    assert.deepEqual([machine.reader.vmJob("h1", "bj-1")?.state, machine.reader.vmJob("h1", "bj-1")?.unknownSinceMs], ["running", 0]);
    const finish = { jobId: "bj-1", vmUuid: uuid, kind: "active-commit", disk: "vda", outcome: "completed", error: `${top} is no longer in the chain` };
    send("h1", { body: "jobFinished", jobFinished: finish }, true);
    send("h1", { body: "jobFinished", jobFinished: { ...finish, outcome: "aborted" } }, true);
    const finished = machine.reader.vmJob("h1", "bj-1")!;
    assert.deepEqual([finished.state, finished.outcome, finished.recovered], ["finished", "completed", true]);
    assert.equal(messages().filter((message) => message.includes("=> finished")).length, 1, "a finished job never changes");
    assert.equal(unresolvedJobBlocker(machine.reader.vmJobs(uuid)), null);
    close();
  });

  it("stores synced chains per VM, and a pending or failed sync as such", () => {
    const { machine, send, close } = harness();
    send("h1", { body: "diskChain", diskChain: { vmUuid: uuid, disks: [], pending: true, error: "storage is not answering", attempts: 1 } });
    assert.deepEqual([machine.reader.vmDiskSync(uuid)?.state, machine.reader.vmDiskSync(uuid)?.error], ["pending", "storage is not answering"]);
    send("h1", { body: "diskChain", diskChain: { vmUuid: uuid, disks: [{ target: "vda", files: [base] }, { target: "vdb", files: ["/img/data.qcow2"] }], pending: false, error: "", attempts: 4 } });
    assert.deepEqual(machine.reader.vmDisks(uuid).map((disk) => `${disk.target}@${disk.host}:${disk.files.join(",")}`), [`vda@h1:${base}`, "vdb@h1:/img/data.qcow2"]);
    assert.equal(machine.reader.vmDiskSync(uuid)?.state, "synced");
    send("h2", { body: "diskChain", diskChain: { vmUuid: uuid, disks: [], pending: false, error: "the domain is not defined on this host", attempts: 1 } });
    assert.deepEqual([machine.reader.vmDiskSync(uuid)?.state, machine.reader.vmDiskSync(uuid)?.host], ["failed", "h2"]);
    assert.equal(machine.reader.vmDisks(uuid).length, 2, "a failed sync keeps the last known chains");
    close();
  });

  it("notes a VM seen running on another host, and lets that host's chain prove the old host's job", () => {
    const { machine, send, apply, domain, started, messages, close } = harness();
    send("h1", { body: "jobStarted", jobStarted: started });
    send("h2", { body: "inventory", inventory: { domains: [domain] } });
    assert.equal(machine.reader.vmJob("h1", "bj-1")?.movedTo, "h2");
    apply({ kind: "DiskSyncRequested", vmUuid: uuid, hostId: "h2", jobHost: "h1", jobId: "bj-1" });
    assert.equal(machine.reader.vmJob("h1", "bj-1")?.syncRequestedOn, "h2");
    send("h2", { body: "diskChain", diskChain: { vmUuid: uuid, disks: [{ target: "vda", files: [base] }], pending: false, error: "", attempts: 1 } });
    const job = machine.reader.vmJob("h1", "bj-1")!;
    assert.deepEqual([job.state, job.outcome, job.recovered], ["finished", "completed", true]);
    assert.match(job.detail, /per the chain on h2/);
    assert.ok(messages().some((message) => message.includes("synchronizing disks on h2")));
    close();
  });

  it("leaves a job alone when a host the VM did not move to reports a chain", () => {
    const { machine, send, started, close } = harness();
    send("h1", { body: "jobStarted", jobStarted: started });
    send("h2", { body: "diskChain", diskChain: { vmUuid: uuid, disks: [{ target: "vda", files: [top, base] }], pending: false, error: "", attempts: 1 } });
    assert.equal(machine.reader.vmJob("h1", "bj-1")?.state, "running");
    close();
  });

  it("escalates an unknown job once with an error event, and it stays unknown", () => {
    const { machine, send, apply, started, close } = harness();
    send("h1", { body: "jobStarted", jobStarted: started });
    send("h1", { body: "jobFinished", jobFinished: { jobId: "bj-1", vmUuid: uuid, kind: "active-commit", disk: "vda", outcome: "unknown", error: "libvirt is not answering" } });
    apply({ kind: "JobEscalated", jobHost: "h1", jobId: "bj-1", unknownForMs: 600_000 });
    apply({ kind: "JobEscalated", jobHost: "h1", jobId: "bj-1", unknownForMs: 601_000 });
    const errors = machine.reader.listEvents({ limit: 1000 }).filter((event) => event.kind === "error");
    assert.equal(errors.length, 1);
    assert.match(errors[0]!.message, /unknown for 600 s \(job.unknownTimeout\)/);
    assert.deepEqual([machine.reader.vmJob("h1", "bj-1")?.state, machine.reader.vmJob("h1", "bj-1")?.escalated], ["unknown", true]);
    assert.match(unresolvedJobBlocker(machine.reader.vmJobs(uuid)) ?? "", /escalated/);
    close();
  });

  it("accepts job.unknownTimeout only as positive seconds", () => {
    assert.equal(configProblem("job.unknownTimeout", "30"), null);
    assert.match(configProblem("job.unknownTimeout", "0") ?? "", /must be a number of seconds > 0/);
  });
});

describe("the primary's job watch (pure)", () => {
  const unresolved = (overrides: Partial<VmJobRecord>): VmJobRecord => ({
    host: "h1", jobId: "bj-1", vmUuid: uuid, kind: "active-commit", disk: "vda", state: "running", outcome: "", detail: "", recovered: false, chainBefore: [top, base], top, target: base, commandId: "",
    movedTo: "", syncRequestedOn: "", unknownSinceMs: 0, escalated: false, startedMs: 0, updatedMs: 0, ...overrides,
  });
  const input = (jobs: VmJobRecord[], overrides: Partial<JobWatchInput> = {}): JobWatchInput => ({ jobs, owners: new Map([[uuid, "h1"]]), diskSyncs: new Map(), connectedHosts: new Set(["h1", "h2"]), unknownTimeoutMs: 600_000, ...overrides });

  it("does nothing for a job whose VM stayed on its host", () => {
    assert.deepEqual(decideJobWatch(initialJobWatchState(), input([unresolved({})]), 10_000).effects, []);
  });

  it("commits the sync request first, then sends SynchronizeDisks to the host the VM moved to, resending only after the bound", () => {
    const moved = unresolved({ movedTo: "h2" });
    const first = decideJobWatch(initialJobWatchState(), input([moved]), 10_000);
    assert.deepEqual(first.effects, [{ kind: "propose-sync-request", vmUuid: uuid, hostId: "h2", jobHost: "h1", jobId: "bj-1" }]);
    assert.deepEqual(decideJobWatch(first.state, input([moved]), 11_000).effects, [], "the proposal is in flight");
    const requested = unresolved({ movedTo: "h2", syncRequestedOn: "h2" });
    const sent = decideJobWatch(first.state, input([requested]), 12_000);
    assert.deepEqual(sent.effects, [{ kind: "send-sync", vmUuid: uuid, hostId: "h2", jobHost: "h1", jobId: "bj-1" }]);
    assert.deepEqual(decideJobWatch(sent.state, input([requested]), 12_000 + resendIntervalMs - 1).effects, []);
    assert.equal(decideJobWatch(sent.state, input([requested]), 12_000 + resendIntervalMs).effects.length, 1, "resent after the bound");
    const answered = new Map([[uuid, { host: "h2", state: "synced" as const, error: "", attempts: 1, updatedMs: 13_000 }]]);
    assert.deepEqual(decideJobWatch(sent.state, input([requested], { diskSyncs: answered }), 12_000 + resendIntervalMs).effects, [], "h2 answered");
    assert.deepEqual(decideJobWatch(first.state, input([requested], { connectedHosts: new Set(["h1"]) }), 12_000).effects, [], "not sent to a disconnected host");
  });

  it("leaves a migration's VM showing up elsewhere to the migration duty", () => {
    const migration = unresolved({ kind: "migrate-out", disk: "", chainBefore: [], top: "", target: "qemu+tls://h2/system", movedTo: "h2" });
    assert.deepEqual(decideJobWatch(initialJobWatchState(), input([migration]), 10_000).effects, []);
  });

  it("treats a new owner as a move (HA or migration changed it)", () => {
    const effects = decideJobWatch(initialJobWatchState(), input([unresolved({ state: "unknown", unknownSinceMs: 5_000 })], { owners: new Map([[uuid, "h2"]]) }), 10_000).effects;
    assert.deepEqual(effects.map((effect) => `${effect.kind}:${"hostId" in effect ? effect.hostId : ""}`), ["propose-sync-request:h2"]);
  });

  it("escalates an unknown job once the bound passed, and only once per resend interval", () => {
    const unknown = unresolved({ state: "unknown", unknownSinceMs: 1_000 });
    assert.deepEqual(decideJobWatch(initialJobWatchState(), input([unknown]), 600_999).effects, []);
    const escalated = decideJobWatch(initialJobWatchState(), input([unknown]), 601_000);
    assert.deepEqual(escalated.effects, [{ kind: "escalate", jobHost: "h1", jobId: "bj-1", unknownForMs: 600_000 }]);
    assert.deepEqual(decideJobWatch(escalated.state, input([unknown]), 602_000).effects, []);
    assert.deepEqual(decideJobWatch(initialJobWatchState(), input([{ ...unknown, escalated: true }]), 700_000).effects, []);
  });

  it("blocks HA and migration for unknown jobs only", () => {
    assert.equal(unresolvedJobBlocker([unresolved({})]), null, "a running job does not block");
    assert.equal(unresolvedJobBlocker([unresolved({ state: "finished", outcome: "completed" })]), null);
    const blocker = unresolvedJobBlocker([unresolved({ state: "unknown", detail: "libvirt is not answering" }), unresolved({ jobId: "mig-2", kind: "migrate-out", state: "unknown", detail: "x" })]);
    assert.equal(blocker, "active-commit job bj-1 on h1 is unknown (and 1 more): libvirt is not answering");
  });
});
