// The initial cluster of a simulation (a scenario's cluster.json, or drawn from a seed).
//   {
//     "seed": 1,                                   // optional, default 1
//     "replicas": ["cp1", "cp2", "cp3"],
//     "hosts": {
//       "h1": { "cpus": 16, "memoryGiB": 64, "endpoints": ["cp1"],
//               "vms": { "web1": "running", "db1": { "state": "shutoff", "vcpus": 4, "memoryMiB": 4096,
//                                                    "policy": { "restart": "always", "priority": 5 } } } }
//     },
//     "config": { "keepalive.interval": "2" },     // replicated config keys (config-keys.ts)
//     "network": { "latencyMs": [1, 3], "drop": 0, "duplicate": 0 },
//     "raft": { "snapshotEveryEntries": 10000, "retainedEntries": 5000 },
//     "clocks": { "cp2": { "offsetMs": 250, "ratePpm": 100 } },
//     "sharedDefinitions": true                    // every VM is also defined (shut off) on every other host
//   }
// A host may self-fence as its agent would (agent.yaml selfFence): "selfFence": {"mode":
// "watchdog"|"destroy-vms", "timeout": 60, "watchdogTimeout": 10, "vms": ["web1"]} (seconds).
// A host also says how the primary fences it: "fence": "fence-agent" (its simulated device; the
// default without selfFence) | "self" (the default with it) | "manual".
// Config and VM policies are founding state: written identically into every replica before it
// starts, as a cluster restored from one backup would hold them.
import type { SelfFenceSettings } from "../../agent/self-fence-clock.js";
import { configProblem } from "../../controlplane/state/config-keys.js";
import { restartPolicies, selectors, type VmPolicy } from "../../controlplane/state/commands.js";

export interface VmSpec {
  name: string;
  state: "running" | "shutoff" | "paused";
  vcpus: number;
  memoryBytes: number;
  policy: Partial<VmPolicy>;
}

export type FenceMethodName = "fence-agent" | "self" | "manual";
const fenceMethodNames: readonly FenceMethodName[] = ["fence-agent", "self", "manual"];

export interface HostSpec {
  id: string;
  fence: FenceMethodName;
  cpus: number;
  memoryBytes: number;
  /** Control-plane endpoints the agent dials, in order (default: every replica). */
  endpoints: string[];
  vms: VmSpec[];
  /** The agent's self-fence (agent.yaml selfFence); null: off. */
  selfFence: { settings: SelfFenceSettings; protectedDomains: string[] } | null;
}

export interface ClusterSpec {
  seed: number;
  replicas: string[];
  hosts: HostSpec[];
  config: [string, string][];
  network: { latencyMinMs: number; latencyMaxMs: number; dropProbability: number; duplicateProbability: number };
  raft: { snapshotEveryEntries: number; retainedEntries: number };
  clocks: Map<string, { offsetMs: number; ratePpm: number }>;
  /** Every VM is defined on every host (shared storage, one definition cluster-wide), so HA can start it anywhere. */
  sharedDefinitions: boolean;
}

export class SpecError extends Error {
  override name = "SpecError";
}

type Json = Record<string, unknown>;

function object(value: unknown, where: string): Json {
  if (typeof value !== "object" || value === null || Array.isArray(value)) throw new SpecError(`${where} must be an object`);
  return value as Json;
}

function number(value: unknown, where: string, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== "number" || !Number.isFinite(value)) throw new SpecError(`${where} must be a number`);
  return value;
}

function onlyKeys(json: Json, keys: readonly string[], where: string): void {
  for (const key of Object.keys(json)) if (!keys.includes(key)) throw new SpecError(`${where}: unknown key "${key}" (known: ${keys.join(", ")})`);
}

const nodeName = /^[a-z][a-z0-9-]{0,31}$/;

