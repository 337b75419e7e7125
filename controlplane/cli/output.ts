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
import { type ClusterEvent, type ClusterStatus, type ConfigEntry, type DiskChain, type Host, type Job, type Member, type Vm, type VmJob, type VmOperation, finalJobStates } from "./wire.js";

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
    ["migration fallback", vm.migrationFallback ? "on (a failed live migration may become a shutdown migration)" : "off (live only)"],
    ["active job", dash(vm.activeJob)],
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

function isFinalJob(job: Job): boolean {
  return finalJobStates.includes(job.state);
}

/** The bytes a migration moves: the server's total, else what is done plus what is left. */
function jobTotalBytes(job: Job): number {
  return job.totalBytes > 0 ? job.totalBytes : job.processedBytes + job.remainingBytes;
}

/**
 * How far a migration is, in whole percent (never rounded up to 100), or null before any data was
 * reported. Counted from what is left, as virsh's own progress does: libvirt's processed bytes
 * leave out the zero pages it skips, so processed/total lags far behind on a mostly empty guest.
 */
export function jobPercent(job: Job): number | null {
  const total = jobTotalBytes(job);
  if (total <= 0) return null;
  const done = Math.max(0, total - job.remainingBytes);
  return Math.min(100, Math.floor((done * 100) / total));
}

/** "87% of 4 GiB", or "" before the migration reported any data. */
export function jobPercentText(job: Job): string {
  const percent = jobPercent(job);
  return percent === null ? "" : `${percent}% of ${formatBytes(jobTotalBytes(job))}`;
}

/** The PROGRESS cell of a job table: a migration's percentage, a flush's steps done. */
function progressCell(job: Job): string {
  if (job.kind === "migrate") {
    const percent = jobPercent(job);
    return percent === null ? "-" : `${percent}%`;
  }
  return job.steps.length === 0 ? "-" : `${job.steps.filter(isFinalJob).length}/${job.steps.length} VMs`;
}

/** Whole seconds until the deadline, rounded up so that "0s left" means the bound is reached. */
function timeLeftText(deadlineMs: number, nowMs: number): string {
  const leftMs = Math.max(0, Math.ceil((deadlineMs - nowMs) / 1_000) * 1_000);
  return leftMs === 0 ? "0s left" : `${formatDuration(leftMs)} left`;
}

/**
 * The state of one job for a progress line: state, mode, percentage, remaining data, downtime,
 * phase (adjudication rechecks included), time left before its deadline, error. `nowMs` null
 * leaves the countdown out: that form tells whether anything but the clock changed.
 */
function jobStatusParts(job: Job, nowMs: number | null): string[] {
  const parts = [dash(job.state)];
  if (job.mode === "shutdown") parts.push("shutdown migration");
  if (job.kind === "migrate") {
    const percent = jobPercentText(job);
    if (percent !== "") parts.push(percent, `${formatBytes(job.remainingBytes)} left`, `${formatBytes(job.processedBytes)} sent`);
    if (job.downtimeMs > 0) parts.push(`downtime ${job.downtimeMs} ms`);
  }
  if (job.kind !== "migrate" && job.steps.length > 0) {
    const done = job.steps.filter(isFinalJob).length;
    parts.push(`${done} of ${job.steps.length} VM${job.steps.length === 1 ? "" : "s"} done`);
  }
  if (job.phase !== "") parts.push(`phase ${job.phase}`);
  if (nowMs !== null && !isFinalJob(job) && job.deadlineMs > 0) parts.push(timeLeftText(job.deadlineMs, nowMs));
  // A server may word a final phase and the error alike: say it once.
  if (job.error !== "" && job.error !== job.phase) parts.push(job.error);
  return parts;
}

/**
 * A server may count down in its phase text too ("... running (629 s left)"): for telling whether
 * anything changed, such a countdown is the clock, not news.
 */
function withoutCountdowns(line: string): string {
  return line.replace(/\b\d+(?:\.\d+)? ?(?:ms|s|m|h)? left\b/g, "… left");
}

/** One progress entry: the job itself, or one step (VM) of a flush or unflush. */
export interface ProgressEntry {
  /** What identifies the entry across polls (the job id). */
  id: string;
  line: string;
  /** The line without the countdown: it changes only when something but the clock does. */
  changeKey: string;
}

function stepLabel(step: Job): string {
  const route = step.kind === "migrate" ? ` ${dash(step.host)} -> ${dash(step.target)}` : ` (${dash(step.kind)})`;
  return `  ${dash(step.vm)}${route}`;
}

