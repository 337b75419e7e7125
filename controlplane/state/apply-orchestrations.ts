// Applies the primary's migration and flush orchestrations (DESIGN §8) to the jobs table, and the
// agents' JobProgress of a migration to its job. Part of apply: deterministic, inside the batch
// transaction, times only from the entry (the proposer's atMs).
//
// 1. A migration's VM is skip-traced (operation migrate, command id = the job id, so no agent's
//    command result can end it) from the entry that creates the job to the entry that ends it.
// 2. Ownership (vms.host) changes exactly once per migration, in MigrationSucceeded, and only
//    while the VM is still owned by the job's source.
// 3. A final job never changes again: every command below is a no-op on a final job, so a late
//    or repeated proposal (an old primary's, a retry) cannot undo an outcome.
// 4. A flush or unflush of a host cancels the one running on that host; its child migration goes
//    on (it finishes or is adjudicated on its own) but no new step starts.
import type { JobProgress__Output } from "../../common/generated/vigil/v1/JobProgress.js";
import type { Statement } from "better-sqlite3";
import { finalJobStates, type StateCommand } from "./commands.js";
import type { JobRecord, StateReader, VmRecord } from "./store.js";

/** Final jobs kept for `job list` (newest first); older ones go as new ones end. Children of a running flush always stay. */
export const finishedJobsMax = 1_000;

export interface OrchestrationApplyContext {
  atMs: number;
  term: number;
  event(event: { kind: string; host?: string; vm?: string; job?: string; message: string }): void;
  /** Puts the VM in the skip-trace set, owned by the entry's term (apply.ts traceVm). */
  trace(vm: VmRecord, entry: { operation: string; commandId: string; host: string }): void;
}

type OrchestrationCommand = Extract<
  StateCommand,
  {
    kind:
      | "MigrationRequested"
      | "MigrationStep"
      | "MigrationAdjudicating"
      | "MigrationSucceeded"
      | "MigrationEnded"
      | "JobCancelRequested"
      | "FlushRequested"
      | "FlushVmStep"
      | "FlushStepTimedOut"
      | "FlushRecordLastHost"
      | "FlushPhase"
      | "FlushFinished";
  }
>;

export class OrchestrationApplier {
  constructor(
    private readonly statement: (sql: string) => Statement,
    private readonly reader: StateReader,
  ) {}

  command(context: OrchestrationApplyContext, command: OrchestrationCommand): void {
    switch (command.kind) {
      case "MigrationRequested":
        return this.migrationRequested(context, command);
      case "MigrationStep":
        return this.migrationStep(context, command);
      case "MigrationAdjudicating":
        return this.adjudicating(context, command);
      case "MigrationSucceeded":
        return this.succeeded(context, command);
      case "MigrationEnded":
        return this.ended(context, command);
      case "JobCancelRequested":
        return this.cancelRequested(context, command);
      case "FlushRequested":
        return this.flushRequested(context, command);
      case "FlushVmStep":
        return this.flushVmStep(context, command);
      case "FlushStepTimedOut": {
        const step = this.activeJob(command.stepId, ["shutdown", "start"]);
        if (step !== undefined) this.endStep(context, step, "failed", command.error);
        return;
      }
      case "FlushRecordLastHost":
        return this.recordLastHost(context, command);
      case "FlushPhase":
        if (this.activeJob(command.jobId, ["flush", "unflush"]) !== undefined) this.statement("UPDATE jobs SET phase = ?, updated_ms = ? WHERE id = ?").run(command.phase, context.atMs, command.jobId);
        return;
      case "FlushFinished":
        return this.flushFinished(context, command);
    }
  }

  /** The migration now in flight for `vmUuid` whose target is `hostId`: its VM is expected to show up there. */
  expectedOn(vmUuid: string, hostId: string): boolean {
    return this.reader.activeMigrationOf(vmUuid)?.target === hostId;
  }

