// Checks what an agent sends before anything reaches the log. A message that
// fails here closes only its own stream with INVALID_ARGUMENT (DESIGN §4).
import type { AgentEvent__Output } from "../../common/generated/vigil/v1/AgentEvent.js";
import type { DomainStatus__Output } from "../../common/generated/vigil/v1/DomainStatus.js";
import type { Hello__Output } from "../../common/generated/vigil/v1/Hello.js";
import { hostIdProblem, isUuid, isVmName } from "../../common/validate.js";

const domainStates: ReadonlySet<string> = new Set(["nostate", "running", "blocked", "paused", "shutdown", "shutoff", "crashed", "pmsuspended"]);
const shortTextMax = 256;
export const inventoryDomainsMax = 10_000;

export function helloProblem(hello: Hello__Output): string | null {
  const hostProblem = hostIdProblem(hello.hostId);
  if (hostProblem !== null) return `hello.host_id ${hostProblem}`;
  if (hello.bootId.length === 0 || hello.bootId.length > shortTextMax) return "hello.boot_id must be 1 to 256 characters";
  if (hello.agentVersion.length > shortTextMax) return "hello.agent_version is longer than 256 characters";
  if (hello.migrationUri.length > 1024) return "hello.migration_uri is longer than 1024 characters";
  if (!Number.isSafeInteger(hello.lastAckedSeq) || hello.lastAckedSeq < 0) return "hello.last_acked_seq is out of range";
  return selfFenceProblem(hello.selfFence);
}

const selfFenceModes: ReadonlySet<string> = new Set(["", "off", "watchdog", "destroy-vms"]);
/** A day: far beyond any sensible self-fence timeout, and the primary waits this long plus a margin. */
const selfFenceTimeoutMsMax = 24 * 60 * 60 * 1000;

/** The primary trusts the agent's own self-fence setting (DESIGN §5): it must make sense. Absent is off. */
function selfFenceProblem(selfFence: Hello__Output["selfFence"]): string | null {
  if (selfFence === null || selfFence === undefined) return null;
  if (!selfFenceModes.has(selfFence.mode)) return `hello.self_fence.mode "${selfFence.mode.slice(0, 32)}" is not off, watchdog or destroy-vms`;
  const active = selfFence.mode === "watchdog" || selfFence.mode === "destroy-vms";
  if (active && (!Number.isSafeInteger(selfFence.timeoutMs) || selfFence.timeoutMs <= 0 || selfFence.timeoutMs > selfFenceTimeoutMsMax)) {
    return `hello.self_fence.timeout_ms must be 1 to ${selfFenceTimeoutMsMax} with mode ${selfFence.mode}`;
  }
  return null;
}

function domainProblem(domain: DomainStatus__Output | null | undefined, field: string): string | null {
  if (domain === null || domain === undefined) return `${field} is missing`;
  if (!isUuid(domain.uuid)) return `${field}.uuid "${domain.uuid.slice(0, 64)}" is not a UUID`;
  if (!isVmName(domain.name)) return `${field}.name is empty, too long or has control characters`;
  if (!domainStates.has(domain.state)) return `${field}.state "${domain.state.slice(0, 32)}" is not a libvirt domain state`;
  if (domain.reason.length > shortTextMax) return `${field}.reason is longer than 256 characters`;
  return null;
}

const jobKinds: ReadonlySet<string> = new Set(["migrate-out", "migrate-in", "commit", "active-commit", "copy", "pull"]);
const jobOutcomes: ReadonlySet<string> = new Set(["completed", "failed", "aborted", "unknown"]);
/** Bounds on what a chain may carry into the log. */
export const chainFilesMax = 200;
export const disksMax = 256;
const pathMax = 4096;

function textProblem(value: string, field: string, max: number, required: boolean): string | null {
  if (required && value.length === 0) return `${field} is empty`;
  if (value.length > max) return `${field} is longer than ${max} characters`;
  return null;
}

