// What vigilctl prints, in one place: the JSON mapping (`-o json`) and the tables (`-o table`).
// All pure functions from decoded messages to values or text.
//
// The JSON contract (DESIGN §11), stable across releases; new fields may only be appended:
// 1. Field names are the proto names in camelCase; 64-bit numbers are JSON numbers.
// 2. `cluster status` starts with term, primary, primaryState, maintenance, members[] (id, address,
//    role, healthy, commitIndex, appliedIndex); `host list` items start with id, state, alive, vms;
//    `vm list` items start with name, uuid, host, state, restart.
// 3. Show commands print the full object; list commands print a JSON array of the same objects.
// The mappers below copy field by field, in a fixed order, so that a change to control.proto
// never changes the output silently.
import type { ClusterEvent, ClusterStatus, ConfigEntry, DiskChain, Host, Job, Member, Vm, VmJob, VmOperation } from "./wire.js";

export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };

export function memberJson(member: Member): JsonValue {
  return {
    id: member.id,
    address: member.address,
    role: member.role,
    healthy: member.healthy,
    commitIndex: member.commitIndex,
    appliedIndex: member.appliedIndex,
  };
}

export function clusterStatusJson(status: ClusterStatus): JsonValue {
  return {
    term: status.term,
    primary: status.primary,
    primaryState: status.primaryState,
    maintenance: status.maintenance,
    members: status.members.map(memberJson),
    leader: status.leader,
  };
}

export function hostJson(host: Host): JsonValue {
  return {
    id: host.id,
    state: host.state,
    alive: host.alive,
    vms: host.vms,
    liveness: host.liveness,
    connected: host.connected,
    bootId: host.bootId,
    agentVersion: host.agentVersion,
    migrationUri: host.migrationUri,
    appliedSeq: host.appliedSeq,
    lastSeenMs: host.lastSeenMs,
    missedKeepalives: host.missedKeepalives,
    maintenance: host.maintenance,
    cpus: host.cpus,
    memoryBytes: host.memoryBytes,
    freeMemoryBytes: host.freeMemoryBytes,
    memoryProvisionedBytes: host.memoryProvisionedBytes,
    load: host.load,
    connectedReplica: host.connectedReplica,
    eventsApplied: host.eventsApplied,
    livenessReason: host.livenessReason,
    fenceMethod: host.fenceMethod,
    fenceAttempts: host.fenceAttempts,
  };
}

function diskChainJson(disk: DiskChain): JsonValue {
  return { target: disk.target, files: [...disk.files], host: disk.host };
}

function vmJobJson(job: VmJob): JsonValue {
  return {
    id: job.id,
    host: job.host,
    kind: job.kind,
    disk: job.disk,
    state: job.state,
    outcome: job.outcome,
    detail: job.detail,
    recovered: job.recovered,
    chainBefore: [...job.chainBefore],
    target: job.target,
    startedMs: job.startedMs,
    updatedMs: job.updatedMs,
    escalated: job.escalated,
  };
}

export function vmJson(vm: Vm): JsonValue {
  return {
    name: vm.name,
    uuid: vm.uuid,
    host: vm.host,
    state: vm.state,
    restart: vm.restart,
    reason: vm.reason,
    priority: vm.priority,
    limit: [...vm.limit],
    selector: vm.selector,
    autorestart: vm.autorestart,
    maxRestarts: vm.maxRestarts,
    vcpus: vm.vcpus,
    memoryBytes: vm.memoryBytes,
    skipTrace: vm.skipTrace,
    lastHost: vm.lastHost,
    pendingReason: vm.pendingReason,
    disks: vm.disks.map(diskChainJson),
    desiredState: vm.desiredState,
    haState: vm.haState,
    migrationFallback: vm.migrationFallback,
    activeJob: vm.activeJob,
    jobs: vm.jobs.map(vmJobJson),
    diskSync: vm.diskSync,
    jobBlocker: vm.jobBlocker,
  };
}

export function vmOperationJson(operation: VmOperation): JsonValue {
  return {
    vm: operation.vm,
    host: operation.host,
    commandId: operation.commandId,
    outcome: operation.outcome,
    error: operation.error,
    result: operation.result === null ? null : vmJson(operation.result),
  };
}

