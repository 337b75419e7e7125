// The primary's flush duty (DESIGN §8): drives every flush and unflush from replicated state, one
// step at a time. Thin: it gathers the orchestration, its VMs, its children and the hosts, asks
// the pure planner (flush-planner.ts planFlushStep) for the one next step, and commits it. A
// child migration is a migrate job the migration duty runs; a shutdown or start step sends its
// command under skip-trace and ends when the agent's result is committed. A new primary asks the
// same question of the same committed state, so it resumes where the old one stopped, and a child
// that exists is never created again.
import { errorMessage } from "../../common/errors.js";
import type { ControlPlaneContext } from "../context.js";
import type { HaState, Selector } from "../state/commands.js";
import type { JobRecord, StateReader, VmRecord } from "../state/store.js";
import type { DutyListener } from "./duty-gate.js";
import { DutyTicker } from "./duty-ticker.js";
import { planFlushStep, type ChildKind, type FlushStep, type FlushVm } from "./flush-planner.js";
import { jobBlockersByVm } from "./job-blocker.js";
import { migrationHosts } from "./migration-target.js";
import { sendTraced } from "./traced-command.js";
import { vmBlocker } from "./vm-blockers.js";
import type { PlacementHost } from "./placement.js";

export const flushTickIntervalMs = 500;
/** Beyond its own bound, what a flush's shutdown step allows for its result to be committed. */
const stepResultMarginMs = 30_000;

export type FlushDutyContext = Pick<ControlPlaneContext, "log" | "reader" | "sessions" | "dispatcher" | "clock" | "timers" | "logger" | "config">;

/**
 * The VMs `orchestrations` concern (owned by or last on their hosts, or named by their children)
 * as the flush planner sees them, from committed state: not every VM of the cluster each tick.
 */
export function flushVms(reader: StateReader, orchestrations: readonly JobRecord[]): FlushVm[] {
  const childVms = orchestrations.flatMap((job) => reader.childJobs(job.id).map((child) => child.vmUuid));
  return asFlushVms(reader, reader.vmsConcerning(orchestrations.map((job) => job.host), childVms));
}

/** `vms` as the flush planner sees them: with what keeps each off limits (skip-trace, unknown jobs). */
export function asFlushVms(reader: StateReader, vms: readonly VmRecord[]): FlushVm[] {
  const traced = reader.skipTrace();
  const jobBlockers = jobBlockersByVm(reader.unresolvedJobs());
  return vms.map((vm) => ({
    uuid: vm.uuid,
    name: vm.name,
    host: vm.host,
    lastHost: vm.lastHost,
    state: vm.state,
    priority: vm.priority,
    autorestart: vm.autorestart,
    haState: vm.haState as HaState,
    memoryBytes: vm.memoryBytes,
    vcpus: vm.vcpus,
    limit: vm.limit,
    selector: vm.selector as Selector,
    blockedBy: vmBlocker({ skipTrace: traced.get(vm.uuid), jobBlocker: jobBlockers.get(vm.uuid) ?? null }),
  }));
}

/** A non-final migration, shutdown or start that moves a VM onto or off `orchestration`'s host and is not its own step. */
function inFlightTouching(reader: StateReader, orchestration: JobRecord): JobRecord | undefined {
  return reader
    .activeJobs()
    .find((job) => job.parent !== orchestration.id && job.kind !== "flush" && job.kind !== "unflush" && (job.host === orchestration.host || job.target === orchestration.host));
}

export class FlushDuty implements DutyListener {
  private readonly ticker: DutyTicker;

  constructor(private readonly context: FlushDutyContext) {
    this.ticker = new DutyTicker(context.timers, flushTickIntervalMs, (isCurrent) => this.tick(isCurrent), (error) =>
      context.logger.warn({ err: errorMessage(error) }, "flush step failed; retrying next tick"),
    );
  }

  start(term: number): void {
    this.context.logger.info({ term }, "flush duty started: resuming every unfinished flush and unflush");
    this.ticker.start();
  }

  stop(reason: string): void {
    this.ticker.stop();
    this.context.logger.info({ reason }, "flush duty stopped");
  }