  /** A migrate skip-trace entry that an active job holds: fences and takeovers leave it to the job (rule 1). */
  heldByActiveJob(vmUuid: string, commandId: string): boolean {
    const job = this.reader.job(commandId);
    return job !== undefined && job.kind === "migrate" && job.vmUuid === vmUuid && !finalJobStates.has(job.state);
  }

  /** An agent's JobProgress of a migration this control plane orchestrates. */
  progress(context: OrchestrationApplyContext, progress: JobProgress__Output): void {
    const job = this.reader.job(progress.jobId);
    if (job === undefined || job.kind !== "migrate" || finalJobStates.has(job.state)) return;
    this.statement("UPDATE jobs SET processed_bytes = ?, remaining_bytes = ?, total_bytes = ?, downtime_ms = ?, updated_ms = ? WHERE id = ?")
      .run(progress.processedBytes, progress.remainingBytes, progress.totalBytes, progress.downtimeMs, context.atMs, job.id);
  }

  private vmName(uuid: string): string {
    return this.reader.vmByUuid(uuid)?.name ?? uuid;
  }

  private insertJob(
    context: OrchestrationApplyContext,
    job: Pick<JobRecord, "id" | "kind" | "vmUuid" | "host" | "target" | "state" | "phase" | "error" | "mode" | "forceLive" | "parent" | "originState"> & { commandId?: string; deadlineMs?: number },
  ): void {
    const final = finalJobStates.has(job.state);
    this.statement(
      `INSERT INTO jobs (id, kind, vm_uuid, host, target, state, phase, error, mode, force_live, parent, origin_state, command_id, command_term, deadline_ms, started_ms, updated_ms, finished_ms)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    ).run(job.id, job.kind, job.vmUuid, job.host, job.target, job.state, job.phase, job.error, job.mode, job.forceLive ? 1 : 0, job.parent, job.originState, job.commandId ?? "", job.commandId ? context.term : 0, job.deadlineMs ?? 0, context.atMs, context.atMs, final ? context.atMs : 0);
  }

  /** The agent's committed result of a flush step's command ends that step (shutdown or start). */
  stepResult(context: OrchestrationApplyContext, commandId: string, outcome: string, error: string): void {
    const row = this.statement("SELECT id FROM jobs WHERE command_id = ? AND kind IN ('shutdown', 'start') AND state = 'running'").get(commandId) as { id: string } | undefined;
    if (row === undefined) return;
    const step = this.reader.job(row.id)!;
    const succeeded = outcome === "COMMAND_OUTCOME_SUCCEEDED" || outcome === "COMMAND_OUTCOME_DUPLICATE";
    this.endStep(context, step, succeeded ? "succeeded" : "failed", succeeded ? "" : error || outcome);
  }

  private endStep(context: OrchestrationApplyContext, step: JobRecord, state: "succeeded" | "failed", error: string): void {
    this.statement("UPDATE jobs SET state = ?, error = ?, updated_ms = ?, finished_ms = ?, deadline_ms = 0 WHERE id = ?").run(state, error, context.atMs, context.atMs, step.id);
    const name = this.vmName(step.vmUuid);
    const why = error === "" ? "" : `: ${error}`;
    context.event({ kind: state === "succeeded" ? "job" : "error", host: step.host, vm: name, job: step.parent, message: `vm ${name}: ${step.kind} on ${step.host} (step ${step.id} of ${step.parent}) ${state}${why}` });
  }

  private recordLastHost(context: OrchestrationApplyContext, command: Extract<StateCommand, { kind: "FlushRecordLastHost" }>): void {
    const parent = this.activeJob(command.jobId, ["flush"]);
    if (parent === undefined) return;
    for (const uuid of command.vmUuids) {
      const vm = this.reader.vmByUuid(uuid);
      if (vm === undefined || vm.host !== command.hostId || vm.lastHost === command.hostId) continue;
      this.statement("UPDATE vms SET last_host = ? WHERE uuid = ?").run(command.hostId, uuid);
      context.event({ kind: "vm", host: command.hostId, vm: vm.name, job: parent.id, message: `vm ${vm.name}: stopped, stays on ${command.hostId} (flush ${parent.id}); last host recorded` });
    }
  }

  private activeJob(jobId: string, kinds: readonly string[]): JobRecord | undefined {
    const job = this.reader.job(jobId);
    if (job === undefined || finalJobStates.has(job.state) || !kinds.includes(job.kind)) return undefined;
    return job;
  }

  private migrationRequested(context: OrchestrationApplyContext, command: Extract<StateCommand, { kind: "MigrationRequested" }>): void {
    if (this.reader.job(command.jobId) !== undefined) return;
    const vm = this.reader.vmByUuid(command.vmUuid);
    const name = vm?.name ?? command.vmUuid;
    // The API checked all of this before proposing; another entry may have been committed in between.
    const holder = this.reader.activeMigrationOf(command.vmUuid);
    const traced = this.reader.skipTraceOf(command.vmUuid);
    const refusal =
      vm === undefined
        ? "the vm is no longer known"
        : vm.host !== command.source
          ? `vm ${name} is now owned by ${vm.host ?? "no host"}, not ${command.source}`
          : holder !== undefined
            ? `vm ${name} is held by job ${holder.id} (migrate ${holder.host} -> ${holder.target})`
            : traced !== undefined
              ? `vm ${name} is skip-traced: ${traced.operation} on ${traced.host} in flight`
              : null;
    const base = { id: command.jobId, kind: "migrate" as const, vmUuid: command.vmUuid, host: command.source, target: command.target, mode: "live", forceLive: command.forceLive, parent: command.parent, originState: command.originState };
    if (refusal !== null) {
      this.insertJob(context, { ...base, state: "failed", phase: "refused", error: refusal });
      return context.event({ kind: "job", host: command.source, vm: name, job: command.jobId, message: `vm ${name}: migration ${command.jobId} to ${command.target} refused: ${refusal}` });
    }
    this.insertJob(context, { ...base, state: "pending", phase: `waiting to migrate ${command.source} -> ${command.target}`, error: "" });
    const why = command.reason === "" ? "" : ` (${command.reason})`;
    const force = command.forceLive ? ", force-live" : "";
    context.event({ kind: "job", host: command.source, vm: name, job: command.jobId, message: `vm ${name}: migration ${command.jobId} requested ${command.source} -> ${command.target}${force}${why}` });
    context.trace(vm!, { operation: "migrate", commandId: command.jobId, host: command.source });
  }

  private migrationStep(context: OrchestrationApplyContext, command: Extract<StateCommand, { kind: "MigrationStep" }>): void {
    const job = this.activeJob(command.jobId, ["migrate"]);
    if (job === undefined || job.commandId !== command.previousCommandId) return;
    // A cancel that arrived before the migration call went out wins: the call is never sent.
    if (job.cancelRequested && job.commandId === "") return this.endMigration(context, job, "canceled", "canceled before the migration started");
    this.statement("UPDATE jobs SET state = 'running', phase = ?, command_id = ?, command_term = ?, deadline_ms = ?, mode = ?, fallback_stage = ?, updated_ms = ? WHERE id = ?")
      .run(command.phase, command.commandId, context.term, command.deadlineMs, command.mode, command.stage, context.atMs, job.id);
    const name = this.vmName(job.vmUuid);
    context.event({ kind: "job", host: job.host, vm: name, job: job.id, message: `vm ${name}: migration ${job.id}: ${command.phase}` });
  }

  private adjudicating(context: OrchestrationApplyContext, command: Extract<StateCommand, { kind: "MigrationAdjudicating" }>): void {
    const job = this.activeJob(command.jobId, ["migrate"]);
    if (job === undefined) return;
    const first = job.adjudicationStartedMs === 0;
    this.statement(
      `UPDATE jobs SET state = 'adjudicating', phase = ?, adjudication_trigger = ?, adjudication_started_ms = ?, recheck_count = ?, next_recheck_ms = ?, deadline_ms = ?, updated_ms = ? WHERE id = ?`,
    ).run(command.phase, first ? command.trigger : job.adjudicationTrigger, first ? context.atMs : job.adjudicationStartedMs, command.recheckCount, command.nextRecheckMs, command.deadlineMs, context.atMs, job.id);
    const name = this.vmName(job.vmUuid);
    if (first) context.event({ kind: "job", host: job.host, vm: name, job: job.id, message: `vm ${name}: migration ${job.id} adjudicating: ${command.trigger}` });
    else context.event({ kind: "job", host: job.host, vm: name, job: job.id, message: `vm ${name}: migration ${job.id}: ${command.phase}` });
  }

  private succeeded(context: OrchestrationApplyContext, command: Extract<StateCommand, { kind: "MigrationSucceeded" }>): void {
    const job = this.activeJob(command.jobId, ["migrate"]);
    if (job === undefined || job.fallbackStage === "start") return;
    const vm = this.reader.vmByUuid(job.vmUuid);
    if (vm === undefined || vm.host !== job.host) {
      return this.endMigration(context, job, "failed", `the vm's owner changed to ${vm?.host ?? "none"} during the migration; ownership not moved`);
    }
    // Post-migrate: ownership moves, in this entry and nowhere else (DESIGN §8, §10.2).
    this.statement("UPDATE vms SET host = ?, last_host = ?, state = ?, reason = ?, updated_ms = ? WHERE uuid = ?").run(job.target, job.host, command.vmState, command.vmReason, context.atMs, vm.uuid);
    context.event({ kind: "vm", host: job.target, vm: vm.name, job: job.id, message: `vm ${vm.name}: owner ${job.host} => ${job.target} (migration ${job.id})` });
    // After-migrate: the VM's state as the destination reports it.
    if (vm.state !== command.vmState || vm.reason !== command.vmReason) {
      context.event({ kind: "vm", host: job.target, vm: vm.name, message: `vm ${vm.name}: ${vm.state} => ${command.vmState} (${command.vmReason}) on ${job.target}` });
    }
    if (command.startCommandId !== undefined) {
      // A shutdown migration: the definition moved, the start on the target follows under skip-trace.
      this.statement("UPDATE vms SET desired_state = 'running' WHERE uuid = ?").run(vm.uuid);
      this.statement("UPDATE jobs SET fallback_stage = 'start', phase = ?, command_id = ?, command_term = ?, updated_ms = ? WHERE id = ?")
        .run(`starting on ${job.target}`, command.startCommandId, context.term, context.atMs, job.id);
      context.event({ kind: "job", host: job.target, vm: vm.name, job: job.id, message: `vm ${vm.name}: migration ${job.id}: definition on ${job.target}, starting it (${command.detail})` });
      return context.trace({ ...vm, host: job.target }, { operation: "start", commandId: command.startCommandId, host: job.target });
    }
    // The agent's last progress report comes before the switch-over: the move is complete now.
    this.statement("UPDATE jobs SET processed_bytes = MAX(processed_bytes, total_bytes), remaining_bytes = 0 WHERE id = ?").run(job.id);
    this.finish(context, job, "succeeded", "", command.detail);
  }

