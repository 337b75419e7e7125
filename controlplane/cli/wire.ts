// Typed views of the control.proto messages vigilctl receives, and the decoders that
// check what the server sent before anything else trusts it (STYLE: validate at the edge).
// proto-loader runs with camelCase fields, enums as strings, 64-bit integers as numbers
// and defaults on, so every field is present; a wrong type means client and server disagree
// about the contract, which is reported as a malformed reply rather than guessed around.
import { MalformedReply } from "./errors.js";

export interface Member {
  id: string;
  address: string;
  role: string;
  healthy: boolean;
  commitIndex: number;
  appliedIndex: number;
}

export interface ClusterStatus {
  term: number;
  primary: string;
  primaryState: string;
  maintenance: boolean;
  members: Member[];
  leader: string;
}

export interface ConfigEntry {
  key: string;
  value: string;
  description: string;
}

export interface ClusterEvent {
  index: number;
  atMs: number;
  term: number;
  kind: string;
  host: string;
  vm: string;
  job: string;
  message: string;
}

export interface Host {
  id: string;
  state: string;
  alive: boolean;
  vms: number;
  liveness: string;
  connected: boolean;
  bootId: string;
  agentVersion: string;
  migrationUri: string;
  appliedSeq: number;
  lastSeenMs: number;
  missedKeepalives: number;
  maintenance: boolean;
  cpus: number;
  memoryBytes: number;
  freeMemoryBytes: number;
  memoryProvisionedBytes: number;
  load: number;
  connectedReplica: string;
  eventsApplied: number;
  livenessReason: string;
  fenceMethod: string;
  fenceAttempts: number;
}

export interface DiskChain {
  target: string;
  files: string[];
  host: string;
}

export interface VmJob {
  id: string;
  host: string;
  kind: string;
  disk: string;
  state: string;
  outcome: string;
  detail: string;
  recovered: boolean;
  chainBefore: string[];
  target: string;
  startedMs: number;
  updatedMs: number;
  escalated: boolean;
}

export interface Vm {
  name: string;
  uuid: string;
  host: string;
  state: string;
  restart: string;
  reason: string;
  priority: number;
  limit: string[];
  selector: string;
  autorestart: boolean;
  maxRestarts: number;
  vcpus: number;
  memoryBytes: number;
  skipTrace: string;
  lastHost: string;
  pendingReason: string;
  disks: DiskChain[];
  desiredState: string;
  haState: string;
  migrationFallback: boolean;
  /** The migration, flush or unflush job that holds this VM now, or "". */
  activeJob: string;
  jobs: VmJob[];
  diskSync: string;
  jobBlocker: string;
}

export interface VmOperation {
  vm: string;
  host: string;
  commandId: string;
  outcome: string;
  error: string;
  /** Absent when the server sent no VM with the outcome. */
  result: Vm | null;
}

export interface Job {
  id: string;
  kind: string;
  vm: string;
  host: string;
  target: string;
  state: string;
  phase: string;
  error: string;
  processedBytes: number;
  remainingBytes: number;
  downtimeMs: number;
  startedMs: number;
  finishedMs: number;
  deadlineMs: number;
  /** A flush or unflush: its per-VM migrations or shutdowns. */
  steps: Job[];
  totalBytes: number;
  forceLive: boolean;
  /** live | shutdown */
  mode: string;
  /** The flush or unflush this migration is a step of; empty for an operator's migration. */
  parent: string;
  originState: string;
  updatedMs: number;
}

/** Job states after which the job never changes again. */
export const finalJobStates: readonly string[] = ["succeeded", "rolled-back", "failed", "canceled"];

type Fields = Record<string, unknown>;

function record(value: unknown, what: string): Fields {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new MalformedReply(`malformed ${what} from server: not a message`);
  }
  return value as Fields;
}

function text(fields: Fields, name: string, what: string): string {
  const value = fields[name] ?? "";
  if (typeof value !== "string") throw new MalformedReply(`malformed ${what} from server: ${name} is not a string`);
  return value;
}

function count(fields: Fields, name: string, what: string): number {
  const value = fields[name] ?? 0;
  if (typeof value !== "number" || !Number.isFinite(value)) {
    throw new MalformedReply(`malformed ${what} from server: ${name} is not a number`);
  }
  return value;
}

