// VmService: VM state and the operator's state changes. A state change records
// the desired state in the log, sends a fenced command to the owning host's
// agent, and answers once the agent's result is committed.
import type { Vm } from "../../common/generated/vigil/v1/Vm.js";
import type { VmOperation } from "../../common/generated/vigil/v1/VmOperation.js";
import type { VmServiceHandlers } from "../../common/generated/vigil/v1/VmService.js";
import type { SetVmPolicyRequest__Output } from "../../common/generated/vigil/v1/SetVmPolicyRequest.js";
import { hostIdProblem, isVmName } from "../../common/validate.js";
import type { ControlPlaneContext } from "../context.js";
import type { CommandAction } from "../primary/dispatcher.js";
import { sendTraced } from "../primary/traced-command.js";
import { unresolvedJobBlocker } from "../primary/job-blocker.js";
import { vmBlocker } from "../primary/vm-blockers.js";
import { restartPolicies, selectors, type Selector, type VmPolicy } from "../state/commands.js";
import type { VmRecord } from "../state/store.js";
import { leaderOnly } from "./leader-forwarding.js";
import { failedPrecondition, invalidArgument, notFound, unary } from "./status.js";
import { activeJobsByVm, jobView, vmRecoveryFacts, vmView } from "./views.js";
import type { Job } from "../../common/generated/vigil/v1/Job.js";
import { chooseMigrationTarget, migrationHosts, sourceProblem, targetProblem } from "../primary/migration-target.js";
import { aliveDomainStates } from "../state/domain-states.js";

const shutdownTimeoutMaxS = 3_600;
const shutdownResultMarginMs = 30_000;
const policyFieldsMax = 16;
const limitHostsMax = 1_000;

function findVm(context: ControlPlaneContext, nameOrUuid: string): VmRecord {
  if (!isVmName(nameOrUuid)) throw invalidArgument("vm", "name or UUID must be 1 to 200 printable characters");
  const matches = context.reader.findVms(nameOrUuid);
  if (matches.length === 0) throw notFound(`vm "${nameOrUuid}"`);
  if (matches.length > 1) throw failedPrecondition(`vm name "${nameOrUuid}" is ambiguous (${matches.map((vm) => vm.uuid).join(", ")}); use the UUID`);
  return matches[0]!;
}

function ownerOf(vm: VmRecord): string {
  if (vm.host === null) throw failedPrecondition(`vm ${vm.name} has no host`);
  return vm.host;
}

/** A migration holds the VM from its request to its end: other operations wait (its job can be canceled). */
function refuseWhileMigrating(context: ControlPlaneContext, vm: VmRecord): void {
  const job = context.reader.activeMigrationOf(vm.uuid);
  if (job !== undefined) throw failedPrecondition(`vm ${vm.name} is held by job ${job.id} (migrate ${job.host} -> ${job.target}, ${job.state}); wait for it or cancel it (vigilctl job cancel ${job.id})`);
}

async function operate(
  context: ControlPlaneContext,
  vm: VmRecord,
  host: string,
  desiredState: "running" | "stopped",
  action: CommandAction,
  timeoutMs: number,
): Promise<VmOperation> {
  refuseWhileMigrating(context, vm);
  // The VM enters the skip-trace set (owned by this term) before the command goes out: the VM
  // sync and HA leave it alone until its result arrives (DESIGN §7).
  const commandId = context.dispatcher.newCommandId();
  const operation = action.start ? "start" : action.shutdown ? "shutdown" : "stop";
  await context.log.propose({ kind: "VmRequested", vmUuid: vm.uuid, desiredState, commandId, operation, host });
  const outcome = await sendTraced(context, { vmUuid: vm.uuid, host, action, timeoutMs, commandId });
  const after = context.reader.vmByUuid(vm.uuid);
  const succeeded = outcome.outcome === "COMMAND_OUTCOME_SUCCEEDED" || outcome.outcome === "COMMAND_OUTCOME_DUPLICATE";
  return {
    vm: vm.name,
    host,
    commandId: outcome.commandId,
    outcome: succeeded ? "succeeded" : "failed",
    error: succeeded ? "" : outcome.error || outcome.outcome,
    result: after === undefined ? null : vmView(after, context.reader.skipTraceOf(after.uuid), vmRecoveryFacts(context.reader, after.uuid)),
  };
}

function noOperation(vm: VmRecord): VmOperation {
  return { vm: vm.name, host: vm.host ?? "", commandId: "", outcome: "succeeded", error: "", result: vmView(vm) };
}

