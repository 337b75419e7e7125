// Proves the agent's self-fence and stop order with real processes: vigild and vigil-agent on
// libvirt's test driver. destroy-vms: a control plane frozen (SIGSTOP) past the timeout makes the
// agent destroy its running domains, which the control plane records once it runs again; a freeze
// shorter than the timeout destroys nothing. watchdog (a regular file stands in for /dev/watchdog):
// fed while in contact, magic 'V' on a clean stop, no longer fed (and no 'V') after the timeout.
// Stop order: the keepalive stops last, after the executor, event source and libvirt.
import assert from "node:assert/strict";
import { existsSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { after, describe, it } from "node:test";
import * as grpc from "@grpc/grpc-js";
import type { AgentMessage__Output } from "../../common/generated/vigil/v1/AgentMessage.js";
import type { ControlMessage } from "../../common/generated/vigil/v1/ControlMessage.js";
import type { Hello__Output } from "../../common/generated/vigil/v1/Hello.js";
import { bindServer } from "../../common/grpc-server.js";
import { serviceDefinition } from "../../common/proto.js";
import { startAgent, startVigild, stopProcess, temporaryDirectory, vigilctl, vigilctlJson, type RunningProcess, type Vigild } from "../support/processes.js";
import { testNodeUri } from "../support/test-node.js";
import { waitFor } from "../support/wait.js";

interface VmRow {
  name: string;
  state: string;
  host: string;
}

function vms(address: string): VmRow[] {
  return vigilctlJson<VmRow[]>(address, ["vm", "list"]);
}

function freeze(process: RunningProcess): void {
  process.child.kill("SIGSTOP");
}

function thaw(process: RunningProcess): void {
  process.child.kill("SIGCONT");
}

/** Log lines (pino JSON) of a process whose msg matches, in order. */
function messages(process: RunningProcess, pattern: RegExp): { msg: string; time: number }[] {
  return process
    .output()
    .split("\n")
    .filter((line) => line.startsWith("{"))
    .map((line) => JSON.parse(line) as { msg: string; time: string })
    .filter((entry) => pattern.test(entry.msg))
    .map((entry) => ({ msg: entry.msg, time: Date.parse(entry.time) }));
}

async function startCluster(directory: string, agentArgs: string[], vmCount = 2): Promise<{ vigild: Vigild; agent: RunningProcess }> {
  const vigild = await startVigild({ dataDir: `${directory}/cp1` });
  after(async () => {
    thaw(vigild);
    await stopProcess(vigild);
  });
  // Small keepalive values keep the test fast.
  assert.equal(vigilctl(vigild.address, ["config", "set", "keepalive.interval", "0.5"]).code, 0);
  const agent = startAgent({ hostId: "h1", controlPlane: vigild.address, stateDir: `${directory}/h1`, libvirtUri: testNodeUri(directory, "h1", 1, vmCount), extraArgs: agentArgs });
  after(() => stopProcess(agent));
  await waitFor(() => vms(vigild.address).filter((vm) => vm.state === "running").length === vmCount || undefined, { timeoutMs: 20_000, what: `h1's ${vmCount} VMs running` });
  return { vigild, agent };
}

describe("agent self-fence with real processes", () => {
  it("destroy-vms: destroys the running domains after the timeout without contact, and the control plane records it", async () => {
    const directory = temporaryDirectory("self-fence-destroy");
    after(() => directory.remove());
    const { vigild, agent } = await startCluster(directory.path, ["--self-fence-mode", "destroy-vms", "--self-fence-timeout", "2"]);
    freeze(vigild);
    const frozenAt = performance.now();
    await waitFor(() => messages(agent, /self-fence destroyed the domain/).length === 2 || undefined, { timeoutMs: 15_000, what: "the agent to destroy both domains" });
    const elapsedMs = performance.now() - frozenAt;
    assert.ok(elapsedMs >= 1_000 && elapsedMs < 8_000, `destroyed ${Math.round(elapsedMs)} ms after the freeze (timeout 2 s, counted from the last acknowledged send)`);
    thaw(vigild);
    const rows = await waitFor(() => {
      const list = vms(vigild.address);
      return list.every((vm) => vm.state === "shutoff") ? list : undefined;
    }, { timeoutMs: 20_000, what: "the control plane to record both VMs shut off" });
    assert.equal(rows.length, 2);
  });

  it("destroy-vms: a control plane back before the timeout keeps the domains running (contact probes keep an idle agent in contact)", async () => {
    const directory = temporaryDirectory("self-fence-reconnect");
    after(() => directory.remove());
    const timeoutMs = 4_000;
    const { vigild, agent } = await startCluster(directory.path, ["--self-fence-mode", "destroy-vms", "--self-fence-timeout", String(timeoutMs / 1000)]);
    // Idle for longer than the timeout: only contact probes keep the agent acknowledged.
    const idleSince = performance.now();
    await waitFor(() => performance.now() - idleSince > timeoutMs * 1.5, { timeoutMs: timeoutMs * 3, what: "an idle period longer than the timeout" });
    freeze(vigild);
    const frozenAt = performance.now();
    await waitFor(() => performance.now() - frozenAt > 1_000, { timeoutMs: 5_000, what: "a freeze of 1 s" });
    thaw(vigild);
    // Must NOT become true within a bound of twice the timeout after the freeze began.
    const destroyed = await waitFor(() => messages(agent, /self-fence destroyed/).length > 0 || undefined, { timeoutMs: timeoutMs * 2, what: "a self-fence (must not happen)" }).then(
      () => true,
      () => false,
    );
    assert.equal(destroyed, false, agent.output().slice(-3000));
    assert.ok(vms(vigild.address).every((vm) => vm.state === "running"));
  });

  it("watchdog: fed while in contact, disarmed by the magic close on a clean stop", async () => {
    const directory = temporaryDirectory("self-fence-watchdog");
    after(() => directory.remove());
    const device = `${directory.path}/watchdog`;
    writeFileSync(device, "");
    const { agent } = await startCluster(directory.path, ["--self-fence-mode", "watchdog", "--self-fence-timeout", "3", "--self-fence-watchdog-timeout", "1", "--self-fence-watchdog-device", device]);
    const fedBefore = statSync(device).size;
    await waitFor(() => statSync(device).size >= fedBefore + 4 || undefined, { timeoutMs: 5_000, what: "four more feeds of the watchdog" });
    assert.equal(await stopProcess(agent), 0);
    const written = readFileSync(device, "latin1");
    assert.match(written, /^\0+V$/, "feeds, then the magic V last");
  });

  it("watchdog: no longer fed, and not disarmed, once the control plane is silent for timeout − watchdog timeout", async () => {
    const directory = temporaryDirectory("self-fence-watchdog-stop");
    after(() => directory.remove());
    const device = `${directory.path}/watchdog`;
    writeFileSync(device, "");
    const { vigild, agent } = await startCluster(directory.path, ["--self-fence-mode", "watchdog", "--self-fence-timeout", "2", "--self-fence-watchdog-timeout", "1", "--self-fence-watchdog-device", device]);
    freeze(vigild);
    await waitFor(() => messages(agent, /self-fencing, the watchdog is no longer fed/).length === 1 || undefined, { timeoutMs: 10_000, what: "the agent to stop feeding" });
    const sizeAtStop = statSync(device).size;
    thaw(vigild);
    // A window of four feed intervals (250 ms) in which the size must not grow, even with contact back.
    const grew = await waitFor(() => statSync(device).size > sizeAtStop || undefined, { timeoutMs: 1_000, what: "a feed (must not happen)", intervalMs: 50 }).then(() => true, () => false);
    assert.equal(grew, false, "latched: never fed again in this process");
    assert.equal(await stopProcess(agent), 0);
    assert.ok(!readFileSync(device, "latin1").endsWith("V"), "no magic close: the host still resets");
  });

  it("refuses bad self-fence options naming the option (exit 2)", async () => {
    const directory = temporaryDirectory("self-fence-options");
    after(() => directory.remove());
    const cases: [string[], RegExp][] = [
      [["--self-fence-mode", "reboot"], /--self-fence-mode \(selfFence.mode\) must be one of off, watchdog, destroy-vms/],
      [["--self-fence-mode", "destroy-vms", "--self-fence-timeout", "0"], /--self-fence-timeout \(selfFence.timeout\) must be a number of seconds > 0/],
      [["--self-fence-mode", "watchdog", "--self-fence-timeout", "30", "--self-fence-watchdog-timeout", "30"], /must be below --self-fence-timeout/],
      [["--self-fence-mode", "watchdog", "--self-fence-watchdog-device", `${directory.path}/none`], /--self-fence-watchdog-device \(selfFence.watchdogDevice\): cannot open .*none: ENOENT/],
      [["--self-fence-mode", "off", "--self-fence-vms", "web1"], /--self-fence-vms \(selfFence.vms\) applies only to mode destroy-vms/],
    ];
    for (const [args, message] of cases) {
      const agent = startAgent({ hostId: "h1", controlPlane: "127.0.0.1:1", stateDir: `${directory.path}/h1`, extraArgs: args });
      after(() => stopProcess(agent));
      assert.equal(await agent.exited, 2, agent.output());
      assert.match(agent.output(), message);
      assert.ok(!existsSync(`${directory.path}/none`), "the device path is never created");
    }
  });
});

/** A gRPC AgentGateway on loopback that records each Hello and never welcomes: the agent's first message, as a control plane receives it. */
async function helloRecorder(): Promise<{ address: string; hellos: Hello__Output[] }> {
  const hellos: Hello__Output[] = [];
  const server = new grpc.Server();
  server.addService(serviceDefinition("AgentGateway"), {
    Connect: (call: grpc.ServerDuplexStream<AgentMessage__Output, ControlMessage>) => {
      call.on("data", (message: AgentMessage__Output) => {
        if (message.hello) hellos.push(message.hello);
      });
      call.on("error", () => undefined);
    },
  });
  const port = await bindServer(server, "127.0.0.1:0", grpc.ServerCredentials.createInsecure());
  after(() => server.forceShutdown());
  return { address: `127.0.0.1:${port}`, hellos };
}

describe("Hello.self_fence", () => {
  it("reports the agent's own mode and timeout to the control plane (off: mode off, timeout 0)", async () => {
    const directory = temporaryDirectory("self-fence-hello");
    after(() => directory.remove());
    const recorder = await helloRecorder();
    const fencing = startAgent({ hostId: "h1", controlPlane: recorder.address, stateDir: `${directory.path}/h1`, extraArgs: ["--self-fence-mode", "destroy-vms", "--self-fence-timeout", "7.5"] });
    after(() => stopProcess(fencing));
    const plain = startAgent({ hostId: "h2", controlPlane: recorder.address, stateDir: `${directory.path}/h2` });
    after(() => stopProcess(plain));
    await waitFor(() => recorder.hellos.length >= 2 || undefined, { timeoutMs: 20_000, what: "both agents' Hello" });
    const byHost = new Map(recorder.hellos.map((hello) => [hello.hostId, hello.selfFence]));
    assert.deepEqual(byHost.get("h1"), { mode: "destroy-vms", timeoutMs: 7_500 });
    assert.deepEqual(byHost.get("h2"), { mode: "off", timeoutMs: 0 });
  });
});

describe("agent stop order", () => {
  it("stops the executor, event source and libvirt first and the keepalive stream last, as the control plane sees it", async () => {
    const directory = temporaryDirectory("stop-order");
    after(() => directory.remove());
    const { vigild, agent } = await startCluster(directory.path, []);
    assert.equal(await stopProcess(agent), 0);
    const order = messages(agent, /^(stopping|shutdown: .*|stopped)$/).map((entry) => entry.msg);
    assert.deepEqual(order, [
      "stopping",
      "shutdown: command executor drained",
      "shutdown: hypervisor event source stopped",
      "shutdown: libvirt connection closed",
      "shutdown: control plane stream closed (keepalive stopped last)",
      "stopped",
    ]);
    // The control plane lost the stream only after the agent had closed libvirt.
    const libvirtClosedAt = messages(agent, /^shutdown: libvirt connection closed$/)[0]!.time;
    const disconnected = await waitFor(() => messages(vigild, /^agent disconnected$/)[0], { timeoutMs: 10_000, what: "vigild to see h1 disconnect" });
    assert.ok(disconnected.time >= libvirtClosedAt, `vigild saw the stream end at ${disconnected.time}, libvirt closed at ${libvirtClosedAt}`);
  });
});
