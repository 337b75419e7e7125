// Turns replicated records and in-memory session facts into API messages.
import type { Host } from "../../common/generated/vigil/v1/Host.js";
import type { Job } from "../../common/generated/vigil/v1/Job.js";
import type { Vm } from "../../common/generated/vigil/v1/Vm.js";
import type { AgentSession } from "../primary/sessions.js";
import { unresolvedJobBlocker } from "../primary/job-blocker.js";
import type { HostRecord, JobRecord, SkipTraceRecord, StateReader, VmDiskRecord, VmDiskSyncRecord, VmJobRecord, VmRecord } from "../state/store.js";

/** What agent recovery recorded about a VM (DESIGN §9): its jobs, disk chains and disk sync. */
export interface VmRecoveryFacts {
  jobs: VmJobRecord[];
  disks: VmDiskRecord[];
  diskSync: VmDiskSyncRecord | undefined;
}

export function vmRecoveryFacts(reader: StateReader, vmUuid: string): VmRecoveryFacts {
  return { jobs: reader.vmJobs(vmUuid), disks: reader.vmDisks(vmUuid), diskSync: reader.vmDiskSync(vmUuid) };
}

function diskSyncText(sync: VmDiskSyncRecord | undefined): string {
  if (sync === undefined) return "";
  if (sync.state === "synced") return `synced on ${sync.host}`;
  return `${sync.state} on ${sync.host} (attempt ${sync.attempts}): ${sync.error}`;
}

/** Liveness comes from committed state, so every replica answers the same (DESIGN §4: only transitions are committed). */
export function hostView(host: HostRecord, session: AgentSession | undefined, vmCount: number, fenceMethod: string, replicaId: string): Host {
  const stats = session?.stats;
  return {
    id: host.id,
    state: host.maintenance ? "maintenance" : host.state,
    alive: host.liveness === "alive" || host.liveness === "suspect",
    vms: vmCount,
    liveness: host.liveness,
    livenessReason: host.livenessReason,
    fenceMethod,
    fenceAttempts: host.fenceAttempts,
    connected: session !== undefined,
    bootId: host.bootId,
    agentVersion: host.agentVersion,
    migrationUri: host.migrationUri,
    appliedSeq: host.appliedSeq,
    eventsApplied: host.eventsApplied,
    lastSeenMs: session?.lastHeartbeatMs ?? host.livenessSinceMs,
    missedKeepalives: host.missedKeepalives,
    maintenance: host.maintenance,
    cpus: stats?.cpus ?? host.cpus,
    memoryBytes: stats?.memoryBytes ?? host.memoryBytes,
    freeMemoryBytes: stats?.freeMemoryBytes ?? 0,
    memoryProvisionedBytes: stats?.memoryProvisionedBytes ?? 0,
    load: stats?.load ?? 0,
    connectedReplica: session === undefined ? "" : (session.via ?? replicaId),
  };
}

/** What `vm show` says about an in-flight operation: empty when the VM is not skip-traced. */
export function skipTraceText(entry: SkipTraceRecord | undefined): string {
  if (entry === undefined) return "";
  const orphan = entry.orphanedAtMs === null ? "" : `; orphaned at ${new Date(entry.orphanedAtMs).toISOString()}, waiting for its result or vm.orphanedSkipTimeout`;
  return `${entry.operation} on ${entry.host} (term ${entry.term}, command ${entry.commandId}${orphan})`;
}

/**
 * The job that holds each VM now: its migration, or for a flush's shutdown/start step the flush or
 * unflush itself (Vm.active_job).
 */
export function activeJobsByVm(reader: StateReader): Map<string, string> {
  const holders = new Map<string, string>();
  for (const job of reader.activeJobs()) {
    if (job.kind === "migrate") holders.set(job.vmUuid, job.id);
    else if (job.kind === "shutdown" || job.kind === "start") holders.set(job.vmUuid, job.parent);
  }
  return holders;
}

/** `activeJob`: from activeJobsByVm; without it, a migration's skip-trace entry names its job. */
export function vmView(vm: VmRecord, skipTrace?: SkipTraceRecord, recovery: VmRecoveryFacts | null = null, activeJob?: string): Vm {
  return {
    name: vm.name,
    uuid: vm.uuid,
    host: vm.host ?? "",
    state: vm.state,
    restart: vm.restart,
    reason: vm.reason,
    priority: vm.priority,
    limit: vm.limit,
    selector: vm.selector,
    autorestart: vm.autorestart,
    maxRestarts: vm.maxRestarts,
    vcpus: vm.vcpus,
    memoryBytes: vm.memoryBytes,
    lastHost: vm.lastHost,
    desiredState: vm.desiredState,
    haState: vm.haState,
    pendingReason: vm.haState === "pending" || vm.haState === "failed" ? vm.haReason : "",
    skipTrace: skipTraceText(skipTrace),
    disks: (recovery?.disks ?? []).map((disk) => ({ target: disk.target, files: disk.files, host: disk.host })),
    jobs: (recovery?.jobs ?? []).map((job) => ({
      id: job.jobId,
      host: job.host,
      kind: job.kind,
      disk: job.disk,
      state: job.state,
      outcome: job.outcome,
      detail: job.detail,
      recovered: job.recovered,
      chainBefore: job.chainBefore,
      target: job.target,
      startedMs: job.startedMs,
      updatedMs: job.updatedMs,
      escalated: job.escalated,
    })),
    diskSync: diskSyncText(recovery?.diskSync),
    jobBlocker: recovery === null ? "" : (unresolvedJobBlocker(recovery.jobs) ?? ""),
    migrationFallback: vm.migrationFallback,
    // A migration skip-traces its VM under its job id (state/apply-orchestrations.ts).
    activeJob: activeJob ?? (skipTrace?.operation === "migrate" ? skipTrace.commandId : ""),
  };
}

/** A job as the API shows it; `vmName` names its VM, `steps` are a flush's or unflush's children. */
export function jobView(job: JobRecord, vmName: string, steps: Job[] = []): Job {
  return {
    id: job.id,
    kind: job.kind,
    vm: vmName,
    host: job.host,
    target: job.target,
    state: job.state,
    phase: job.phase,
    error: job.error,
    processedBytes: job.processedBytes,
    remainingBytes: job.remainingBytes,
    totalBytes: job.totalBytes,
    downtimeMs: job.downtimeMs,
    startedMs: job.startedMs,
    finishedMs: job.finishedMs,
    deadlineMs: job.deadlineMs,
    steps,
    forceLive: job.forceLive,
    mode: job.mode,
    parent: job.parent,
    originState: job.originState,
    updatedMs: job.updatedMs,
  };
}

/** A job with its VM's name and, for a flush or unflush, its steps. */
export function fullJobView(reader: StateReader, job: JobRecord): Job {
  const name = (uuid: string) => (uuid === "" ? "" : (reader.vmByUuid(uuid)?.name ?? uuid));
  const steps = job.kind === "flush" || job.kind === "unflush" ? reader.childJobs(job.id).map((step) => jobView(step, name(step.vmUuid))) : [];
  return jobView(job, name(job.vmUuid), steps);
}