function parsePolicy(value: unknown, where: string): Partial<VmPolicy> {
  if (value === undefined) return {};
  const json = object(value, where);
  onlyKeys(json, ["restart", "priority", "limit", "selector", "autorestart", "maxRestarts"], where);
  const policy: Partial<VmPolicy> = {};
  if (json.restart !== undefined) {
    if (!(restartPolicies as readonly unknown[]).includes(json.restart)) throw new SpecError(`${where}.restart must be one of ${restartPolicies.join(", ")}`);
    policy.restart = json.restart as VmPolicy["restart"];
  }
  if (json.selector !== undefined) {
    if (!(selectors as readonly unknown[]).includes(json.selector)) throw new SpecError(`${where}.selector must be one of ${selectors.join(", ")}`);
    policy.selector = json.selector as VmPolicy["selector"];
  }
  if (json.priority !== undefined) policy.priority = number(json.priority, `${where}.priority`, 0);
  if (json.maxRestarts !== undefined) policy.maxRestarts = number(json.maxRestarts, `${where}.maxRestarts`, 3);
  if (json.autorestart !== undefined) policy.autorestart = json.autorestart === true;
  if (json.limit !== undefined) {
    if (!Array.isArray(json.limit) || !json.limit.every((host) => typeof host === "string")) throw new SpecError(`${where}.limit must be a list of host ids`);
    policy.limit = [...(json.limit as string[])].sort();
  }
  return policy;
}

function parseVm(name: string, value: unknown, where: string): VmSpec {
  if (!nodeName.test(name)) throw new SpecError(`${where}: VM name "${name}" must be lower case letters, digits and dashes`);
  const json = typeof value === "string" ? { state: value } : object(value, where);
  onlyKeys(json, ["state", "vcpus", "memoryMiB", "policy"], where);
  const state = json.state ?? "running";
  if (state !== "running" && state !== "shutoff" && state !== "paused") throw new SpecError(`${where}.state must be running, shutoff or paused`);
  return { name, state, vcpus: number(json.vcpus, `${where}.vcpus`, 2), memoryBytes: number(json.memoryMiB, `${where}.memoryMiB`, 2048) * 1024 * 1024, policy: parsePolicy(json.policy, `${where}.policy`) };
}

/** `"selfFence": {"mode": "watchdog"|"destroy-vms", "timeout": S, "watchdogTimeout": S, "vms": [names]}` (seconds). */
function parseSelfFence(value: unknown, where: string): HostSpec["selfFence"] {
  if (value === undefined) return null;
  const json = object(value, where);
  onlyKeys(json, ["mode", "timeout", "watchdogTimeout", "vms"], where);
  if (json.mode !== "watchdog" && json.mode !== "destroy-vms") throw new SpecError(`${where}.mode must be watchdog or destroy-vms`);
  const timeoutMs = number(json.timeout, `${where}.timeout`, 60) * 1000;
  const watchdogTimeoutMs = number(json.watchdogTimeout, `${where}.watchdogTimeout`, 10) * 1000;
  if (json.mode === "watchdog" && watchdogTimeoutMs >= timeoutMs) throw new SpecError(`${where}.watchdogTimeout must be below timeout`);
  const vms = json.vms ?? [];
  if (!Array.isArray(vms) || !vms.every((name) => typeof name === "string")) throw new SpecError(`${where}.vms must be a list of VM names`);
  return { settings: { mode: json.mode, timeoutMs, watchdogTimeoutMs }, protectedDomains: vms as string[] };
}

