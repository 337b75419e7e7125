// `npm run bench -- ha`: HA reaction (issue 12). One real vigild (a single replica) and simulated
// hosts over the real control plane (bench/ingest/simulated-agent.ts: real AgentGateway streams
// that register, report inventories, keep alive and execute the start commands the primary sends).
// 1. Host bench-h0 (the dead host) reports HA_VMS VMs (default 1,000; a discovered VM's restart
//    policy is on-host-failure, checked through `vm list`); HA_SURVIVORS hosts (default 4) report
//    none and have the capacity for all of them.
// 2. keepalive.interval 1 s, keepalive.savingThrows 2: detection is short, and is not measured.
// 3. The dead host's stream ends (its keepalives stop); once it is `dead`, the fence is confirmed
//    by hand (HostService.ConfirmFenced, what `vigilctl host confirm-fenced` calls). The clock
//    starts when that call is acknowledged: the fence is committed then.
// 4. It stops when the last VM's lifecycle event "started" on a survivor is acknowledged (that is,
//    committed); `vm list` then checks every VM is running on a survivor.
// `ha.reactionSeconds` is that interval; `ha.controlPlaneMsPerVm` is vigild's CPU over it / VMs.
// Both are measured for each ha.maxConcurrentRestarts in HA_CONCURRENCY (default "4,64,256"), each
// HA_REPEATS times (default 2, the median reported). HA_START_DELAY_MS (default 0) delays each
// simulated start, as libvirt would; 0 measures the control plane alone. `ha --profile` writes
// vigild CPU profiles to bench/results/ha-profiles/.
// Writes bench/results/ha.json (DESIGN §11).
import * as grpc from "@grpc/grpc-js";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import os from "node:os";
import { fileURLToPath } from "node:url";
import type { AgentGatewayClient } from "../common/generated/vigil/v1/AgentGateway.js";
import type { HostList__Output } from "../common/generated/vigil/v1/HostList.js";
import type { Host__Output } from "../common/generated/vigil/v1/Host.js";
import type { VmList__Output } from "../common/generated/vigil/v1/VmList.js";
import type { ClusterStatus__Output } from "../common/generated/vigil/v1/ClusterStatus.js";
import { clientConstructor } from "../common/proto.js";
import { Endpoints, type ApiService } from "../controlplane/cli/client.js";
import { SimulatedAgent, simulatedHostId } from "./ingest/simulated-agent.js";
import { VigilCluster, vigildPath } from "./replication/clusters.js";
import { cpuTimeMs, freePorts, killAllChildren, logTail, startServer, stopServer, temporaryDirectory, waitUntil, type ServerProcess } from "./replication/processes.js";
import { median, metric, round, type Metric } from "./replication/stats.js";

const resultsDir = fileURLToPath(new URL("../../bench/results/", import.meta.url));
const profile = process.argv.includes("--profile");

const settings = {
  vms: Number(process.env.HA_VMS ?? 1_000),
  survivors: Number(process.env.HA_SURVIVORS ?? 4),
  concurrencies: (process.env.HA_CONCURRENCY ?? "4,64,256").split(",").map(Number),
  repeats: Number(process.env.HA_REPEATS ?? 2),
  startDelayMs: Number(process.env.HA_START_DELAY_MS ?? 0),
  keepaliveIntervalSeconds: 1,
  savingThrows: 2,
  /** 1 (default) or 3 (HA_REPLICAS=3): the agents and the API then talk to the leader. */
  replicas: Number(process.env.HA_REPLICAS ?? 1),
  /** Bound on the wait for every VM to run again. */
  reactionTimeoutMs: Number(process.env.HA_TIMEOUT_MS ?? 600_000),
  profile,
};
const goalSeconds = 5;
const goalVms = 1_000;
const deadHost = simulatedHostId(0);

interface HaRun {
  maxConcurrentRestarts: number;
  /** ConfirmFenced sent to acknowledged (the fence committed). */
  confirmMs: number;
  /** Fence committed to the last VM's running state committed. */
  reactionMs: number;
  /** vigild CPU (user + system) over the same interval. */
  controlPlaneCpuMs: number;
  /** Commit time of every 10th percentile of VMs after the fence, ms. */
  progressMs: number[];
  restartedOn: Record<string, number>;
  refusedCommands: string[];
}