/**
 * What `--wait` shows for a job at `nowMs`: a line for the job and, for a flush or unflush, one
 * indented line per VM step.
 */
export function jobProgressEntries(job: Job, nowMs: number): ProgressEntry[] {
  const entry = (id: string, label: string, subject: Job): ProgressEntry => ({
    id,
    line: `${label}: ${jobStatusParts(subject, nowMs).join(", ")}`,
    changeKey: withoutCountdowns(`${label}: ${jobStatusParts(subject, null).join(", ")}`),
  });
  return [entry(job.id, `job ${job.id}: ${jobSubject(job)}`, job), ...job.steps.map((step) => entry(step.id, stepLabel(step), step))];
}

/**
 * What replaces a block of `previousLines` lines drawn last (the cursor at the end of its last
 * line) with `lines`: up to the block's first line, clear to the end of the screen, draw. Lines
 * are clipped to the terminal's width, since a wrapped line cannot be redrawn in place.
 */
export function redrawText(previousLines: number, lines: readonly string[], columns: number | undefined): string {
  const width = columns !== undefined && columns > 20 ? columns - 1 : Infinity;
  const up = previousLines > 1 ? `\x1b[${previousLines - 1}A` : "";
  return `${up}\r\x1b[J${lines.map((line) => (line.length > width ? line.slice(0, width) : line)).join("\n")}`;
}

/** A job's progress as lines (the terminal's redrawn block). */
export function jobProgressLines(job: Job, nowMs: number): string[] {
  return jobProgressEntries(job, nowMs).map((entry) => entry.line);
}

export function jobListText(jobs: readonly Job[]): string {
  return renderTable(
    ["ID", "KIND", "VM", "HOST", "TARGET", "STATE", "MODE", "PROGRESS", "PHASE", "STARTED", "ERROR"],
    jobs.map((job) => [
      job.id,
      dash(job.kind),
      dash(job.vm),
      dash(job.host),
      dash(job.target),
      dash(job.state),
      dash(job.mode),
      progressCell(job),
      dash(job.phase),
      formatTime(job.startedMs),
      job.error,
    ]),
  );
}

/** Every field of a job, then its steps (a flush's or unflush's per-VM jobs) as a table. */
export function jobText(job: Job): string {
  const total = jobTotalBytes(job);
  const fields = renderFields([
    ["id", job.id],
    ["kind", dash(job.kind)],
    ["vm", dash(job.vm)],
    ["host", dash(job.host)],
    ["target", dash(job.target)],
    ["state", dash(job.state)],
    ["mode", dash(job.mode)],
    ["force live", yesNo(job.forceLive)],
    ["phase", dash(job.phase)],
    ["error", dash(job.error)],
    ["progress", dash(jobPercentText(job))],
    ["processed", formatBytes(job.processedBytes)],
    ["remaining", formatBytes(job.remainingBytes)],
    ["total", total > 0 ? formatBytes(total) : "-"],
    ["downtime", job.downtimeMs === 0 ? "-" : `${job.downtimeMs} ms`],
    ["origin state", dash(job.originState)],
    ["parent", dash(job.parent)],
    ["started", formatTime(job.startedMs)],
    ["updated", formatTime(job.updatedMs)],
    ["finished", formatTime(job.finishedMs)],
    ["deadline", formatTime(job.deadlineMs)],
    ["steps", job.steps.length === 0 ? "-" : `${job.steps.filter(isFinalJob).length} of ${job.steps.length} done`],
  ]);
  if (job.steps.length === 0) return fields;
  const steps = renderTable(
    ["STEP", "KIND", "VM", "HOST", "TARGET", "STATE", "MODE", "PROGRESS", "DOWNTIME", "PHASE", "ERROR"],
    job.steps.map((step) => [
      step.id,
      dash(step.kind),
      dash(step.vm),
      dash(step.host),
      dash(step.target),
      dash(step.state),
      dash(step.mode),
      dash(jobPercentText(step)),
      step.downtimeMs === 0 ? "-" : `${step.downtimeMs} ms`,
      dash(step.phase),
      step.error,
    ]),
  );
  return `${fields}\n\n${steps}`;
}

/** What a command that starts a job prints when not waiting for it. */
export function jobStartedText(job: Job): string {
  return `job ${job.id}: ${jobSubject(job)} ${dash(job.state)} (follow with: vigilctl job show ${job.id})`;
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