export function jobJson(job: Job): JsonValue {
  return {
    id: job.id,
    kind: job.kind,
    vm: job.vm,
    host: job.host,
    target: job.target,
    state: job.state,
    phase: job.phase,
    error: job.error,
    processedBytes: job.processedBytes,
    remainingBytes: job.remainingBytes,
    downtimeMs: job.downtimeMs,
    startedMs: job.startedMs,
    finishedMs: job.finishedMs,
    deadlineMs: job.deadlineMs,
    steps: job.steps.map(jobJson),
    totalBytes: job.totalBytes,
    forceLive: job.forceLive,
    mode: job.mode,
    parent: job.parent,
    originState: job.originState,
    updatedMs: job.updatedMs,
  };
}

export function eventJson(event: ClusterEvent): JsonValue {
  return {
    index: event.index,
    atMs: event.atMs,
    term: event.term,
    kind: event.kind,
    host: event.host,
    vm: event.vm,
    job: event.job,
    message: event.message,
  };
}

export function configEntryJson(entry: ConfigEntry): JsonValue {
  return { key: entry.key, value: entry.value, description: entry.description };
}

/** Pretty JSON for a whole answer. */
export function jsonText(value: JsonValue): string {
  return JSON.stringify(value, null, 2);
}

/** One JSON object per line, for streams (events --follow). */
export function jsonLine(value: JsonValue): string {
  return JSON.stringify(value);
}

// ---- Tables -----------------------------------------------------------------------------

/** Left-aligned columns separated by two spaces; no trailing spaces. */
export function renderTable(headers: readonly string[], rows: ReadonlyArray<readonly string[]>): string {
  const widths = headers.map((header, column) =>
    Math.max(header.length, ...rows.map((row) => (row[column] ?? "").length)),
  );
  const render = (cells: readonly string[]): string =>
    widths.map((width, column) => (cells[column] ?? "").padEnd(width)).join("  ").trimEnd();
  return [render(headers), ...rows.map(render)].join("\n");
}

/** "label:  value" lines with the values aligned. */
export function renderFields(fields: ReadonlyArray<readonly [string, string]>): string {
  const width = Math.max(0, ...fields.map(([label]) => label.length + 1));
  return fields.map(([label, value]) => `${`${label}:`.padEnd(width)}  ${value}`.trimEnd()).join("\n");
}

export function dash(text: string): string {
  return text === "" ? "-" : text;
}

export function yesNo(value: boolean): string {
  return value ? "yes" : "no";
}

const byteUnits = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];

/** 1536 -> "1.5 KiB"; binary units, at most one decimal. */
export function formatBytes(bytes: number): string {
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < byteUnits.length - 1) {
    value /= 1024;
    unit += 1;
  }
  const digits = unit === 0 || value >= 100 ? 0 : 1;
  return `${value.toFixed(digits).replace(/\.0$/, "")} ${byteUnits[unit]}`;
}

/** Unix milliseconds -> ISO time in UTC; 0 (never) -> "-". */
export function formatTime(ms: number): string {
  return ms <= 0 ? "-" : new Date(ms).toISOString();
}

/** 1500 -> "1.5s", 1800000 -> "30m", 5400000 -> "1h30m": the inverse of values.parseDurationMs. */
export function formatDuration(ms: number): string {
  if (ms < 1_000) return `${ms}ms`;
  const parts: string[] = [];
  let rest = ms;
  for (const [unit, unitMs] of [["d", 86_400_000], ["h", 3_600_000], ["m", 60_000]] as const) {
    if (rest >= unitMs) {
      parts.push(`${Math.floor(rest / unitMs)}${unit}`);
      rest %= unitMs;
    }
  }
  if (rest > 0) parts.push(`${Number((rest / 1_000).toFixed(3))}s`);
  return parts.join("");
}

export function clusterStatusText(status: ClusterStatus): string {
  const summary = renderFields([
    ["term", String(status.term)],
    ["primary", status.primary === "" ? `- (${dash(status.primaryState)})` : `${status.primary} (${dash(status.primaryState)})`],
    ["leader", dash(status.leader)],
    ["maintenance", status.maintenance ? "on" : "off"],
  ]);
  const members = renderTable(
    ["ID", "ADDRESS", "ROLE", "HEALTHY", "COMMIT", "APPLIED"],
    status.members.map((member) => [
      member.id,
      dash(member.address),
      dash(member.role),
      yesNo(member.healthy),
      String(member.commitIndex),
      String(member.appliedIndex),
    ]),
  );
  return `${summary}\n\n${members}`;
}