  private ended(context: OrchestrationApplyContext, command: Extract<StateCommand, { kind: "MigrationEnded" }>): void {
    const job = this.activeJob(command.jobId, ["migrate"]);
    if (job === undefined) return;
    // Success only ever follows the success entry (a fallback's start): ownership moved there.
    if (command.state === "succeeded" && job.fallbackStage !== "start") return;
    this.endMigration(context, job, command.state, command.error);
  }

  private endMigration(context: OrchestrationApplyContext, job: JobRecord, state: "succeeded" | "rolled-back" | "failed" | "canceled", error: string): void {
    this.finish(context, job, state, error, "");
  }

  /** Final state, event, and the VM's skip-trace entry released when this job holds it. */
  private finish(context: OrchestrationApplyContext, job: JobRecord, state: "succeeded" | "rolled-back" | "failed" | "canceled", error: string, detail: string): void {
    this.statement("UPDATE jobs SET state = ?, error = ?, phase = ?, updated_ms = ?, finished_ms = ?, deadline_ms = 0, next_recheck_ms = 0 WHERE id = ?")
      .run(state, error, state === "succeeded" ? "done" : job.phase, context.atMs, context.atMs, job.id);
    const name = this.vmName(job.vmUuid);
    const vm = this.reader.vmByUuid(job.vmUuid);
    const where = state === "succeeded" ? `now on ${job.target}` : `stays with ${vm?.host ?? job.host}`;
    const why = error !== "" ? `: ${error}` : detail !== "" ? ` (${detail})` : "";
    context.event({ kind: state === "succeeded" ? "job" : "error", host: job.host, vm: name, job: job.id, message: `vm ${name}: migration ${job.id} ${job.host} -> ${job.target} ${state}, ${where}${why}` });
    this.pruneFinishedJobs();
    const traced = this.reader.skipTraceOf(job.vmUuid);
    if (traced !== undefined && (traced.commandId === job.id || (job.fallbackStage === "start" && traced.commandId === job.commandId))) {
      this.statement("DELETE FROM skip_trace WHERE vm_uuid = ?").run(job.vmUuid);
      context.event({ kind: "skip-trace", host: traced.host, vm: name, job: job.id, message: `vm ${name}: continue-trace (${traced.operation}): migration ${job.id} ${state}` });
    }
  }