  private async tick(isCurrent: () => boolean): Promise<void> {
    const { reader, clock, log } = this.context;
    const orchestrations = reader.activeJobs().filter((job) => job.kind === "flush" || job.kind === "unflush");
    // Shutdown and start steps whose result did not come within their bound end failed (bounded waits, DESIGN §10.6).
    for (const step of reader.activeJobs()) {
      if ((step.kind === "shutdown" || step.kind === "start") && step.deadlineMs > 0 && clock.nowMs() >= step.deadlineMs) {
        await log.propose({ kind: "FlushStepTimedOut", stepId: step.id, error: `no result of the ${step.kind} within its bound` });
      }
    }
    if (orchestrations.length === 0) return;
    const vms = flushVms(reader, orchestrations);
    const hosts = this.placementHosts();
    for (const job of orchestrations) {
      if (!isCurrent()) return;
      // A step of another orchestration (a superseded flush or unflush) or an operator's migration
      // may still be moving a VM onto or off this host: plan only once it has ended, from the facts
      // it leaves (the scope is worked out then, not taken from when this orchestration was asked
      // for), or a flush would call a host flushed while a VM lands on it.
      const foreign = job.cancelRequested ? undefined : inFlightTouching(reader, job);
      if (foreign !== undefined) {
        const vm = reader.vmByUuid(foreign.vmUuid);
        const reason = `waiting for ${foreign.kind} job ${foreign.id} (vm ${vm?.name ?? foreign.vmUuid}, ${foreign.host} -> ${foreign.target || foreign.host}) to end`;
        await this.perform(job, { kind: "wait", childJobId: foreign.id, vmUuid: foreign.vmUuid, vm: vm?.name ?? foreign.vmUuid, reason });
        continue;
      }
      const step = planFlushStep({
        orchestration: { jobId: job.id, kind: job.kind as "flush" | "unflush", host: job.host, cancelRequested: job.cancelRequested, vmUuids: null },
        vms,
        children: reader.childJobs(job.id).map((child) => ({ id: child.id, vmUuid: child.vmUuid, kind: child.kind as ChildKind, state: child.state, target: child.target, error: child.error, deadlineMs: child.deadlineMs })),
        hosts,
        nowMs: clock.nowMs(),
      });
      await this.perform(job, step);
      // One step per tick: the next one is planned from the state this one committed.
      if (step.kind !== "wait") return;
    }
  }

  /** Placement hosts that can receive a migration: ready and with a migration URI. */
  private placementHosts(): PlacementHost[] {
    const { reader, sessions } = this.context;
    return migrationHosts(reader.listHosts(), reader.provisionedByHost(), sessions).map((host) =>
      host.ready && host.migrationUri === "" ? { ...host, ready: false, notReadyReason: "no migration URI" } : host,
    );
  }

  private async perform(job: JobRecord, step: FlushStep): Promise<void> {
    const { log, dispatcher, clock, config, logger } = this.context;
    switch (step.kind) {
      case "wait": {
        // The countdown is the child's own (its deadline_ms): committing it every second would only grow the log.
        const phase = step.reason.replace(/ \(\d+ s left\)/, "");
        if (job.phase !== phase) await log.propose({ kind: "FlushPhase", jobId: job.id, phase });
        return;
      }
      case "migrate": {
        const vm = this.context.reader.vmByUuid(step.vmUuid);
        logger.info({ job: job.id, vm: step.vm, host: step.from, target: step.to }, `${job.kind}: migrating ${step.vm}`);
        await log.propose({ kind: "MigrationRequested", jobId: dispatcher.newCommandId(), vmUuid: step.vmUuid, source: step.from, target: step.to, forceLive: false, originState: vm?.state ?? "", parent: job.id, reason: step.reason });
        return;
      }
      case "shutdown":
      case "start": {
        const commandId = dispatcher.newCommandId();
        const settings = config();
        const boundMs = step.kind === "shutdown" ? settings.migrationShutdownTimeoutMs + stepResultMarginMs : settings.commandTimeoutMs;
        const markAutorestart = step.kind === "shutdown" && step.markAutorestart;
        await log.propose({ kind: "FlushVmStep", jobId: job.id, stepId: dispatcher.newCommandId(), step: step.kind, vmUuid: step.vmUuid, commandId, deadlineMs: clock.nowMs() + boundMs, markAutorestart, reason: step.reason });
        if (this.context.reader.skipTraceOf(step.vmUuid)?.commandId !== commandId) return;
        logger.info({ job: job.id, vm: step.vm, host: step.host }, `${job.kind}: ${step.kind} of ${step.vm} (${step.reason})`);
        const action = step.kind === "shutdown" ? { shutdown: { vmUuid: step.vmUuid, timeoutMs: settings.migrationShutdownTimeoutMs } } : { start: { vmUuid: step.vmUuid } };
        sendTraced(this.context, { vmUuid: step.vmUuid, host: step.host, action, timeoutMs: boundMs, commandId }).catch((error: unknown) =>
          logger.warn({ job: job.id, vm: step.vm, err: errorMessage(error) }, `${job.kind}: ${step.kind} not confirmed; the step ends at its bound`),
        );
        return;
      }
      case "record-last-host":
        await log.propose({ kind: "FlushRecordLastHost", jobId: job.id, hostId: step.host, vmUuids: step.vms.map((vm) => vm.vmUuid) });
        return;
      case "finish":
        await log.propose({ kind: "FlushFinished", jobId: job.id, state: step.outcome, error: step.outcome === "failed" ? step.summary.text : "", summary: step.summary.text, hostState: step.hostState });
        return;
      case "cancel-finish":
        await log.propose({ kind: "FlushFinished", jobId: job.id, state: "canceled", error: job.error || "canceled by an operator", summary: step.summary.text });
        return;
    }
  }
}