/** The policy fields the request names, validated; throws INVALID_ARGUMENT naming the field. */
export function policyFromRequest(request: SetVmPolicyRequest__Output): Partial<VmPolicy> {
  if (request.fields.length === 0) throw invalidArgument("fields", "name at least one policy field to change");
  if (request.fields.length > policyFieldsMax) throw invalidArgument("fields", `names more than ${policyFieldsMax} fields`);
  if (request.limit.length > limitHostsMax) throw invalidArgument("limit", `lists more than ${limitHostsMax} hosts`);
  const policy: Partial<VmPolicy> = {};
  for (const field of request.fields) {
    switch (field) {
      case "restart":
        if (!(restartPolicies as readonly string[]).includes(request.restart)) throw invalidArgument("restart", `must be one of ${restartPolicies.join(", ")}`);
        policy.restart = request.restart as VmPolicy["restart"];
        break;
      case "priority":
        if (!Number.isInteger(request.priority) || Math.abs(request.priority) > 1_000_000) throw invalidArgument("priority", "must be a whole number within ±1000000");
        policy.priority = request.priority;
        break;
      case "limit":
        for (const host of request.limit) {
          const problem = hostIdProblem(host);
          if (problem !== null) throw invalidArgument("limit", `host id ${problem}`);
        }
        policy.limit = [...new Set(request.limit)].sort();
        break;
      case "selector":
        if (!(selectors as readonly string[]).includes(request.selector)) throw invalidArgument("selector", `must be one of ${selectors.join(", ")}`);
        policy.selector = request.selector as VmPolicy["selector"];
        break;
      case "autorestart":
        policy.autorestart = request.autorestart;
        break;
      case "migrationFallback":
      case "migration_fallback":
        policy.migrationFallback = request.migrationFallback;
        break;
      case "maxRestarts":
      case "max_restarts":
        if (request.maxRestarts > 1_000) throw invalidArgument("max_restarts", "must be at most 1000");
        policy.maxRestarts = request.maxRestarts;
        break;
      default:
        throw invalidArgument("fields", `unknown policy field "${field.slice(0, 40)}"`);
    }
  }
  return policy;
}

