// Checks what an agent sends before anything reaches the log. A message that
// fails here closes only its own stream with INVALID_ARGUMENT (DESIGN §4).
// Every number that reaches a SQLite INTEGER column must be a safe integer: a uint64 such as
// 2^64-1 arrives as a float, and a float in a committed entry would stop every replica's apply
// (the RPC fuzzer found that with Hello.capacity.memory_bytes).
import type { AgentEvent__Output } from "../../common/generated/vigil/v1/AgentEvent.js";
import type { DomainStatus__Output } from "../../common/generated/vigil/v1/DomainStatus.js";
import type { Heartbeat__Output } from "../../common/generated/vigil/v1/Heartbeat.js";
import type { Hello__Output } from "../../common/generated/vigil/v1/Hello.js";
import type { HostStats__Output } from "../../common/generated/vigil/v1/HostStats.js";
import { hostIdProblem, isUuid, isVmName } from "../../common/validate.js";

const domainStates: ReadonlySet<string> = new Set(["nostate", "running", "blocked", "paused", "shutdown", "shutoff", "crashed", "pmsuspended"]);
const selfFenceModes: ReadonlySet<string> = new Set(["", "off", "watchdog", "destroy-vms"]);
const jobOutcomes: ReadonlySet<string> = new Set(["completed", "failed", "aborted", "unknown"]);
const jobKinds: ReadonlySet<string> = new Set(["migrate-out", "migrate-in", "commit", "active-commit", "copy", "pull"]);
const blockJobKinds: ReadonlySet<string> = new Set(["commit", "active-commit", "copy", "pull"]);
const blockJobStatuses: ReadonlySet<string> = new Set(["completed", "failed", "canceled", "ready"]);
const shortTextMax = 256;
const errorTextMax = 4096;
const pathTextMax = 4096;
/** A day: far beyond any sensible self-fence timeout, and the primary waits this long plus a margin. */
const selfFenceTimeoutMsMax = 24 * 60 * 60 * 1000;
const diskChainDisksMax = 256;
/** Images one disk's chain may carry into the log. */
const diskChainFilesMax = 200;
export const inventoryDomainsMax = 10_000;

function countProblem(value: number, field: string): string | null {
  return Number.isSafeInteger(value) && value >= 0 ? null : `${field} ${value} is not a whole number from 0 to 2^53-1`;
}

function textProblem(value: string, field: string, max = shortTextMax): string | null {
  return value.length > max ? `${field} is longer than ${max} characters` : null;
}

function firstProblem(...problems: (string | null)[]): string | null {
  return problems.find((problem) => problem !== null) ?? null;
}

function statsProblem(stats: HostStats__Output | null, field: string): string | null {
  if (stats === null) return null;
  if (!Number.isFinite(stats.load) || stats.load < 0) return `${field}.load must be a finite number >= 0`;
  return firstProblem(
    countProblem(stats.memoryBytes, `${field}.memory_bytes`),
    countProblem(stats.freeMemoryBytes, `${field}.free_memory_bytes`),
    countProblem(stats.memoryProvisionedBytes, `${field}.memory_provisioned_bytes`),
  );
}

export function helloProblem(hello: Hello__Output): string | null {
  const hostProblem = hostIdProblem(hello.hostId);
  if (hostProblem !== null) return `hello.host_id ${hostProblem}`;
  if (hello.bootId.length === 0 || hello.bootId.length > shortTextMax) return "hello.boot_id must be 1 to 256 characters";
  return firstProblem(
    textProblem(hello.agentVersion, "hello.agent_version"),
    textProblem(hello.sessionId, "hello.session_id"),
    textProblem(hello.migrationUri, "hello.migration_uri", 1024),
    countProblem(hello.lastAckedSeq, "hello.last_acked_seq"),
    countProblem(hello.highestTerm, "hello.highest_term"),
    statsProblem(hello.capacity, "hello.capacity"),
    selfFenceProblem(hello.selfFence),
  );
}