function flag(fields: Fields, name: string, what: string): boolean {
  const value = fields[name] ?? false;
  if (typeof value !== "boolean") throw new MalformedReply(`malformed ${what} from server: ${name} is not a boolean`);
  return value;
}

function list<T>(fields: Fields, name: string, what: string, decode: (item: unknown) => T): T[] {
  const value = fields[name] ?? [];
  if (!Array.isArray(value)) throw new MalformedReply(`malformed ${what} from server: ${name} is not a list`);
  return value.map(decode);
}

function textItem(what: string): (item: unknown) => string {
  return (item) => {
    if (typeof item !== "string") throw new MalformedReply(`malformed ${what} from server: list item is not a string`);
    return item;
  };
}

export function decodeMember(value: unknown): Member {
  const f = record(value, "Member");
  return {
    id: text(f, "id", "Member"),
    address: text(f, "address", "Member"),
    role: text(f, "role", "Member"),
    healthy: flag(f, "healthy", "Member"),
    commitIndex: count(f, "commitIndex", "Member"),
    appliedIndex: count(f, "appliedIndex", "Member"),
  };
}

export function decodeClusterStatus(value: unknown): ClusterStatus {
  const f = record(value, "ClusterStatus");
  return {
    term: count(f, "term", "ClusterStatus"),
    primary: text(f, "primary", "ClusterStatus"),
    primaryState: text(f, "primaryState", "ClusterStatus"),
    maintenance: flag(f, "maintenance", "ClusterStatus"),
    members: list(f, "members", "ClusterStatus", decodeMember),
    leader: text(f, "leader", "ClusterStatus"),
  };
}

export function decodeConfigEntry(value: unknown): ConfigEntry {
  const f = record(value, "ConfigEntry");
  return {
    key: text(f, "key", "ConfigEntry"),
    value: text(f, "value", "ConfigEntry"),
    description: text(f, "description", "ConfigEntry"),
  };
}

export function decodeConfigEntries(value: unknown): ConfigEntry[] {
  return list(record(value, "ConfigEntries"), "entries", "ConfigEntries", decodeConfigEntry);
}

export function decodeClusterEvent(value: unknown): ClusterEvent {
  const f = record(value, "ClusterEvent");
  return {
    index: count(f, "index", "ClusterEvent"),
    atMs: count(f, "atMs", "ClusterEvent"),
    term: count(f, "term", "ClusterEvent"),
    kind: text(f, "kind", "ClusterEvent"),
    host: text(f, "host", "ClusterEvent"),
    vm: text(f, "vm", "ClusterEvent"),
    job: text(f, "job", "ClusterEvent"),
    message: text(f, "message", "ClusterEvent"),
  };
}

export function decodeHost(value: unknown): Host {
  const f = record(value, "Host");
  return {
    id: text(f, "id", "Host"),
    state: text(f, "state", "Host"),
    alive: flag(f, "alive", "Host"),
    vms: count(f, "vms", "Host"),
    liveness: text(f, "liveness", "Host"),
    connected: flag(f, "connected", "Host"),
    bootId: text(f, "bootId", "Host"),
    agentVersion: text(f, "agentVersion", "Host"),
    migrationUri: text(f, "migrationUri", "Host"),
    appliedSeq: count(f, "appliedSeq", "Host"),
    lastSeenMs: count(f, "lastSeenMs", "Host"),
    missedKeepalives: count(f, "missedKeepalives", "Host"),
    maintenance: flag(f, "maintenance", "Host"),
    cpus: count(f, "cpus", "Host"),
    memoryBytes: count(f, "memoryBytes", "Host"),
    freeMemoryBytes: count(f, "freeMemoryBytes", "Host"),
    memoryProvisionedBytes: count(f, "memoryProvisionedBytes", "Host"),
    load: count(f, "load", "Host"),
    connectedReplica: text(f, "connectedReplica", "Host"),
    eventsApplied: count(f, "eventsApplied", "Host"),
    livenessReason: text(f, "livenessReason", "Host"),
    fenceMethod: text(f, "fenceMethod", "Host"),
    fenceAttempts: count(f, "fenceAttempts", "Host"),
  };
}

export function decodeHostList(value: unknown): Host[] {
  return list(record(value, "HostList"), "hosts", "HostList", decodeHost);
}

export function decodeDiskChain(value: unknown): DiskChain {
  const f = record(value, "DiskChainView");
  return {
    target: text(f, "target", "DiskChainView"),
    files: list(f, "files", "DiskChainView", textItem("DiskChainView")),
    host: text(f, "host", "DiskChainView"),
  };
}

