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
    case "jobProgress":
    case "jobFinished":
    case "blockJob":
    case "diskChain":
    case "contactProbe":
      return null;
    default:
      return "event has no body";
  }
}