function log(message: string): void {
  process.stderr.write(`[ha] ${message}\n`);
}

class Api {
  private readonly endpoints: Endpoints;
  constructor(addresses: readonly string[]) {
    this.endpoints = new Endpoints(addresses);
  }
  call<T>(service: ApiService, method: string, request: object, timeoutMs = 10_000): Promise<T> {
    return this.endpoints.unary(service, method, request, { timeoutMs, signal: new AbortController().signal }) as Promise<T>;
  }
  close(): void {
    this.endpoints.close();
  }
}

/** The control plane under test: one vigild, or 3 replicas (HA_REPLICAS=3) with the agents on the leader. */
interface ControlPlane {
  /** Where the API calls and the agents' streams go: the leader. */
  address: string;
  endpoints: string[];
  /** vigild whose CPU is measured: the primary. */
  primary: ServerProcess;
  describe(): string;
  stop(): Promise<void>;
}

async function startControlPlane(nodeOptions: readonly string[]): Promise<ControlPlane> {
  if (settings.replicas === 3) {
    const cluster = await VigilCluster.create({ nodeOptions });
    cluster.launchAll();
    try {
      const leader = cluster.members[await cluster.waitForLeader(30_000)]!;
      return { address: leader.clientAddress, endpoints: [leader.clientAddress], primary: leader.process!, describe: () => cluster.members.map((member) => `--- ${member.id}\n${logTail(member.process!, 1_500)}`).join("\n"), stop: () => cluster.stop() };
    } catch (error) {
      await cluster.stop();
      throw error;
    }
  }
  const directory = temporaryDirectory("ha");
  const [port] = await freePorts(1);
  const address = `127.0.0.1:${port}`;
  mkdirSync(join(directory.path, "cp1"), { recursive: true });
  const server = startServer("vigild cp1", process.execPath, [...nodeOptions, vigildPath, "--insecure", "--id", "cp1", "--listen", address, "--data-dir", join(directory.path, "cp1")], join(directory.path, "cp1.log"));
  return {
    address,
    endpoints: [address],
    primary: server,
    describe: () => logTail(server, 3_000),
    stop: async () => {
      await stopServer(server, 30_000);
      directory.remove();
    },
  };
}

