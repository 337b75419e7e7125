// Issue 7 end to end on the real lab: vigild plus two agents on the lab daemons host1 and host2, an HA
// VM (TCG QEMU) running on host1. Host 1 "dies" (its agent is killed); vigild fences it through the
// fence-agent interface with scripts/lab/fence_vigil_lab (which kills host1's QEMU and stops its
// libvirtd) and starts the VM on host2. With the fence script made to fail, the host ends
// fence-failed and the VM does NOT start on host2 within a bounded window; once the script works
// again, a retry fences and the VM starts. Prints the time from host1's death to the VM running on host2.
//
// Runs wherever the lab does (CI included); VIGIL_HA_E2E=0 skips it locally (it takes the lab for
// minutes). What it relies on:
// - vigild wires fenceMethodsFromConfig (controlplane/fencing/config.ts) into the fencing duty, with
//   this YAML: fencing.hosts.h1 = { method: fence-agent, agent, options: { port, fail_file } };
// - cluster config keys keepalive.interval, keepalive.savingThrows, fence.connectivityThreshold;
// - `vigilctl vm set VM --restart on-host-failure`; `vigilctl -o json host show H` has `liveness` in
//   alive | suspect | dead | fencing | fenced | fence-failed (`state` is ready | maintenance | ...); `vigilctl -o json vm list` items have
//   name, host, state; `vigilctl -o json cluster status` has primaryState (`primary` after the grace);
// - HA restarts a VM of a fenced host with a StartDomain command to the chosen host's agent, the VM
//   being defined (shut off) on that host's libvirt; a failed fence is retried with backoff.
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { randomUUID } from "node:crypto";
import { existsSync, rmSync, writeFileSync } from "node:fs";
import { after, before, describe, test } from "node:test";
import { killProcess, startAgent, startVigild, stopProcess, temporaryDirectory, vigilctl, vigilctlJson, type RunningProcess, type Vigild } from "../support/processes.js";
import { waitFor } from "../support/wait.js";
import { qemuDomainXml } from "./domain-xml.js";
import { fenceVigilLabPath, holdLabTestsLock, locateLab, restartLabDaemon, type LabEnvironment } from "./lab.js";

const enabled = process.env.VIGIL_HA_E2E !== "0";
const lookup = enabled ? locateLab() : null;
const skip = !enabled ? "VIGIL_HA_E2E=0: skipped on request" : (lookup?.skipReason ?? false);

const keepaliveIntervalSeconds = 0.5;
const savingThrows = 4;
/** Detection (interval × throws) + fence (kill QEMU, stop libvirtd: ~2 s) + start on host2, with slack for TCG and a busy machine. */
const failoverBoundMs = 60_000;
/** How long the VM must stay off host2 after the host is seen fence-failed: several fence retries' worth. */
const mustNotStartWindowMs = 15_000;

interface VmRow {
  name: string;
  host: string;
  state: string;
}

function virsh(uri: string, args: string[]): string {
  return execFileSync("virsh", ["-q", "-c", uri, ...args], { encoding: "utf8", timeout: 60_000 }).trim();
}

function domainState(uri: string, name: string): string {
  const result = spawnSync("virsh", ["-q", "-c", uri, "domstate", name], { encoding: "utf8", timeout: 30_000 });
  return result.status === 0 ? result.stdout.trim() : `unknown (${result.stderr.trim()})`;
}

function removeDomain(uri: string, name: string): void {
  spawnSync("virsh", ["-q", "-c", uri, "destroy", name], { timeout: 30_000 });
  spawnSync("virsh", ["-q", "-c", uri, "undefine", name], { timeout: 30_000 });
}

function hostState(address: string, hostId: string): string {
  return vigilctlJson<{ liveness: string }>(address, ["host", "show", hostId]).liveness;
}

function vmRow(address: string, name: string): VmRow | undefined {
  return vigilctlJson<VmRow[]>(address, ["vm", "list"]).find((vm) => vm.name === name);
}

function host1On(): boolean {
  return spawnSync(fenceVigilLabPath, ["-o", "status", "-n", "host1"]).status === 0;
}