  /** Bounded history: the oldest final jobs beyond finishedJobsMax are dropped, never a step a running flush still plans from. */
  private pruneFinishedJobs(): void {
    this.statement(
      `DELETE FROM jobs WHERE state IN ('succeeded', 'rolled-back', 'failed', 'canceled')
         AND id NOT IN (SELECT id FROM jobs WHERE state IN ('succeeded', 'rolled-back', 'failed', 'canceled') ORDER BY finished_ms DESC, rowid DESC LIMIT ?)
         AND parent NOT IN (SELECT id FROM jobs WHERE state IN ('pending', 'running', 'adjudicating'))`,
    ).run(finishedJobsMax);
  }

  private cancelRequested(context: OrchestrationApplyContext, command: Extract<StateCommand, { kind: "JobCancelRequested" }>): void {
    const job = this.reader.job(command.jobId);
    if (job === undefined || finalJobStates.has(job.state) || job.cancelRequested) return;
    const name = job.vmUuid === "" ? "" : this.vmName(job.vmUuid);
    if (job.kind === "migrate" && job.commandId === "") {
      return this.endMigration(context, job, "canceled", `canceled before the migration started (${command.reason})`);
    }
    this.statement("UPDATE jobs SET cancel_requested = 1, updated_ms = ? WHERE id = ?").run(context.atMs, job.id);
    const what = job.kind === "migrate" ? "the migration is aborted; its outcome is still adjudicated" : "no new step starts";
    context.event({ kind: "job", host: job.host, vm: name, job: job.id, message: `${job.kind} ${job.id}: cancel requested (${command.reason}): ${what}` });
  }

