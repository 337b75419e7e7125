// Proves the walking skeleton end to end with real processes on loopback:
// vigild + vigil-agent (libvirt test driver) + vigilctl, state changes round-trip, bad input changes nothing.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { startAgent, startVigild, stopProcess, temporaryDirectory, vigilctl, vigilctlJson, type RunningProcess, type Vigild } from "../support/processes.js";
import { waitFor } from "../support/wait.js";

interface HostItem {
  id: string;
  state: string;
  alive: boolean;
  vms: number;
}
interface VmItem {
  name: string;
  uuid: string;
  host: string;
  state: string;
  restart: string;
}

describe("walking skeleton: vigild, vigil-agent and vigilctl", () => {
  const directory = temporaryDirectory("skeleton");
  let vigild: Vigild;
  let agent: RunningProcess;

  before(async () => {
    vigild = await startVigild({ dataDir: `${directory.path}/cp1` });
    agent = startAgent({ hostId: "h1", controlPlane: vigild.address, stateDir: `${directory.path}/h1` });
  });

  after(async () => {
    const agentExit = agent === undefined ? 0 : await stopProcess(agent);
    const vigildExit = vigild === undefined ? 0 : await stopProcess(vigild);
    directory.remove();
    assert.equal(agentExit, 0, "the agent exits 0 on SIGTERM");
    assert.equal(vigildExit, 0, "vigild exits 0 on SIGTERM");
  });

  const vms = () => vigilctlJson<VmItem[]>(vigild.address, ["vm", "list"]);
  const vmState = (name: string) => vms().find((vm) => vm.name === name)?.state;

  it("shows the host alive with its VMs", async () => {
    const hosts = await waitFor(() => {
      const list = vigilctlJson<HostItem[]>(vigild.address, ["host", "list"]);
      return list.length === 1 && list[0]!.alive && list[0]!.vms === 1 ? list : undefined;
    }, { timeoutMs: 20_000, what: "host h1 to be listed alive with one VM" });
    assert.deepEqual(
      hosts.map(({ id, state, alive, vms: count }) => ({ id, state, alive, vms: count })),
      [{ id: "h1", state: "ready", alive: true, vms: 1 }],
    );
    const listed = vms();
    assert.equal(listed.length, 1);
    assert.equal(listed[0]!.name, "test");
    assert.equal(listed[0]!.host, "h1");
    assert.equal(listed[0]!.state, "running");
    assert.equal(listed[0]!.restart, "on-host-failure");
    assert.match(listed[0]!.uuid, /^[0-9a-f-]{36}$/);
  });

  it("stops and starts a VM through vigilctl and the agent", async () => {
    const stop = vigilctl(vigild.address, ["vm", "stop", "test"]);
    assert.equal(stop.code, 0, stop.stderr);
    assert.equal(vmState("test"), "shutoff", "the stop is committed before vigilctl returns");
    const shown = vigilctlJson<VmItem & { reason: string }>(vigild.address, ["vm", "show", "test"]);
    assert.equal(shown.reason, "destroyed");
    const start = vigilctl(vigild.address, ["vm", "start", "test"]);
    assert.equal(start.code, 0, start.stderr);
    assert.equal(vmState("test"), "running");
    const filtered = vigilctlJson<VmItem[]>(vigild.address, ["vm", "list", "--host", "h1"]);
    assert.equal(filtered.length, 1);
    assert.deepEqual(vigilctlJson<VmItem[]>(vigild.address, ["vm", "list", "--host", "h2"]), []);
  });

  it("refuses an unknown VM with exit 1 and one clear line, changing nothing", () => {
    const before = vms();
    const result = vigilctl(vigild.address, ["vm", "stop", "no-such-vm"]);
    assert.equal(result.code, 1);
    const lines = result.stderr.trim().split("\n");
    assert.equal(lines.length, 1, `one line on stderr, got: ${result.stderr}`);
    assert.match(lines[0]!, /no-such-vm.*not found/);
    assert.deepEqual(vms(), before);
  });

  it("refuses malformed arguments with exit 2 and one clear line, changing nothing", () => {
    const before = vms();
    for (const args of [["vm", "start"], ["vm", "set", "test", "--priority", "abc"], ["vm", "frobnicate", "test"], ["-o", "yaml", "vm", "list"]]) {
      const result = vigilctl(vigild.address, args);
      assert.equal(result.code, 2, `vigilctl ${args.join(" ")} exits 2`);
      assert.equal(result.stderr.trim().split("\n").length, 1, `one stderr line for ${args.join(" ")}: ${result.stderr}`);
    }
    assert.deepEqual(vms(), before);
  });

  it("reports cluster status as the single primary replica", () => {
    const status = vigilctlJson<{ term: number; primary: string; primaryState: string; maintenance: boolean; members: { id: string; role: string; healthy: boolean }[] }>(
      vigild.address,
      ["cluster", "status"],
    );
    assert.equal(status.primary, "cp1");
    assert.ok(status.term >= 1);
    assert.ok(["takeover", "primary"].includes(status.primaryState), status.primaryState);
    assert.equal(status.maintenance, false);
    assert.deepEqual(status.members.map((member) => [member.id, member.role, member.healthy]), [["cp1", "leader", true]]);
    // The lone replica idled for seconds between calls: its duties must never have flapped.
    assert.equal(vigild.output().split('"msg":"primary duties started"').length - 1, 1, "duties started once");
    assert.ok(!vigild.output().includes('"msg":"primary duties stopped"'), "duties never stopped while running");
  });
});