/** The primary trusts the agent's own self-fence setting (DESIGN §5): it must make sense. Absent is off. */
function selfFenceProblem(selfFence: Hello__Output["selfFence"]): string | null {
  if (selfFence === null || selfFence === undefined) return null;
  if (!selfFenceModes.has(selfFence.mode)) return `hello.self_fence.mode "${selfFence.mode.slice(0, 32)}" is not off, watchdog or destroy-vms`;
  const active = selfFence.mode === "watchdog" || selfFence.mode === "destroy-vms";
  // Bounded in every mode: the value is committed with the host (an INTEGER column), and a uint64
  // past 2^53 arrives as a float that would stop every replica's apply.
  const minimumMs = active ? 1 : 0;
  if (!Number.isSafeInteger(selfFence.timeoutMs) || selfFence.timeoutMs < minimumMs || selfFence.timeoutMs > selfFenceTimeoutMsMax) {
    return `hello.self_fence.timeout_ms must be ${minimumMs} to ${selfFenceTimeoutMsMax} with mode ${selfFence.mode || "off"}`;
  }
  return null;
}

export function heartbeatProblem(heartbeat: Heartbeat__Output): string | null {
  return statsProblem(heartbeat.stats, "heartbeat.stats");
}

function domainProblem(domain: DomainStatus__Output | null | undefined, field: string): string | null {
  if (domain === null || domain === undefined) return `${field} is missing`;
  if (!isUuid(domain.uuid)) return `${field}.uuid "${domain.uuid.slice(0, 64)}" is not a UUID`;
  if (!isVmName(domain.name)) return `${field}.name is empty, too long or has control characters`;
  if (!domainStates.has(domain.state)) return `${field}.state "${domain.state.slice(0, 32)}" is not a libvirt domain state`;
  return firstProblem(textProblem(domain.reason, `${field}.reason`), countProblem(domain.memoryBytes, `${field}.memory_bytes`));
}

function vmUuidProblem(uuid: string, field: string): string | null {
  return isUuid(uuid) ? null : `${field} "${uuid.slice(0, 64)}" is not a UUID`;
}

function enumProblem(value: string, allowed: ReadonlySet<string>, field: string): string | null {
  return allowed.has(value) ? null : `${field} "${value.slice(0, 32)}" is not one of ${[...allowed].join(", ")}`;
}

function filesProblem(files: readonly string[], field: string): string | null {
  if (files.length > diskChainFilesMax) return `${field} has more than ${diskChainFilesMax} images`;
  return firstProblem(...files.map((file, index) => (file.length === 0 ? `${field}[${index}] is empty` : textProblem(file, `${field}[${index}]`, pathTextMax))));
}

function jobIdentityProblem(job: { jobId: string; vmUuid: string; kind: string; disk: string }, field: string): string | null {
  return firstProblem(
    job.jobId.length === 0 ? `${field}.job_id is empty` : textProblem(job.jobId, `${field}.job_id`),
    vmUuidProblem(job.vmUuid, `${field}.vm_uuid`),
    enumProblem(job.kind, jobKinds, `${field}.kind`),
    textProblem(job.disk, `${field}.disk`),
  );
}