export function decodeVmJob(value: unknown): VmJob {
  const f = record(value, "VmJob");
  return {
    id: text(f, "id", "VmJob"),
    host: text(f, "host", "VmJob"),
    kind: text(f, "kind", "VmJob"),
    disk: text(f, "disk", "VmJob"),
    state: text(f, "state", "VmJob"),
    outcome: text(f, "outcome", "VmJob"),
    detail: text(f, "detail", "VmJob"),
    recovered: flag(f, "recovered", "VmJob"),
    chainBefore: list(f, "chainBefore", "VmJob", textItem("VmJob")),
    target: text(f, "target", "VmJob"),
    startedMs: count(f, "startedMs", "VmJob"),
    updatedMs: count(f, "updatedMs", "VmJob"),
    escalated: flag(f, "escalated", "VmJob"),
  };
}

export function decodeVm(value: unknown): Vm {
  const f = record(value, "Vm");
  return {
    name: text(f, "name", "Vm"),
    uuid: text(f, "uuid", "Vm"),
    host: text(f, "host", "Vm"),
    state: text(f, "state", "Vm"),
    restart: text(f, "restart", "Vm"),
    reason: text(f, "reason", "Vm"),
    priority: count(f, "priority", "Vm"),
    limit: list(f, "limit", "Vm", textItem("Vm")),
    selector: text(f, "selector", "Vm"),
    autorestart: flag(f, "autorestart", "Vm"),
    maxRestarts: count(f, "maxRestarts", "Vm"),
    vcpus: count(f, "vcpus", "Vm"),
    memoryBytes: count(f, "memoryBytes", "Vm"),
    skipTrace: text(f, "skipTrace", "Vm"),
    lastHost: text(f, "lastHost", "Vm"),
    pendingReason: text(f, "pendingReason", "Vm"),
    disks: list(f, "disks", "Vm", decodeDiskChain),
    desiredState: text(f, "desiredState", "Vm"),
    haState: text(f, "haState", "Vm"),
    migrationFallback: flag(f, "migrationFallback", "Vm"),
    activeJob: text(f, "activeJob", "Vm"),
    jobs: list(f, "jobs", "Vm", decodeVmJob),
    diskSync: text(f, "diskSync", "Vm"),
    jobBlocker: text(f, "jobBlocker", "Vm"),
  };
}

export function decodeVmList(value: unknown): Vm[] {
  return list(record(value, "VmList"), "vms", "VmList", decodeVm);
}

export function decodeVmOperation(value: unknown): VmOperation {
  const f = record(value, "VmOperation");
  const result = f["result"];
  return {
    vm: text(f, "vm", "VmOperation"),
    host: text(f, "host", "VmOperation"),
    commandId: text(f, "commandId", "VmOperation"),
    outcome: text(f, "outcome", "VmOperation"),
    error: text(f, "error", "VmOperation"),
    result: result === undefined || result === null ? null : decodeVm(result),
  };
}

export function decodeJob(value: unknown): Job {
  const f = record(value, "Job");
  return {
    id: text(f, "id", "Job"),
    kind: text(f, "kind", "Job"),
    vm: text(f, "vm", "Job"),
    host: text(f, "host", "Job"),
    target: text(f, "target", "Job"),
    state: text(f, "state", "Job"),
    phase: text(f, "phase", "Job"),
    error: text(f, "error", "Job"),
    processedBytes: count(f, "processedBytes", "Job"),
    remainingBytes: count(f, "remainingBytes", "Job"),
    downtimeMs: count(f, "downtimeMs", "Job"),
    startedMs: count(f, "startedMs", "Job"),
    finishedMs: count(f, "finishedMs", "Job"),
    deadlineMs: count(f, "deadlineMs", "Job"),
    steps: list(f, "steps", "Job", decodeJob),
    totalBytes: count(f, "totalBytes", "Job"),
    forceLive: flag(f, "forceLive", "Job"),
    mode: text(f, "mode", "Job"),
    parent: text(f, "parent", "Job"),
    originState: text(f, "originState", "Job"),
    updatedMs: count(f, "updatedMs", "Job"),
  };
}

export function decodeJobList(value: unknown): Job[] {
  return list(record(value, "JobList"), "jobs", "JobList", decodeJob);
}