export function vmServiceHandlers(context: ControlPlaneContext): VmServiceHandlers {
  const { log, reader, logger } = context;
  return {
    List: unary(logger, "VmList", async (request) => {
      if (request.host !== "" && hostIdProblem(request.host) !== null) throw invalidArgument("host", `host id ${hostIdProblem(request.host)}`);
      await log.readBarrier();
      const traced = reader.skipTrace();
      const holders = activeJobsByVm(reader);
      return { vms: reader.listVms(request.host === "" ? undefined : request.host).map((vm) => vmView(vm, traced.get(vm.uuid), vmRecoveryFacts(reader, vm.uuid), holders.get(vm.uuid) ?? "")) };
    }),
    Get: unary(logger, "VmGet", async (request): Promise<Vm> => {
      await log.readBarrier();
      const vm = findVm(context, request.vm);
      return vmView(vm, reader.skipTraceOf(vm.uuid), vmRecoveryFacts(reader, vm.uuid), activeJobsByVm(reader).get(vm.uuid) ?? "");
    }),
    Start: leaderOnly(context, "VmService", "Start", async (request) => {
      const vm = findVm(context, request.vm);
      if (request.on !== "" && hostIdProblem(request.on) !== null) throw invalidArgument("on", `host id ${hostIdProblem(request.on)}`);
      if (request.on !== "" && reader.host(request.on) === undefined) throw notFound(`host "${request.on}"`);
      const target = request.on === "" ? ownerOf(vm) : request.on;
      if (aliveDomainStates.has(vm.state)) {
        // A pending shutdown is aborted by this new state request (DESIGN §8): the agent is told.
        const pendingShutdown = reader.skipTraceOf(vm.uuid)?.operation === "shutdown";
        if (vm.host === target && !pendingShutdown) return noOperation(vm);
        if (vm.host === target) return operate(context, vm, target, "running", { start: { vmUuid: vm.uuid } }, context.config().commandTimeoutMs);
        throw failedPrecondition(`vm ${vm.name} is ${vm.state} on ${vm.host}; it cannot be started on ${target} too`);
      }
      if (vm.host !== null && vm.host !== target) {
        // Starting elsewhere moves ownership: only when the owner's word that the VM is off can be
        // trusted (it is alive and reporting) or its host is confirmed fenced (DESIGN §10.2).
        const owner = reader.host(vm.host);
        if (owner !== undefined && owner.liveness !== "alive" && owner.liveness !== "fenced") {
          throw failedPrecondition(`host ${vm.host} of vm ${vm.name} is ${owner.liveness}, not fenced: it may still run the VM; confirm the fence first (vigilctl host confirm-fenced ${vm.host})`);
        }
        const blocker = vmBlocker({ skipTrace: reader.skipTraceOf(vm.uuid), jobBlocker: unresolvedJobBlocker(reader.vmJobs(vm.uuid)) });
        if (blocker !== null) throw failedPrecondition(`vm ${vm.name} is ${blocker}`);
      }
      return operate(context, vm, target, "running", { start: { vmUuid: vm.uuid } }, context.config().commandTimeoutMs);
    }),
    Stop: leaderOnly(context, "VmService", "Stop", async (request) => {
      const vm = findVm(context, request.vm);
      if (!aliveDomainStates.has(vm.state) && vm.state !== "shutdown" && vm.state !== "crashed") return noOperation(vm);
      return operate(context, vm, ownerOf(vm), "stopped", { destroy: { vmUuid: vm.uuid } }, context.config().commandTimeoutMs);
    }),
    Shutdown: leaderOnly(context, "VmService", "Shutdown", async (request) => {
      const vm = findVm(context, request.vm);
      if (request.timeoutS > shutdownTimeoutMaxS) throw invalidArgument("timeout_s", `must be at most ${shutdownTimeoutMaxS}`);
      if (!aliveDomainStates.has(vm.state)) return noOperation(vm);
      const timeoutS = request.timeoutS === 0 ? 180 : request.timeoutS;
      const action: CommandAction = { shutdown: { vmUuid: vm.uuid, timeoutMs: timeoutS * 1000 } };
      return operate(context, vm, ownerOf(vm), "stopped", action, timeoutS * 1000 + shutdownResultMarginMs);
    }),
    Migrate: leaderOnly(context, "VmService", "Migrate", async (request): Promise<Job> => {
      const vm = findVm(context, request.vm);
      if (request.to !== "" && hostIdProblem(request.to) !== null) throw invalidArgument("to", `host id ${hostIdProblem(request.to)}`);
      const source = ownerOf(vm);
      if (request.to === source) throw failedPrecondition(`vm ${vm.name} already runs on ${source}: a VM cannot migrate to its own host`);
      if (request.to !== "" && reader.host(request.to) === undefined) throw notFound(`host "${request.to}"`);
      if (vm.state !== "running" && vm.state !== "paused") throw failedPrecondition(`vm ${vm.name} is ${vm.state}: only a running or paused VM can migrate`);
      refuseWhileMigrating(context, vm);
      const blocker = vmBlocker({ skipTrace: reader.skipTraceOf(vm.uuid), jobBlocker: unresolvedJobBlocker(reader.vmJobs(vm.uuid)) });
      if (blocker !== null) throw failedPrecondition(`vm ${vm.name} is ${blocker}`);
      const hosts = migrationHosts(reader.listHosts(), reader.provisionedByHost(), context.sessions);
      const sourceHost = hosts.find((host) => host.id === source);
      const sourceIssue = sourceHost === undefined ? `source ${source} is not known` : sourceProblem(sourceHost);
      if (sourceIssue !== null) throw failedPrecondition(`vm ${vm.name}: ${sourceIssue}`);
      let target = request.to;
      if (target === "") {
        const placed = chooseMigrationTarget({ ...vm, selector: vm.selector as Selector }, source, hosts);
        if (placed.host === null) throw failedPrecondition(`to: no target for vm ${vm.name}: ${"reason" in placed ? placed.reason : "none"}`);
        target = placed.host;
      } else {
        const problem = targetProblem(hosts.find((host) => host.id === target)!);
        if (problem !== null) throw failedPrecondition(`to: ${problem}`);
      }
      const jobId = context.dispatcher.newCommandId();
      await log.propose({ kind: "MigrationRequested", jobId, vmUuid: vm.uuid, source, target, forceLive: request.forceLive, originState: vm.state, parent: "", reason: "operator" });
      const job = reader.job(jobId);
      if (job === undefined) throw failedPrecondition(`migration of vm ${vm.name} was not recorded`);
      // Apply re-checks what changed since the checks above (another request won the race).
      if (job.state === "failed") throw failedPrecondition(job.error);
      return jobView(job, vm.name);
    }),
    SetPolicy: unary(logger, "VmSetPolicy", async (request) => {
      const vm = findVm(context, request.vm);
      const policy = policyFromRequest(request);
      await log.propose({ kind: "SetVmPolicy", vmUuid: vm.uuid, policy });
      return vmView(reader.vmByUuid(vm.uuid)!, reader.skipTraceOf(vm.uuid));
    }),
  };
}