describe("HA end to end on the lab: fence host1 through fence_vigil_lab, restart on host2", { skip }, () => {
  const lab = lookup?.lab as LabEnvironment;
  let releaseLab: (() => Promise<void>) | undefined;

  before(async () => {
    releaseLab = await holdLabTestsLock();
  });

  after(async () => {
    // Leave both daemons running and healthy.
    if (!host1On()) restartLabDaemon("host1");
    await releaseLab?.();
  });

  /** vigild with fencing of h1 through the lab script, two agents, the HA VM running on h1. */
  async function startScenario(label: string): Promise<{ vigild: Vigild; agent1: RunningProcess; agent2: RunningProcess; name: string; failFile: string }> {
    const directory = temporaryDirectory(`ha-e2e-${label}`);
    after(() => directory.remove());
    const name = `vigil-ha-e2e-${randomUUID().slice(0, 8)}`;
    const uuid = randomUUID();
    after(() => {
      // A fenced host1 is powered off: bring its daemon back so its copy of the domain can go too.
      if (!host1On()) restartLabDaemon("host1");
      removeDomain(lab.host1Uri, name);
      removeDomain(lab.host2Uri, name);
    });
    const failFile = `${directory.path}/fence-fails`;
    const config = `${directory.path}/vigild.yaml`;
    writeFileSync(
      config,
      `fencing:
  default: manual
  hosts:
    h1:
      method: fence-agent
      agent: ${fenceVigilLabPath}
      options: { port: host1, fail_file: ${failFile} }
      timeout: 60
      retries: 0
`,
    );
    const vigild = await startVigild({ dataDir: `${directory.path}/cp1`, extraArgs: ["--config", config] });
    after(() => stopProcess(vigild));
    for (const [key, value] of [["keepalive.interval", String(keepaliveIntervalSeconds)], ["keepalive.savingThrows", String(savingThrows)], ["fence.connectivityThreshold", "1"]] as const) {
      const result = vigilctl(vigild.address, ["config", "set", key, value]);
      assert.equal(result.code, 0, `config set ${key}: ${result.stderr}`);
    }

    writeFileSync(`${directory.path}/domain.xml`, qemuDomainXml({ name, uuid }));
    virsh(lab.host1Uri, ["define", `${directory.path}/domain.xml`]);
    virsh(lab.host1Uri, ["start", name]);
    const agent1 = startAgent({ hostId: "h1", controlPlane: vigild.address, stateDir: `${directory.path}/h1`, libvirtUri: lab.host1Uri });
    after(() => stopProcess(agent1));
    await waitFor(() => vmRow(vigild.address, name)?.state === "running" || undefined, { timeoutMs: 60_000, what: `${name} running on h1 in vigil` });
    // Defined (shut off) on host2 only after h1 owns it: a copy that is off elsewhere is ignored.
    virsh(lab.host2Uri, ["define", `${directory.path}/domain.xml`]);
    const agent2 = startAgent({ hostId: "h2", controlPlane: vigild.address, stateDir: `${directory.path}/h2`, libvirtUri: lab.host2Uri });
    after(() => stopProcess(agent2));
    await waitFor(() => vigilctlJson<{ alive: boolean }>(vigild.address, ["host", "show", "h2"]).alive || undefined, { timeoutMs: 60_000, what: "h2 alive" }).catch((error: unknown) => {
      throw new Error(`${String(error)}\nh2's agent said:\n${agent2.output().slice(-3000)}`);
    });
    const policy = vigilctl(vigild.address, ["vm", "set", name, "--restart", "on-host-failure"]);
    assert.equal(policy.code, 0, policy.stderr);
    // Past the takeover grace: fencing is allowed.
    await waitFor(() => vigilctlJson<{ primaryState: string }>(vigild.address, ["cluster", "status"]).primaryState === "primary" || undefined, { timeoutMs: 30_000, what: "the primary past its takeover grace" });
    assert.equal(vmRow(vigild.address, name)?.host, "h1");
    return { vigild, agent1, agent2, name, failFile };
  }

  test("host1 dies: vigil fences it through fence_vigil_lab and the VM runs on host2", async () => {
    const { vigild, agent1, name } = await startScenario("fence");
    const killedAt = performance.now();
    await killProcess(agent1);
    await waitFor(() => domainState(lab.host2Uri, name) === "running" || undefined, { timeoutMs: failoverBoundMs, what: `${name} running on host2`, intervalMs: 100 });
    const failoverMs = performance.now() - killedAt;
    assert.equal(hostState(vigild.address, "h1"), "fenced");
    assert.ok(!host1On(), "host1's daemon was powered off by the fence");
    await waitFor(() => {
      const row = vmRow(vigild.address, name);
      return row?.host === "h2" && row.state === "running" ? row : undefined;
    }, { timeoutMs: 20_000, what: `vigil to show ${name} running on h2` });
    process.stdout.write(
      `ha-e2e: ${Math.round(failoverMs)} ms from host1's death (agent killed; its last keepalive at most ${keepaliveIntervalSeconds * 1000} ms earlier) to ${name} running on host2 ` +
        `(keepalive.interval ${keepaliveIntervalSeconds} s, keepalive.savingThrows ${savingThrows}, fence via fence_vigil_lab)\n`,
    );
  });

  test("the fence script fails: host1 is fence-failed and the VM does not start on host2; once it works, a retry fences and the VM starts", async () => {
    const { vigild, agent1, name, failFile } = await startScenario("fence-fails");
    writeFileSync(failFile, "");
    after(() => rmSync(failFile, { force: true }));
    await killProcess(agent1);
    // The duty ran and the fence failed (a positive condition, so the window below is honest).
    await waitFor(() => hostState(vigild.address, "h1") === "fence-failed" || undefined, { timeoutMs: failoverBoundMs, what: "h1 fence-failed" });
    // Must NOT become true within the window: the VM running on host2.
    const startedOnHost2 = await waitFor(() => domainState(lab.host2Uri, name) === "running" || vmRow(vigild.address, name)?.host === "h2" || undefined, {
      timeoutMs: mustNotStartWindowMs,
      what: `${name} on host2 (must not happen)`,
      intervalMs: 200,
    }).then(
      () => true,
      () => false,
    );
    assert.equal(startedOnHost2, false, `${name} must not start on host2 while h1 is not confirmed fenced`);
    assert.equal(domainState(lab.host1Uri, name), "running", "the failing script touched nothing: the VM still runs on host1");
    assert.ok(host1On());
    assert.equal(hostState(vigild.address, "h1"), "fence-failed");
    // The device works again: a retry (with backoff) fences and HA restarts the VM.
    rmSync(failFile);
    assert.ok(!existsSync(failFile));
    await waitFor(() => domainState(lab.host2Uri, name) === "running" || undefined, { timeoutMs: failoverBoundMs * 2, what: `${name} running on host2 after a successful retry`, intervalMs: 200 });
    assert.equal(hostState(vigild.address, "h1"), "fenced");
  });
});
