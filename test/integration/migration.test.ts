// Proves the migration and flush API over real processes (vigild, agents on the libvirt test
// driver, real gRPC): every refusal of VmService.Migrate with its status and field; an accepted
// migration is a job that the primary's duty drives to a final state (the test driver cannot
// migrate, so the call fails, adjudication finds the destination without the VM and, the VM's
// fallback being off, the job ends rolled back with the VM still on its source); JobService
// List/Get/Cancel; a flush and an unflush as orchestrations with steps.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import * as grpc from "@grpc/grpc-js";
import type { HostServiceClient } from "../../common/generated/vigil/v1/HostService.js";
import type { Job__Output } from "../../common/generated/vigil/v1/Job.js";
import type { JobServiceClient } from "../../common/generated/vigil/v1/JobService.js";
import type { Vm__Output } from "../../common/generated/vigil/v1/Vm.js";
import type { VmServiceClient } from "../../common/generated/vigil/v1/VmService.js";
import { clientConstructor } from "../../common/proto.js";
import { startAgent, startVigild, stopProcess, temporaryDirectory, type Vigild } from "../support/processes.js";
import { testNodeUri } from "../support/test-node.js";
import { waitFor } from "../support/wait.js";

type Callback<Response> = (error: grpc.ServiceError | null, response?: Response) => void;

function call<Response>(invoke: (callback: Callback<Response>) => void): Promise<Response> {
  return new Promise((resolve, reject) => invoke((error, response) => (error !== null || response === undefined ? reject(error ?? new Error("empty response")) : resolve(response))));
}

/** The status a call ends with: its code name and message. */
async function refusal(promise: Promise<unknown>): Promise<{ code: string; details: string }> {
  try {
    await promise;
  } catch (error) {
    const status = error as grpc.ServiceError;
    return { code: grpc.status[status.code] ?? String(status.code), details: status.details };
  }
  assert.fail("the call succeeded");
}

const finalStates = new Set(["succeeded", "rolled-back", "failed", "canceled"]);
const deadline = () => ({ deadline: Date.now() + 10_000 });

