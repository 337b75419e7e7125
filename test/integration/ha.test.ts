// Proves the HA path through real processes (vigild, two vigil-agents on the libvirt test driver,
// vigilctl): a host whose agent dies is dead after its saving throws, waits for an operator under
// manual fencing (the default), and only after `vigilctl host confirm-fenced` does its VM restart on
// the other host; confirm-fenced is refused for a live host.
import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { killProcess, startAgent, startVigild, stopProcess, temporaryDirectory, vigilctl, vigilctlJson } from "../support/processes.js";
import { waitFor } from "../support/wait.js";

const haUuid = "0a0a0000-0000-4000-8000-000000000001";

/** A test-driver node with the shared VM `ha1`, running there or only defined (runstate 5: shut off). */
function nodeWith(directory: string, hostId: string, running: boolean): string {
  const path = join(directory, `${hostId}-node.xml`);
  writeFileSync(path, `<node>
  <cpu><mhz>2000</mhz><model>i686</model><nodes>1</nodes><sockets>1</sockets><cores>2</cores><threads>1</threads></cpu>
  <memory>8388608</memory>
  <domain type="test" xmlns:test="http://libvirt.org/schemas/domain/test/1.0">
    <name>ha1</name>
    <uuid>${haUuid}</uuid>
    <memory>65536</memory>
    <vcpu>1</vcpu>
    <os><type>hvm</type></os>
    ${running ? "" : "<test:runstate>5</test:runstate>"}
  </domain>
</node>
`);
  return `test://${path}`;
}

interface HostJson {
  id: string;
  liveness: string;
  livenessReason: string;
  fenceMethod: string;
}
interface VmJson {
  host: string;
  state: string;
  lastHost: string;
}

describe("HA with real processes", () => {
  it("restarts a dead host's VM elsewhere only after the operator confirms the fence", async () => {
    const directory = temporaryDirectory("ha");
    after(() => directory.remove());
    const vigild = await startVigild({ dataDir: `${directory.path}/cp1` });
    after(() => stopProcess(vigild));
    for (const [key, value] of [["keepalive.interval", "1"], ["keepalive.savingThrows", "2"]] as const) {
      assert.equal(vigilctl(vigild.address, ["config", "set", key, value]).code, 0);
    }
    const h1 = startAgent({ hostId: "h1", controlPlane: vigild.address, stateDir: `${directory.path}/h1`, libvirtUri: nodeWith(directory.path, "h1", true) });
    after(() => stopProcess(h1));
    await waitFor(() => vigilctl(vigild.address, ["vm", "show", "ha1"]).code === 0 || undefined, { timeoutMs: 20_000, what: "ha1 reported by h1" });
    const h2 = startAgent({ hostId: "h2", controlPlane: vigild.address, stateDir: `${directory.path}/h2`, libvirtUri: nodeWith(directory.path, "h2", false) });
    after(() => stopProcess(h2));
    await waitFor(() => vigilctlJson<{ id: string; alive: boolean }[]>(vigild.address, ["host", "list"]).filter((host) => host.alive).length === 2 || undefined, { timeoutMs: 20_000, what: "both hosts registered" });
    const before = vigilctlJson<VmJson>(vigild.address, ["vm", "show", "ha1"]);
    assert.deepEqual([before.host, before.state], ["h1", "running"], "h2's shut-off copy does not take the running VM");

    const refused = vigilctl(vigild.address, ["host", "confirm-fenced", "h2"]);
    assert.notEqual(refused.code, 0);
    assert.match(refused.stderr, /h2 is alive; confirm-fenced applies only to a dead, fencing or fence-failed host/);

    // h1 dies: its agent (and with it the test driver holding its domain) is killed.
    await killProcess(h1);
    const waiting = await waitFor(() => {
      const host = vigilctlJson<HostJson>(vigild.address, ["host", "show", "h1"]);
      return host.liveness === "fencing" ? host : undefined;
    }, { timeoutMs: 30_000, what: "h1 dead and waiting for an operator" });
    assert.equal(waiting.fenceMethod, "manual");
    assert.match(waiting.livenessReason, /vigilctl host confirm-fenced h1/);
    assert.equal(vigilctlJson<VmJson>(vigild.address, ["vm", "show", "ha1"]).host, "h1", "no restart without a confirmed fence");

    assert.equal(vigilctl(vigild.address, ["host", "confirm-fenced", "h1"]).code, 0);
    const restarted = await waitFor(() => {
      const vm = vigilctlJson<VmJson>(vigild.address, ["vm", "show", "ha1"]);
      return vm.host === "h2" && vm.state === "running" ? vm : undefined;
    }, { timeoutMs: 20_000, what: "ha1 running on h2" });
    assert.equal(restarted.lastHost, "h1");
    const events = vigilctl(vigild.address, ["events", "--host", "h1"]).stdout;
    assert.match(events, /host h1: fencing => fenced \(fence confirmed by an operator/);
  });
});