  private flushRequested(context: OrchestrationApplyContext, command: Extract<StateCommand, { kind: "FlushRequested" }>): void {
    if (this.reader.job(command.jobId) !== undefined) return;
    const host = this.reader.host(command.hostId);
    if (host === undefined) return;
    for (const running of this.reader.activeJobs()) {
      if ((running.kind !== "flush" && running.kind !== "unflush") || running.host !== command.hostId) continue;
      this.statement("UPDATE jobs SET state = 'canceled', error = ?, cancel_requested = 1, updated_ms = ?, finished_ms = ? WHERE id = ?")
        .run(`superseded by ${command.flush} ${command.jobId}`, context.atMs, context.atMs, running.id);
      context.event({ kind: "job", host: host.id, job: running.id, message: `host ${host.id}: ${running.kind} ${running.id} canceled: superseded by ${command.flush} ${command.jobId}` });
    }
    const state = command.flush === "flush" ? "flushing" : "ready";
    this.statement("UPDATE hosts SET state = ? WHERE id = ?").run(state, host.id);
    this.insertJob(context, { id: command.jobId, kind: command.flush, vmUuid: "", host: host.id, target: "", state: "running", phase: command.flush === "flush" ? "draining" : "bringing VMs back", error: "", mode: "", forceLive: false, parent: "", originState: "" });
    context.event({ kind: "host", host: host.id, job: command.jobId, message: `host ${host.id}: ${command.flush} ${command.jobId} started: ${host.state} => ${state}` });
  }