export function parseClusterSpec(value: unknown, where = "cluster.json"): ClusterSpec {
  const json = object(value, where);
  onlyKeys(json, ["seed", "replicas", "hosts", "config", "network", "raft", "clocks", "sharedDefinitions"], where);
  const replicas = json.replicas ?? ["cp1", "cp2", "cp3"];
  if (!Array.isArray(replicas) || replicas.length === 0 || !replicas.every((id) => typeof id === "string" && nodeName.test(id))) {
    throw new SpecError(`${where}.replicas must be a non-empty list of replica ids`);
  }
  const hostsJson = object(json.hosts ?? {}, `${where}.hosts`);
  const vmNames = new Set<string>();
  const hosts: HostSpec[] = Object.entries(hostsJson).map(([id, hostValue]) => {
    const hostWhere = `${where}.hosts.${id}`;
    if (!nodeName.test(id) || replicas.includes(id)) throw new SpecError(`${hostWhere}: host id must be a name distinct from the replicas`);
    const host = object(hostValue, hostWhere);
    onlyKeys(host, ["cpus", "memoryGiB", "endpoints", "vms", "fence", "selfFence"], hostWhere);
    const fence = host.fence ?? (host.selfFence === undefined ? "fence-agent" : "self");
    if (!fenceMethodNames.includes(fence as FenceMethodName)) throw new SpecError(`${hostWhere}.fence must be one of ${fenceMethodNames.join(", ")}`);
    const endpoints = host.endpoints ?? replicas;
    if (!Array.isArray(endpoints) || !endpoints.every((endpoint) => replicas.includes(endpoint))) throw new SpecError(`${hostWhere}.endpoints must name replicas`);
    const vms = Object.entries(object(host.vms ?? {}, `${hostWhere}.vms`)).map(([name, vm]) => parseVm(name, vm, `${hostWhere}.vms.${name}`));
    for (const vm of vms) {
      if (vmNames.has(vm.name)) throw new SpecError(`${hostWhere}.vms.${vm.name}: a VM is defined on one host`);
      vmNames.add(vm.name);
    }
    const selfFence = parseSelfFence(host.selfFence, `${hostWhere}.selfFence`);
    return { id, fence: fence as FenceMethodName, cpus: number(host.cpus, `${hostWhere}.cpus`, 16), memoryBytes: number(host.memoryGiB, `${hostWhere}.memoryGiB`, 64) * 1024 ** 3, endpoints: endpoints as string[], vms, selfFence };
  });
  const config = Object.entries(object(json.config ?? {}, `${where}.config`)).map(([key, configValue]): [string, string] => {
    const text = String(configValue);
    const problem = configProblem(key, text);
    if (problem !== null) throw new SpecError(`${where}.config: ${problem}`);
    return [key, text];
  });
  const networkJson = object(json.network ?? {}, `${where}.network`);
  onlyKeys(networkJson, ["latencyMs", "drop", "duplicate"], `${where}.network`);
  const latency = networkJson.latencyMs ?? [1, 3];
  if (!Array.isArray(latency) || latency.length !== 2 || typeof latency[0] !== "number" || typeof latency[1] !== "number" || latency[0] < 0 || latency[1] < latency[0]) {
    throw new SpecError(`${where}.network.latencyMs must be [min, max] in ms`);
  }
  const raftJson = object(json.raft ?? {}, `${where}.raft`);
  onlyKeys(raftJson, ["snapshotEveryEntries", "retainedEntries"], `${where}.raft`);
  const clocks = new Map<string, { offsetMs: number; ratePpm: number }>();
  for (const [node, clock] of Object.entries(object(json.clocks ?? {}, `${where}.clocks`))) {
    const clockJson = object(clock, `${where}.clocks.${node}`);
    onlyKeys(clockJson, ["offsetMs", "ratePpm"], `${where}.clocks.${node}`);
    clocks.set(node, { offsetMs: number(clockJson.offsetMs, `${where}.clocks.${node}.offsetMs`, 0), ratePpm: number(clockJson.ratePpm, `${where}.clocks.${node}.ratePpm`, 0) });
  }
  return {
    seed: number(json.seed, `${where}.seed`, 1),
    replicas: replicas as string[],
    hosts,
    config,
    network: {
      latencyMinMs: latency[0],
      latencyMaxMs: latency[1],
      dropProbability: number(networkJson.drop, `${where}.network.drop`, 0),
      duplicateProbability: number(networkJson.duplicate, `${where}.network.duplicate`, 0),
    },
    raft: {
      snapshotEveryEntries: number(raftJson.snapshotEveryEntries, `${where}.raft.snapshotEveryEntries`, 10_000),
      retainedEntries: number(raftJson.retainedEntries, `${where}.raft.retainedEntries`, 5_000),
    },
    clocks,
    sharedDefinitions: json.sharedDefinitions === true,
  };
}
