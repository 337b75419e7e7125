// Proves agent recovery (DESIGN §9) end to end with real vigild and vigil-agent processes on real libvirtd + QEMU (scripts/lab): a bandwidth-limited active commit that finishes while the agent is down (kill -9) arrives as a recovered completion with the disk chain of the domain XML; one still running across the restart is re-adopted and its real completion arrives once; with libvirtd down the job is reported unknown, then resolved when libvirtd returns. Holds the lab tests lock.
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { rmSync } from "node:fs";
import { after, before, describe, test } from "node:test";
import { diskChain } from "../../agent/domain-disks.js";
import { LibvirtConnection, type DomainEvent } from "../../agent/libvirt/index.js";
import type { Vm as VmJson, VmJob as VmJobJson } from "../../controlplane/cli/wire.js";
import { killProcess, startAgent, startVigild, stopProcess, temporaryDirectory, vigilctlJson, type RunningProcess, type Vigild } from "../support/processes.js";
import { waitFor } from "../support/wait.js";
import { qemuDomainXml } from "./domain-xml.js";
import { createQcow2Chain, holdLabTestsLock, locateLab, removeDomain, startLabDaemon, stopLabDaemon, type LabEnvironment } from "./lab.js";
import { EventRecorder } from "./wait-for.js";

const lookup = locateLab();
const domainNamePrefix = "vigil-recovery-";
/** Slow enough that the commit of 8 MiB cannot finish by itself during a test (~2 min). */
const throttledBytesPerSecond = 64 * 1024;
const unthrottledBytesPerSecond = 1024 * 1024 * 1024;
const stateTimeoutMs = 30_000;
const libvirtdTimeoutMs = 90_000;

interface EventJson {
  job: string;
  kind: string;
  message: string;
}

/** Timings measured by the tests, printed at the end (the report quotes them). */
const timings: Record<string, number> = {};