  private flushVmStep(context: OrchestrationApplyContext, command: Extract<StateCommand, { kind: "FlushVmStep" }>): void {
    const parent = this.activeJob(command.jobId, ["flush", "unflush"]);
    const vm = this.reader.vmByUuid(command.vmUuid);
    if (parent === undefined || parent.cancelRequested || vm === undefined || vm.host === null || this.reader.job(command.stepId) !== undefined) return;
    if (this.reader.skipTraceOf(vm.uuid) !== undefined) return;
    const parked = command.step === "shutdown";
    this.insertJob(context, { id: command.stepId, kind: command.step, vmUuid: vm.uuid, host: vm.host, target: vm.host, state: "running", phase: command.reason, error: "", mode: "", forceLive: false, parent: parent.id, originState: vm.state, commandId: command.commandId, deadlineMs: command.deadlineMs });
    if (parked) {
      // Shut down for want of a target: desired stopped (HA leaves it), its last host recorded, and
      // autorestart pending when its policy says so: the unflush starts it (flush-planner.ts).
      const [haState, haReason] = command.markAutorestart ? ["pending", command.reason] : [vm.haState, vm.haReason];
      this.statement("UPDATE vms SET desired_state = 'stopped', last_host = ?, ha_state = ?, ha_reason = ? WHERE uuid = ?").run(vm.host, haState, haReason, vm.uuid);
    } else {
      this.statement("UPDATE vms SET desired_state = 'running', ha_state = '', ha_reason = '' WHERE uuid = ?").run(vm.uuid);
    }
    const what = parked ? (command.markAutorestart ? "shut down, autorestart pending" : "shut down (autorestart off)") : "autorestart start";
    context.event({ kind: "job", host: vm.host, vm: vm.name, job: parent.id, message: `vm ${vm.name}: ${parent.kind} ${parent.id}: ${what} (${command.reason})` });
    context.trace(vm, { operation: command.step, commandId: command.commandId, host: vm.host });
  }

  private flushFinished(context: OrchestrationApplyContext, command: Extract<StateCommand, { kind: "FlushFinished" }>): void {
    const job = this.activeJob(command.jobId, ["flush", "unflush"]);
    if (job === undefined) return;
    this.statement("UPDATE jobs SET state = ?, error = ?, phase = ?, updated_ms = ?, finished_ms = ? WHERE id = ?").run(command.state, command.error, command.summary, context.atMs, context.atMs, job.id);
    this.pruneFinishedJobs();
    const host = this.reader.host(job.host);
    const hostState = command.hostState;
    const changes = host !== undefined && hostState !== undefined && host.state !== hostState;
    if (changes) this.statement("UPDATE hosts SET state = ? WHERE id = ?").run(hostState, host.id);
    const change = changes ? `; ${host.state} => ${hostState}` : "";
    context.event({ kind: command.state === "failed" ? "error" : "host", host: job.host, job: job.id, message: `host ${job.host}: ${job.kind} ${job.id} ${command.state}: ${command.summary}${change}` });
  }
}