async function scenario(maxConcurrentRestarts: number, attempt: number): Promise<HaRun> {
  const profileDir = join(resultsDir, "ha-profiles");
  if (profile) mkdirSync(profileDir, { recursive: true });
  const nodeOptions = profile ? ["--cpu-prof", `--cpu-prof-dir=${profileDir}`] : [];
  const controlPlane = await startControlPlane(nodeOptions);
  const address = controlPlane.address;
  const api = new Api(controlPlane.endpoints);
  const Client = clientConstructor("AgentGateway");
  const channel = new Client(address, grpc.credentials.createInsecure(), { "grpc.max_receive_message_length": 16 << 20 }) as unknown as AgentGatewayClient;
  const agents: SimulatedAgent[] = [];
  try {
    await waitUntil(async () => ((await api.call<ClusterStatus__Output>("ClusterService", "Status", {}, 2_000).catch(() => null))?.primaryState === "primary" ? true : undefined), { timeoutMs: 60_000, what: "vigild to be primary", intervalMs: 100 });
    for (const [key, value] of [
      ["keepalive.interval", String(settings.keepaliveIntervalSeconds)],
      ["keepalive.savingThrows", String(settings.savingThrows)],
      ["ha.maxConcurrentRestarts", String(maxConcurrentRestarts)],
    ]) {
      await api.call("ClusterService", "SetConfig", { key, value });
    }

    const started = new Map<string, { atMs: number; host: string }>();
    const refused: string[] = [];
    let allStarted: () => void = () => {};
    const everyVmStarted = new Promise<void>((resolve) => (allStarted = resolve));
    const execution = {
      startDelayMs: settings.startDelayMs,
      onStartCommitted: (vmUuid: string, hostId: string) => {
        if (started.has(vmUuid)) return;
        started.set(vmUuid, { atMs: performance.now(), host: hostId });
        if (started.size === settings.vms) allStarted();
      },
      onRefused: (_command: unknown, why: string) => void (refused.length < 10 && refused.push(why)),
    };
    const errors: string[] = [];
    const runId = `ha-${Date.now()}-${attempt}`;
    for (let index = 0; index <= settings.survivors; index += 1) {
      const vmsPerAgent = index === 0 ? settings.vms : 0;
      agents.push(new SimulatedAgent(index, { vmsPerAgent, windowEvents: 4_096, runId, reconnectAttempts: 3 }, channel, () => {}, (message) => void (errors.length < 10 && errors.push(message)), execution));
    }
    await Promise.all(agents.map((agent) => agent.connect()));
    await Promise.all(agents.map((agent) => agent.inventoryAcked));
    if (agents.some((agent) => !agent.welcomed)) throw new Error(`not every simulated host connected: ${errors.join("; ")}`);
    for (const agent of agents) agent.startHeartbeats(settings.keepaliveIntervalSeconds * 1000, () => {});

    await waitUntil(
      async () => {
        const hosts = (await api.call<HostList__Output>("HostService", "List", {})).hosts;
        return hosts.length === agents.length && hosts.every((host) => host.liveness === "alive" && host.connected) ? true : undefined;
      },
      { timeoutMs: 30_000, what: "every simulated host alive and connected", intervalMs: 200 },
    );
    const before = (await api.call<VmList__Output>("VmService", "List", {}, 30_000)).vms;
    const ready = before.filter((vm) => vm.host === deadHost && vm.state === "running" && vm.restart === "on-host-failure").length;
    if (ready !== settings.vms) throw new Error(`expected ${settings.vms} running on-host-failure VMs on ${deadHost}, found ${ready} of ${before.length}`);

    log(`c=${maxConcurrentRestarts} #${attempt}: ${settings.vms} VMs on ${deadHost}, ${settings.survivors} survivors; stopping ${deadHost}'s keepalives`);
    agents[0]!.close();
    await waitUntil(async () => ((await api.call<Host__Output>("HostService", "Get", { id: deadHost })).liveness === "dead" ? true : undefined), { timeoutMs: 60_000, what: `${deadHost} to be dead`, intervalMs: 50 });

    const pid = controlPlane.primary.child.pid;
    const cpuBefore = cpuTimeMs(pid);
    const confirmSent = performance.now();
    const fenced = await api.call<Host__Output>("HostService", "ConfirmFenced", { id: deadHost });
    const fencedAt = performance.now();
    if (fenced.liveness !== "fenced") throw new Error(`confirm-fenced answered liveness ${fenced.liveness}`);
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      everyVmStarted,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`only ${started.size} of ${settings.vms} VMs running after ${settings.reactionTimeoutMs} ms (refused: ${refused.join("; ")}; errors: ${errors.join("; ")})`)), settings.reactionTimeoutMs);
      }),
    ]).finally(() => clearTimeout(timer));
    const cpuAfter = cpuTimeMs(pid);
    const times = [...started.values()].map((entry) => entry.atMs - fencedAt).sort((a, b) => a - b);
    const reactionMs = times[times.length - 1]!;

    const after = (await api.call<VmList__Output>("VmService", "List", {}, 30_000)).vms;
    const wrong = after.filter((vm) => vm.state !== "running" || vm.host === deadHost || vm.host === "");
    if (wrong.length > 0) throw new Error(`${wrong.length} VMs not running on a survivor, e.g. ${JSON.stringify(wrong[0])}`);
    const restartedOn: Record<string, number> = {};
    for (const vm of after) restartedOn[vm.host] = (restartedOn[vm.host] ?? 0) + 1;
    log(`c=${maxConcurrentRestarts} #${attempt}: every VM running after ${(reactionMs / 1000).toFixed(2)} s, vigild ${(cpuAfter - cpuBefore).toFixed(0)} ms CPU`);
    return {
      maxConcurrentRestarts,
      confirmMs: fencedAt - confirmSent,
      reactionMs,
      controlPlaneCpuMs: cpuAfter - cpuBefore,
      progressMs: Array.from({ length: 10 }, (_, tenth) => round(times[Math.min(times.length - 1, Math.ceil(((tenth + 1) / 10) * times.length) - 1)]!, 1)),
      restartedOn,
      refusedCommands: refused,
    };
  } catch (error) {
    log(`vigild log tail:\n${controlPlane.describe()}`);
    throw error;
  } finally {
    for (const agent of agents) agent.close();
    channel.close();
    api.close();
    await controlPlane.stop();
  }
}