export function hostListText(hosts: readonly Host[]): string {
  return renderTable(
    ["ID", "STATE", "LIVENESS", "ALIVE", "CONNECTED", "VMS", "CPUS", "MEMORY", "FREE", "LOAD"],
    hosts.map((host) => [
      host.id,
      dash(host.state),
      dash(host.liveness),
      yesNo(host.alive),
      yesNo(host.connected),
      String(host.vms),
      String(host.cpus),
      formatBytes(host.memoryBytes),
      formatBytes(host.freeMemoryBytes),
      host.load.toFixed(2),
    ]),
  );
}

export function hostText(host: Host): string {
  return renderFields([
    ["id", host.id],
    ["state", dash(host.state)],
    ["alive", yesNo(host.alive)],
    ["liveness", host.livenessReason === "" ? dash(host.liveness) : `${dash(host.liveness)} (${host.livenessReason})`],
    ["fence method", dash(host.fenceMethod)],
    ["fence attempts", String(host.fenceAttempts)],
    ["maintenance", yesNo(host.maintenance)],
    ["vms", String(host.vms)],
    ["connected", host.connected ? `yes (to ${dash(host.connectedReplica)})` : "no"],
    ["last seen", formatTime(host.lastSeenMs)],
    ["missed keepalives", String(host.missedKeepalives)],
    ["boot id", dash(host.bootId)],
    ["agent version", dash(host.agentVersion)],
    ["migration uri", dash(host.migrationUri)],
    ["applied seq", String(host.appliedSeq)],
    ["cpus", String(host.cpus)],
    ["memory", formatBytes(host.memoryBytes)],
    ["free memory", formatBytes(host.freeMemoryBytes)],
    ["provisioned memory", formatBytes(host.memoryProvisionedBytes)],
    ["load", host.load.toFixed(2)],
  ]);
}

/** What an operator should notice about a VM besides its state. */
function vmNote(vm: Vm): string {
  if (vm.pendingReason !== "") return `${vm.haState === "failed" ? "HA failed" : "pending"}: ${vm.pendingReason}`;
  if (vm.jobBlocker !== "") return `blocked: ${vm.jobBlocker}`;
  if (vm.skipTrace !== "") return `in flight: ${vm.skipTrace}`;
  return vm.reason;
}

export function vmListText(vms: readonly Vm[]): string {
  return renderTable(
    ["NAME", "HOST", "STATE", "RESTART", "PRIORITY", "UUID", "NOTE"],
    vms.map((vm) => [vm.name, dash(vm.host), dash(vm.state), dash(vm.restart), String(vm.priority), dash(vm.uuid), vmNote(vm)]),
  );
}

export function vmText(vm: Vm): string {
  const fields: Array<readonly [string, string]> = [
    ["name", vm.name],
    ["uuid", dash(vm.uuid)],
    ["host", dash(vm.host)],
    ["state", vm.reason === "" ? dash(vm.state) : `${dash(vm.state)} (${vm.reason})`],
    ["desired state", dash(vm.desiredState)],
    ["restart", dash(vm.restart)],
    ["priority", String(vm.priority)],
    ["limit", vm.limit.length === 0 ? "- (any host)" : vm.limit.join(",")],
    ["selector", dash(vm.selector)],
    ["autorestart", vm.autorestart ? "on" : "off"],
    ["max restarts", String(vm.maxRestarts)],
    ["vcpus", String(vm.vcpus)],
    ["memory", formatBytes(vm.memoryBytes)],
    ["last host", dash(vm.lastHost)],
    ["in flight", dash(vm.skipTrace)],
    ["ha", dash(vm.haState)],
    ["pending", dash(vm.pendingReason)],
  ];
  for (const disk of vm.disks) fields.push([`disk ${disk.target}`, `${disk.files.length === 0 ? "-" : disk.files.join(" <- ")}${disk.host === "" ? "" : ` (on ${disk.host})`}`]);
  fields.push(["disk sync", dash(vm.diskSync)]);
  fields.push(["job blocker", dash(vm.jobBlocker)]);
  for (const job of vm.jobs) fields.push([`job ${job.id}`, vmJobText(job)]);
  return renderFields(fields);
}