describe("agent recovery on real libvirtd + QEMU (scripts/lab)", { skip: lookup.skipReason ?? false }, () => {
  const lab = lookup.lab as LabEnvironment;
  const directory = temporaryDirectory("lab-recovery");
  let releaseLab: (() => Promise<void>) | undefined;
  let virsh: LibvirtConnection;
  let events: EventRecorder;
  let vigild: Vigild;
  let agent: RunningProcess | null = null;
  const agents: RunningProcess[] = [];
  const created: { uuid: string; images: string }[] = [];

  function launchAgent(): RunningProcess {
    const running = startAgent({
      hostId: "h1",
      controlPlane: vigild.address,
      stateDir: `${directory.path}/agent`,
      libvirtUri: lab.host1Uri,
      extraArgs: ["--job-scan-interval", "300"],
    });
    agents.push(running);
    agent = running;
    return running;
  }

  const vmShow = (name: string): VmJson => vigilctlJson<VmJson>(vigild.address, ["vm", "show", name]);
  const commitJob = (name: string): VmJobJson | undefined => {
    try {
      return vmShow(name).jobs.find((job) => job.kind === "active-commit");
    } catch {
      return undefined;
    }
  };
  const jobEvents = (jobId: string): EventJson[] => vigilctlJson<EventJson[]>(vigild.address, ["events"]).filter((event) => event.job === jobId);

  /** A running 1-vCPU TCG guest on host1 whose vda is top.qcow2 (8 MiB of data) over base.qcow2. */
  async function guestWithChain(): Promise<{ name: string; uuid: string; base: string; top: string }> {
    const uuid = randomUUID();
    const name = `${domainNamePrefix}${uuid.slice(0, 8)}`;
    const images = `${lab.imagesDirectory}/${uuid}`;
    created.push({ uuid, images });
    const chain = createQcow2Chain(images, 8);
    await virsh.defineDomain(qemuDomainXml({ name, uuid, diskPath: chain.top }));
    await virsh.startDomain(uuid);
    await waitFor(() => commitJob(name) === undefined && vmShow(name).name === name, { timeoutMs: stateTimeoutMs, what: `${name} known to the control plane` });
    return { name, uuid, ...chain };
  }

  /** Someone else (the test, as an operator with virsh would) starts the throttled active commit. */
  async function startCommit(guest: { name: string; uuid: string }): Promise<{ job: VmJobJson; seenMs: number }> {
    const startedMs = performance.now();
    await virsh.blockCommit(guest.uuid, "vda", { active: true, bandwidthBytesPerSecond: throttledBytesPerSecond });
    const job = await waitFor(() => (commitJob(guest.name)?.state === "running" ? commitJob(guest.name) : undefined), { timeoutMs: stateTimeoutMs, what: "the control plane to show the commit running" });
    return { job, seenMs: performance.now() - startedMs };
  }

  /** Lets the commit run at full speed, waits for "ready", pivots, and waits for "completed". */
  async function finishCommit(uuid: string): Promise<void> {
    const isReady = (event: DomainEvent) => event.kind === "block-job" && event.uuid === uuid && event.status === "ready";
    const isCompleted = (event: DomainEvent) => event.kind === "block-job" && event.uuid === uuid && event.status === "completed";
    await virsh.setBlockJobBandwidth(uuid, "vda", unthrottledBytesPerSecond);
    await events.waitForEvent(isReady, { timeoutMs: stateTimeoutMs, what: "the commit ready" });
    await virsh.abortBlockJob(uuid, "vda", { pivot: true });
    await events.waitForEvent(isCompleted, { timeoutMs: stateTimeoutMs, what: "the commit completed" });
  }

  // Registered before anything starts: every process started below is stopped even if a wait fails.
  after(async () => {
    await Promise.all(agents.map((running) => stopProcess(running).catch(() => killProcess(running))));
    if (vigild !== undefined) await stopProcess(vigild);
  });

  before(async () => {
    releaseLab = await holdLabTestsLock();
    startLabDaemon("host1");
    virsh = await LibvirtConnection.open(lab.host1Uri);
    events = new EventRecorder(virsh);
    for (const domain of await virsh.listDomains()) {
      if (domain.name.startsWith(domainNamePrefix)) await removeDomain(virsh, domain.uuid);
    }
    vigild = await startVigild({ dataDir: `${directory.path}/vigild` });
    launchAgent();
    await waitFor(() => vigilctlJson<{ id: string; alive: boolean }[]>(vigild.address, ["host", "list"]).some((host) => host.id === "h1" && host.alive), { timeoutMs: stateTimeoutMs, what: "agent h1 connected" });
  });

  after(async () => {
    // libvirtd must run again whatever happened, for the next lab test.
    startLabDaemon("host1");
    await waitFor(() => virsh.isAlive(), { timeoutMs: libvirtdTimeoutMs, what: "the test's libvirt connection restored" }).catch(() => undefined);
    for (const { uuid, images } of created) {
      if (virsh.isAlive()) await removeDomain(virsh, uuid);
      rmSync(images, { recursive: true, force: true });
    }
    events?.stop();
    await virsh?.close();
    await releaseLab?.();
    directory.remove();
    process.stdout.write(`# lab recovery timings (ms): ${JSON.stringify(timings)}\n`);
  });

  test("a commit that finishes while the agent is down (kill -9) arrives as a recovered completion, and vm show's chain matches the domain XML", async () => {
    const guest = await guestWithChain();
    const { job, seenMs } = await startCommit(guest);
    timings.commitSeenByScanMs = Math.round(seenMs);
    assert.deepEqual(job.chainBefore, [guest.top, guest.base]);

    await killProcess(agent!);
    await finishCommit(guest.uuid);
    const xmlChain = diskChain(await virsh.getDomainXml(guest.uuid), "vda")?.files;
    assert.deepEqual(xmlChain, [guest.base], "the pivot left base as the active image");

    const restartedMs = performance.now();
    launchAgent();
    const finished = await waitFor(() => {
      const current = commitJob(guest.name);
      return current?.state === "finished" ? current : undefined;
    }, { timeoutMs: stateTimeoutMs, what: "the recovered completion at the control plane" });
    timings.restartToRecoveredCompletionMs = Math.round(performance.now() - restartedMs);
    assert.equal(finished.id, job.id);
    assert.equal(finished.outcome, "completed");
    assert.equal(finished.recovered, true);
    assert.match(finished.detail, /no longer in the chain/);
    const vm = await waitFor(() => {
      const shown = vmShow(guest.name);
      return shown.disks.find((disk) => disk.target === "vda")?.files.length === 1 ? shown : undefined;
    }, { timeoutMs: stateTimeoutMs, what: "the new chain in vm show" });
    assert.deepEqual(vm.disks.find((disk) => disk.target === "vda")?.files, diskChain(await virsh.getDomainXml(guest.uuid), "vda")?.files);
    assert.equal(vm.jobBlocker, "");
    assert.equal(jobEvents(job.id).filter((event) => /=> finished/.test(event.message)).length, 1);
  });

  test("a commit still running across a kill -9 and restart is re-adopted, and its real completion arrives once", async () => {
    const guest = await guestWithChain();
    const { job } = await startCommit(guest);
    await killProcess(agent!);
    const restarted = launchAgent();
    await waitFor(() => /"running":1[^\n]*"msg":"recovery finished"/.test(restarted.output()), { timeoutMs: stateTimeoutMs, what: "the restarted agent's recovery to re-adopt the running job" });
    const recoveryMs = Number(/"durationMs":(\d+)[^\n]*"msg":"recovery finished"/.exec(restarted.output())?.[1]);
    timings.recoveryWithRunningJobMs = recoveryMs;
    assert.equal(commitJob(guest.name)?.state, "running", "still running at the control plane");

    const pivotMs = performance.now();
    await finishCommit(guest.uuid);
    const finished = await waitFor(() => (commitJob(guest.name)?.state === "finished" ? commitJob(guest.name) : undefined), { timeoutMs: stateTimeoutMs, what: "the real completion at the control plane" });
    timings.pivotToCompletionAtControlPlaneMs = Math.round(performance.now() - pivotMs);
    assert.equal(finished.id, job.id);
    assert.deepEqual([finished.outcome, finished.recovered], ["completed", false]);
    // Exactly once: a later scan or restart finds nothing more to report.
    const restartedAgain = launchAgent();
    await killProcess(restarted);
    await waitFor(() => /"msg":"recovery finished"/.test(restartedAgain.output()), { timeoutMs: stateTimeoutMs, what: "a second recovery" });
    await waitFor(() => vmShow(guest.name).disks.find((disk) => disk.target === "vda")?.files.length === 1, { timeoutMs: stateTimeoutMs, what: "the chain synced" });
    assert.equal(jobEvents(job.id).filter((event) => /=> finished/.test(event.message)).length, 1, "one completion event");
    assert.equal(vmShow(guest.name).jobs.filter((candidate) => candidate.kind === "active-commit").length, 1);
  });

  test("restarted while libvirtd is down, the agent reports the job unknown (blocking HA), then resolves it when libvirtd returns", async () => {
    const guest = await guestWithChain();
    const { job } = await startCommit(guest);
    await killProcess(agent!);
    stopLabDaemon("host1");
    try {
      const restarted = launchAgent();
      const unknown = await waitFor(() => (commitJob(guest.name)?.state === "unknown" ? commitJob(guest.name) : undefined), { timeoutMs: stateTimeoutMs, what: "the job unknown at the control plane" });
      assert.equal(unknown.id, job.id);
      assert.match(unknown.detail, /libvirt is not answering/);
      assert.match(vmShow(guest.name).jobBlocker, new RegExp(`${job.id} on h1 is unknown`));
      // Recovery finished (bounded) although libvirtd is down: the agent started and reported.
      await waitFor(() => /"unknown":1[^\n]*"msg":"recovery finished"/.test(restarted.output()), { timeoutMs: stateTimeoutMs, what: "the agent's recovery report" });
    } finally {
      startLabDaemon("host1");
    }
    const returnedMs = performance.now();
    await waitFor(() => commitJob(guest.name)?.state === "running", { timeoutMs: libvirtdTimeoutMs, what: "the job running again once libvirtd answers" });
    timings.libvirtdBackToJobResolvedMs = Math.round(performance.now() - returnedMs);
    assert.equal(vmShow(guest.name).jobBlocker, "");
    await waitFor(() => virsh.isAlive(), { timeoutMs: libvirtdTimeoutMs, what: "the test's own connection restored" });
    await finishCommit(guest.uuid);
    const finished = await waitFor(() => (commitJob(guest.name)?.state === "finished" ? commitJob(guest.name) : undefined), { timeoutMs: stateTimeoutMs, what: "the completion" });
    assert.deepEqual([finished.id, finished.outcome], [job.id, "completed"]);
  });
});