function filesProblem(files: readonly string[], field: string): string | null {
  if (files.length > chainFilesMax) return `${field} has more than ${chainFilesMax} images`;
  for (const [position, file] of files.entries()) {
    const problem = textProblem(file, `${field}[${position}]`, pathMax, true);
    if (problem !== null) return problem;
  }
  return null;
}

function jobIdentityProblem(job: { jobId: string; vmUuid: string; kind: string; disk: string }, field: string): string | null {
  return (
    textProblem(job.jobId, `${field}.job_id`, shortTextMax, true) ??
    (isUuid(job.vmUuid) ? null : `${field}.vm_uuid "${job.vmUuid.slice(0, 64)}" is not a UUID`) ??
    (jobKinds.has(job.kind) ? null : `${field}.kind "${job.kind.slice(0, 32)}" is not one of ${[...jobKinds].join(", ")}`) ??
    textProblem(job.disk, `${field}.disk`, shortTextMax, false)
  );
}

function jobStartedProblem(event: AgentEvent__Output): string | null {
  const job = event.jobStarted;
  if (!job) return "event.job_started is missing";
  return (
    jobIdentityProblem(job, "event.job_started") ??
    filesProblem(job.chainBefore, "event.job_started.chain_before") ??
    textProblem(job.top, "event.job_started.top", pathMax, false) ??
    textProblem(job.target, "event.job_started.target", pathMax, false) ??
    textProblem(job.commandId, "event.job_started.command_id", shortTextMax, false)
  );
}

function jobFinishedProblem(event: AgentEvent__Output): string | null {
  const job = event.jobFinished;
  if (!job) return "event.job_finished is missing";
  const identity = jobIdentityProblem(job, "event.job_finished");
  if (identity !== null) return identity;
  if (!jobOutcomes.has(job.outcome)) return `event.job_finished.outcome "${job.outcome.slice(0, 32)}" is not one of ${[...jobOutcomes].join(", ")}`;
  return textProblem(job.error, "event.job_finished.error", pathMax, false);
}

function diskChainProblem(event: AgentEvent__Output): string | null {
  const report = event.diskChain;
  if (!report) return "event.disk_chain is missing";
  if (!isUuid(report.vmUuid)) return `event.disk_chain.vm_uuid "${report.vmUuid.slice(0, 64)}" is not a UUID`;
  if (report.disks.length > disksMax) return `event.disk_chain has more than ${disksMax} disks`;
  if (report.pending && report.disks.length > 0) return "event.disk_chain is pending but carries disks";
  for (const [position, disk] of report.disks.entries()) {
    const problem = textProblem(disk.target, `event.disk_chain.disks[${position}].target`, shortTextMax, true) ?? filesProblem(disk.files, `event.disk_chain.disks[${position}].files`);
    if (problem !== null) return problem;
  }
  return textProblem(report.error, "event.disk_chain.error", pathMax, false);
}

export function eventProblem(event: AgentEvent__Output): string | null {
  if (!Number.isSafeInteger(event.seq) || event.seq <= 0) return "event.seq must be a positive integer";
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
    case "lifecycle":
      return domainProblem(event.lifecycle?.domain, "event.lifecycle.domain");
    case "commandResult": {
      const result = event.commandResult;
      if (!result || result.commandId.length === 0 || result.commandId.length > shortTextMax) return "event.command_result.command_id must be 1 to 256 characters";
      if (result.outcome === "COMMAND_OUTCOME_UNSPECIFIED") return "event.command_result.outcome is unspecified";
      if (result.domain) return domainProblem(result.domain, "event.command_result.domain");
      return null;
    }
    case "jobStarted":
      return jobStartedProblem(event);
    case "jobFinished":
      return jobFinishedProblem(event);
    case "diskChain":
      return diskChainProblem(event);
    case "contactProbe":
    case "jobProgress":
    case "blockJob":
      return null;
    default:
      return "event has no body";
  }
}