/** One job line: "active-commit vda on h1: finished completed (recovered), ...". */
function vmJobText(job: VmJob): string {
  const disk = job.disk === "" ? "" : ` ${job.disk}`;
  const outcome = job.outcome === "" ? "" : ` ${job.outcome}`;
  const flags = `${job.recovered ? " (recovered)" : ""}${job.escalated ? " (escalated)" : ""}`;
  const detail = job.detail === "" ? "" : `: ${job.detail}`;
  return `${job.kind}${disk} on ${job.host}: ${job.state}${outcome}${flags}${detail}`;
}

/** "vm web1: start succeeded on h2" or "... failed on h2: <error>". */
export function vmOperationText(action: string, operation: VmOperation): string {
  const where = operation.host === "" ? "" : ` on ${operation.host}`;
  const error = operation.error === "" ? "" : `: ${operation.error}`;
  return `vm ${dash(operation.vm)}: ${action} ${dash(operation.outcome)}${where}${error}`;
}

function jobSubject(job: Job): string {
  const what = job.vm === "" ? job.host : job.vm;
  const route = job.kind === "migrate" ? ` ${dash(job.host)} -> ${dash(job.target)}` : "";
  return `${dash(job.kind)} ${dash(what)}${route}`;
}

export function jobListText(jobs: readonly Job[]): string {
  return renderTable(
    ["ID", "KIND", "VM", "HOST", "TARGET", "STATE", "PHASE", "STARTED", "ERROR"],
    jobs.map((job) => [
      job.id,
      dash(job.kind),
      dash(job.vm),
      dash(job.host),
      dash(job.target),
      dash(job.state),
      dash(job.phase),
      formatTime(job.startedMs),
      job.error,
    ]),
  );
}

export function jobText(job: Job): string {
  return renderFields([
    ["id", job.id],
    ["kind", dash(job.kind)],
    ["vm", dash(job.vm)],
    ["host", dash(job.host)],
    ["target", dash(job.target)],
    ["state", dash(job.state)],
    ["phase", dash(job.phase)],
    ["error", dash(job.error)],
    ["processed", formatBytes(job.processedBytes)],
    ["remaining", formatBytes(job.remainingBytes)],
    ["downtime", job.downtimeMs === 0 ? "-" : `${job.downtimeMs} ms`],
    ["started", formatTime(job.startedMs)],
    ["finished", formatTime(job.finishedMs)],
    ["deadline", formatTime(job.deadlineMs)],
  ]);
}

/** What a command that starts a job prints when not waiting for it. */
export function jobStartedText(job: Job): string {
  return `job ${job.id}: ${jobSubject(job)} ${dash(job.state)} (follow with: vigilctl job show ${job.id})`;
}

/** One progress line of `--wait`: state, phase, bytes processed and remaining. */
export function jobProgressLine(job: Job): string {
  const parts = [`job ${job.id}: ${jobSubject(job)}`, dash(job.state)];
  if (job.phase !== "") parts.push(`phase ${job.phase}`);
  if (job.processedBytes > 0 || job.remainingBytes > 0) {
    parts.push(`${formatBytes(job.processedBytes)} done, ${formatBytes(job.remainingBytes)} left`);
  }
  if (job.downtimeMs > 0) parts.push(`downtime ${job.downtimeMs} ms`);
  if (job.error !== "") parts.push(job.error);
  return parts.join(", ");
}

function eventCells(event: ClusterEvent): string[] {
  return [formatTime(event.atMs), String(event.term), dash(event.kind), dash(event.host), dash(event.vm), dash(event.job), event.message];
}

export function eventsText(events: readonly ClusterEvent[]): string {
  return renderTable(["TIME", "TERM", "KIND", "HOST", "VM", "JOB", "MESSAGE"], events.map(eventCells));
}

/** One event of a stream; columns cannot be measured in advance, so the short ones are padded. */
export function eventLine(event: ClusterEvent): string {
  const [time = "", term = "", kind = "", host = "", vm = "", job = "", message = ""] = eventCells(event);
  return [time.padEnd(24), term.padEnd(4), kind.padEnd(20), host.padEnd(10), vm.padEnd(16), job.padEnd(8), message]
    .join("  ")
    .trimEnd();
}

export function configText(entries: readonly ConfigEntry[]): string {
  return renderTable(
    ["KEY", "VALUE", "DESCRIPTION"],
    entries.map((entry) => [entry.key, entry.value, entry.description]),
  );
}