export function eventProblem(event: AgentEvent__Output): string | null {
  if (!Number.isSafeInteger(event.seq) || event.seq <= 0) return "event.seq must be a positive integer";
  if (!Number.isSafeInteger(event.atMs)) return "event.at_ms is out of range";
  switch (event.body) {
    case "inventory": {
      const domains = event.inventory?.domains ?? [];
      if (domains.length > inventoryDomainsMax) return `event.inventory has more than ${inventoryDomainsMax} domains`;
      for (const [position, domain] of domains.entries()) {
        const problem = domainProblem(domain, `event.inventory.domains[${position}]`);
        if (problem !== null) return problem;
      }
      return null;
    }
    case "lifecycle": {
      const lifecycle = event.lifecycle;
      return firstProblem(domainProblem(lifecycle?.domain, "event.lifecycle.domain"), textProblem(lifecycle?.event ?? "", "event.lifecycle.event"), textProblem(lifecycle?.detail ?? "", "event.lifecycle.detail"));
    }
    case "commandResult": {
      const result = event.commandResult;
      if (!result || result.commandId.length === 0 || result.commandId.length > shortTextMax) return "event.command_result.command_id must be 1 to 256 characters";
      if (result.outcome === "COMMAND_OUTCOME_UNSPECIFIED" || !result.outcome.startsWith("COMMAND_OUTCOME_")) return "event.command_result.outcome is unspecified or unknown";
      const problem = firstProblem(countProblem(result.term, "event.command_result.term"), textProblem(result.error, "event.command_result.error", errorTextMax));
      if (problem !== null) return problem;
      if (result.domain) return domainProblem(result.domain, "event.command_result.domain");
      return null;
    }
    case "jobProgress": {
      const progress = event.jobProgress!;
      return firstProblem(
        textProblem(progress.jobId, "event.job_progress.job_id"),
        vmUuidProblem(progress.vmUuid, "event.job_progress.vm_uuid"),
        textProblem(progress.kind, "event.job_progress.kind", 32),
        countProblem(progress.processedBytes, "event.job_progress.processed_bytes"),
        countProblem(progress.remainingBytes, "event.job_progress.remaining_bytes"),
        countProblem(progress.totalBytes, "event.job_progress.total_bytes"),
        countProblem(progress.downtimeMs, "event.job_progress.downtime_ms"),
      );
    }
    case "jobStarted": {
      const job = event.jobStarted!;
      return firstProblem(
        jobIdentityProblem(job, "event.job_started"),
        filesProblem(job.chainBefore, "event.job_started.chain_before"),
        textProblem(job.top, "event.job_started.top", pathTextMax),
        textProblem(job.target, "event.job_started.target", pathTextMax),
        textProblem(job.commandId, "event.job_started.command_id"),
      );
    }
    case "jobFinished": {
      const finished = event.jobFinished!;
      return firstProblem(
        jobIdentityProblem(finished, "event.job_finished"),
        enumProblem(finished.outcome, jobOutcomes, "event.job_finished.outcome"),
        textProblem(finished.error, "event.job_finished.error", errorTextMax),
      );
    }
    case "blockJob": {
      const job = event.blockJob!;
      return firstProblem(
        vmUuidProblem(job.vmUuid, "event.block_job.vm_uuid"),
        textProblem(job.disk, "event.block_job.disk"),
        enumProblem(job.kind, blockJobKinds, "event.block_job.kind"),
        enumProblem(job.status, blockJobStatuses, "event.block_job.status"),
      );
    }
    case "diskChain": {
      const report = event.diskChain!;
      if (report.disks.length > diskChainDisksMax) return `event.disk_chain has more than ${diskChainDisksMax} disks`;
      if (report.pending && report.disks.length > 0) return "event.disk_chain is pending but carries disks";
      for (const [position, disk] of report.disks.entries()) {
        const field = `event.disk_chain.disks[${position}]`;
        const problem = firstProblem(disk.target.length === 0 ? `${field}.target is empty` : null, textProblem(disk.target, `${field}.target`), filesProblem(disk.files, `${field}.files`));
        if (problem !== null) return problem;
      }
      return firstProblem(vmUuidProblem(report.vmUuid, "event.disk_chain.vm_uuid"), textProblem(report.error, "event.disk_chain.error", errorTextMax), countProblem(report.attempts, "event.disk_chain.attempts"));
    }
    // A contact probe carries nothing but its sequence: it proves the control plane took a message.
    case "contactProbe":
      return null;
    default:
      return "event has no body";
  }
}
