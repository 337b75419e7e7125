// Proves, with real vigild and vigil-agent processes on libvirt's test driver, that the agent runs its recovery (re-adopting every domain, with its XML) before it connects to the control plane and reports ready, bounded for many domains, and that a journal left by a killed agent is recovered on the next start. Prints the measured recovery time.
import assert from "node:assert/strict";
import { after, describe, it } from "node:test";
import { killProcess, startAgent, startVigild, stopProcess, temporaryDirectory, vigilctlJson, type RunningProcess } from "../support/processes.js";
import { testNodeUri } from "../support/test-node.js";
import { waitFor } from "../support/wait.js";

const domainCount = 1_000;
/** Generous for a shared 2-core machine; the measured figure is printed. */
const recoveryBoundMs = 20_000;

interface RecoveryLine {
  domains: number;
  running: number;
  unknown: number;
  durationMs: number;
}

function recoveryLines(output: string): RecoveryLine[] {
  return output
    .split("\n")
    .filter((line) => line.includes('"msg":"recovery finished"'))
    .map((line) => JSON.parse(line) as RecoveryLine);
}

describe("agent recovery on start (test driver)", () => {
  const directory = temporaryDirectory("agent-recovery");
  const processes: RunningProcess[] = [];
  after(async () => {
    for (const running of processes) await stopProcess(running).catch(() => killProcess(running));
    directory.remove();
  });

  it(`re-adopts ${domainCount} domains before connecting, then reports them all`, async () => {
    const vigild = await startVigild({ dataDir: `${directory.path}/vigild` });
    processes.push(vigild);
    const libvirtUri = testNodeUri(directory.path, "h1", 1, domainCount);
    const agentOptions = { hostId: "h1", controlPlane: vigild.address, stateDir: `${directory.path}/agent`, libvirtUri };
    const agent = startAgent(agentOptions);
    processes.push(agent);
    const [recovery] = await waitFor(() => (recoveryLines(agent.output()).length > 0 ? recoveryLines(agent.output()) : undefined), { timeoutMs: 60_000, what: "the agent's recovery" });
    assert.equal(recovery!.domains, domainCount);
    assert.ok(recovery!.durationMs < recoveryBoundMs, `recovery took ${recovery!.durationMs} ms`);
    await waitFor(() => /"msg":"connected to the control plane"/.test(agent.output()), { timeoutMs: 30_000, what: "the agent connected" });
    const output = agent.output();
    assert.ok(output.indexOf('"msg":"recovery finished"') < output.indexOf('"msg":"connected to the control plane"'), "recovery runs before the agent connects and reports ready");
    await waitFor(() => vigilctlJson<unknown[]>(vigild.address, ["vm", "list"]).length === domainCount, { timeoutMs: 60_000, what: "every domain at the control plane" });
    process.stdout.write(`# agent recovery of ${domainCount} test-driver domains: ${recovery!.durationMs} ms\n`);

    // kill -9 and start again on the same journal: the second recovery runs on what the first left.
    await killProcess(agent);
    const again = startAgent(agentOptions);
    processes.push(again);
    const [second] = await waitFor(() => (recoveryLines(again.output()).length > 0 ? recoveryLines(again.output()) : undefined), { timeoutMs: 60_000, what: "the second recovery" });
    assert.deepEqual([second!.domains, second!.running, second!.unknown], [domainCount, 0, 0]);
    process.stdout.write(`# agent recovery of ${domainCount} domains after kill -9: ${second!.durationMs} ms\n`);
  });
});