function report(runs: HaRun[]): Record<string, Metric> {
  const metrics: Record<string, Metric> = {};
  const scaled = settings.vms === goalVms ? "" : ` (measured with ${settings.vms} VMs)`;
  const goalText = `≤ ${goalSeconds} s for 1,000 VMs (absolute: no peer runs HA restarts over the same simulated hosts)`;
  let headline: { seconds: number; concurrency: number } | null = null;
  for (const concurrency of settings.concurrencies) {
    const mine = runs.filter((run) => run.maxConcurrentRestarts === concurrency);
    if (mine.length === 0) continue;
    const seconds = median(mine.map((run) => run.reactionMs)) / 1000;
    const msPerVm = median(mine.map((run) => run.controlPlaneCpuMs)) / settings.vms;
    metrics[`ha.c${concurrency}.reactionSeconds`] = metric({ value: seconds, unit: `s from the committed fence to the last of ${settings.vms} VMs running on a survivor, ha.maxConcurrentRestarts=${concurrency} (median of ${mine.length})`, peer: null, peerName: "", goal: goalText, met: settings.vms >= goalVms && seconds <= goalSeconds });
    metrics[`ha.c${concurrency}.controlPlaneMsPerVm`] = metric({ value: msPerVm, unit: `ms vigild CPU per restarted VM over that interval, ha.maxConcurrentRestarts=${concurrency}, start delay ${settings.startDelayMs} ms`, peer: null, peerName: "", goal: "context (no goal)", met: true });
    if (headline === null || concurrency > headline.concurrency) headline = { seconds, concurrency };
  }
  if (headline !== null) {
    metrics["ha.reactionSeconds"] = metric({ value: headline.seconds, unit: `s, fence committed to every VM running again, at ha.maxConcurrentRestarts=${headline.concurrency}${scaled}; the default 4 is ha.c4`, peer: null, peerName: "", goal: goalText, met: settings.vms >= goalVms && headline.seconds <= goalSeconds });
    metrics["ha.controlPlaneMsPerVm"] = metrics[`ha.c${headline.concurrency}.controlPlaneMsPerVm`]!;
  }
  return metrics;
}

async function main(): Promise<void> {
  const when = new Date().toISOString();
  const loadBefore = os.loadavg().map((value) => round(value, 2));
  const runs: HaRun[] = [];
  for (let attempt = 1; attempt <= settings.repeats; attempt += 1) {
    for (const concurrency of settings.concurrencies) runs.push(await scenario(concurrency, attempt));
  }
  const metrics = report(runs);
  const cpus = os.cpus();
  const machine = { cpus: cpus.length, model: cpus[0]?.model ?? "unknown", node: process.version, loadAverage: { before: loadBefore, after: os.loadavg().map((value) => round(value, 2)) } };
  mkdirSync(resultsDir, { recursive: true });
  writeFileSync(join(resultsDir, "ha.json"), `${JSON.stringify({ name: "ha", when, machine, settings, metrics, details: { runs } }, null, 2)}\n`);
  const rows = Object.entries(metrics).map(([key, value]) => `| ${key} | ${value.value} ${value.unit} | ${value.goal} | ${value.goal.startsWith("context") ? "" : value.met ? "yes" : "**no**"} |`);
  process.stdout.write(["# ha", "", "| metric | value | goal | met |", "|---|---|---|---|", ...rows, ""].join("\n"));
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    process.stderr.write(`ha: ${(error as Error).stack}\n`);
    killAllChildren();
    process.exit(1);
  },
);