describe("migration API with real processes", () => {
  let vigild: Vigild;
  let vms: VmServiceClient;
  let jobs: JobServiceClient;
  let hosts: HostServiceClient;
  const vm = (name: string) => call<Vm__Output>((callback) => vms.Get({ vm: name }, deadline(), callback));
  const job = (id: string) => call<Job__Output>((callback) => jobs.Get({ id }, deadline(), callback));
  const migrate = (request: { vm: string; to?: string; forceLive?: boolean }) => call<Job__Output>((callback) => vms.Migrate({ to: "", forceLive: false, ...request }, deadline(), callback));
  // Registered before anything starts: each process is added the moment it starts, and all stop after the suite.
  const cleanups: (() => unknown)[] = [];
  after(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup();
  });
  const finalJob = (id: string) => waitFor(async () => ((await job(id)).state !== undefined && finalStates.has((await job(id)).state) ? job(id) : undefined), { timeoutMs: 30_000, what: `job ${id} final` });

  before(async () => {
    const directory = temporaryDirectory("migration-api");
    cleanups.push(() => directory.remove());
    vigild = await startVigild({ dataDir: `${directory.path}/cp1` });
    cleanups.push(() => stopProcess(vigild));
    const agents = [
      startAgent({ hostId: "h1", controlPlane: vigild.address, stateDir: `${directory.path}/h1`, libvirtUri: testNodeUri(directory.path, "h1", 1, 2), extraArgs: ["--migration-uri", "test+tcp://127.0.0.1:1/h1"] }),
      startAgent({ hostId: "h2", controlPlane: vigild.address, stateDir: `${directory.path}/h2`, libvirtUri: testNodeUri(directory.path, "h2", 2, 0), extraArgs: ["--migration-uri", "test+tcp://127.0.0.1:1/h2"] }),
      // h3 has no migration URI: never a migration target.
      startAgent({ hostId: "h3", controlPlane: vigild.address, stateDir: `${directory.path}/h3`, libvirtUri: testNodeUri(directory.path, "h3", 3, 0) }),
    ];
    for (const agent of agents) cleanups.push(() => stopProcess(agent));
    vms = new (clientConstructor("VmService"))(vigild.address, grpc.credentials.createInsecure()) as unknown as VmServiceClient;
    jobs = new (clientConstructor("JobService"))(vigild.address, grpc.credentials.createInsecure()) as unknown as JobServiceClient;
    hosts = new (clientConstructor("HostService"))(vigild.address, grpc.credentials.createInsecure()) as unknown as HostServiceClient;
    cleanups.push(() => [vms, jobs, hosts].forEach((client) => client.close()));
    await waitFor(
      async () => {
        const list = await call<{ hosts: { id: string; alive: boolean; connected: boolean }[] }>((callback) => hosts.List({}, deadline(), callback));
        const up = list.hosts.filter((host) => host.alive && host.connected).length === 3;
        return up && (await vm("h1-vm2").catch(() => undefined))?.state === "running" ? true : undefined;
      },
      { timeoutMs: 30_000, what: "three agents connected and h1's VMs reported" },
    );
    // Duties start once this replica is the primary past takeover: a migration needs them.
    for (const name of ["h1-vm1", "h1-vm2"]) {
      await call((callback) => vms.SetPolicy({ vm: name, fields: ["migration_fallback"], migrationFallback: false }, deadline(), callback));
    }
  });

  it("refuses every bad migration with a status naming the problem", async () => {
    assert.deepEqual(await refusal(migrate({ vm: "h1-vm1", to: "h1" })), { code: "FAILED_PRECONDITION", details: "vm h1-vm1 already runs on h1: a VM cannot migrate to its own host" });
    assert.deepEqual(await refusal(migrate({ vm: "nope", to: "h2" })), { code: "NOT_FOUND", details: 'vm "nope" not found' });
    assert.deepEqual(await refusal(migrate({ vm: "h1-vm1", to: "h9" })), { code: "NOT_FOUND", details: 'host "h9" not found' });
    const badHost = await refusal(migrate({ vm: "h1-vm1", to: "bad host!" }));
    assert.equal(badHost.code, "INVALID_ARGUMENT");
    assert.match(badHost.details, /^to: /);
    const noUri = await refusal(migrate({ vm: "h1-vm1", to: "h3" }));
    assert.deepEqual([noUri.code, /h3 has no migration URI/.test(noUri.details)], ["FAILED_PRECONDITION", true]);
    assert.deepEqual((await call<{ jobs: Job__Output[] }>((callback) => jobs.List({ vm: "h1-vm1", host: "" }, deadline(), callback))).jobs, [], "a refusal creates no job");
  });

  it("an accepted migration is one job the duty drives to a final state; a failed call is adjudicated and rolled back, the VM stays on its source", async () => {
    const accepted = await migrate({ vm: "h1-vm1" });
    assert.deepEqual({ kind: accepted.kind, vm: accepted.vm, host: accepted.host, target: accepted.target, mode: accepted.mode, origin: accepted.originState }, { kind: "migrate", vm: "h1-vm1", host: "h1", target: "h2", mode: "live", origin: "running" });
    assert.ok(["pending", "running", "adjudicating", "rolled-back"].includes(accepted.state), accepted.state);
    const held = await refusal(migrate({ vm: "h1-vm1", to: "h2" }));
    if (held.code === "FAILED_PRECONDITION") assert.match(held.details, new RegExp(`held by job ${accepted.id}|skip-traced`));
    const done = await finalJob(accepted.id);
    assert.equal(done.state, "rolled-back");
    assert.match(done.error, /destination reports absent/);
    assert.match(done.error, /migration fallback is off/);
    const after = await vm("h1-vm1");
    assert.deepEqual({ host: after.host, state: after.state, activeJob: after.activeJob, skipTrace: after.skipTrace, fallback: after.migrationFallback }, { host: "h1", state: "running", activeJob: "", skipTrace: "", fallback: false });
    const listed = await call<{ jobs: Job__Output[] }>((callback) => jobs.List({ vm: "", host: "h2" }, deadline(), callback));
    assert.ok(listed.jobs.some((entry) => entry.id === accepted.id), "List by target host finds it");
    assert.deepEqual(await refusal(call((callback) => jobs.Cancel({ id: accepted.id }, deadline(), callback))), { code: "FAILED_PRECONDITION", details: `job ${accepted.id} is already rolled-back; only a pending or running job can be canceled` });
    assert.deepEqual(await refusal(call((callback) => jobs.Get({ id: "no-such-job" }, deadline(), callback))), { code: "NOT_FOUND", details: 'job "no-such-job" not found' });
  });

  it("a canceled migration ends canceled or, if its outcome came first, rolled back; the VM is released either way", async () => {
    const accepted = await migrate({ vm: "h1-vm2", to: "h2" });
    const canceled = await call<Job__Output>((callback) => jobs.Cancel({ id: accepted.id }, deadline(), callback)).catch(() => undefined);
    const done = await finalJob(accepted.id);
    assert.ok(done.state === "canceled" || (canceled === undefined && done.state === "rolled-back"), `${done.state}: ${done.error}`);
    assert.equal((await vm("h1-vm2")).activeJob, "");
  });

  it("a flush is an orchestration with steps; the host ends flushed, and an unflush makes it ready", async () => {
    const flush = await call<Job__Output>((callback) => hosts.Flush({ id: "h1" }, deadline(), callback));
    assert.deepEqual([flush.kind, flush.host], ["flush", "h1"]);
    const flushed = await finalJob(flush.id);
    // The test driver cannot migrate and both VMs forbid the fallback: they stay, and the flush says so.
    assert.equal(flushed.state, "failed");
    assert.equal(flushed.steps.length, 2);
    assert.ok(flushed.steps.every((step) => step.kind === "migrate" && step.parent === flush.id && step.state === "rolled-back"));
    assert.match(flushed.error, /left behind: h1-vm1/);
    const host = await call<{ state: string }>((callback) => hosts.Get({ id: "h1" }, deadline(), callback));
    assert.equal(host.state, "flushed");
    assert.match((await refusal(migrate({ vm: "h1-vm1", to: "h1" }))).details, /own host/);
    const unflush = await call<Job__Output>((callback) => hosts.Unflush({ id: "h1" }, deadline(), callback));
    assert.equal((await finalJob(unflush.id)).state, "succeeded");
    assert.equal((await call<{ state: string }>((callback) => hosts.Get({ id: "h1" }, deadline(), callback))).state, "ready");
    const all = await call<{ jobs: Job__Output[] }>((callback) => jobs.List({ vm: "", host: "h1" }, deadline(), callback));
    assert.ok(all.jobs.some((entry) => entry.id === flush.id) && all.jobs.some((entry) => entry.id === unflush.id));
  });
});
