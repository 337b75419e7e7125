// The primary's migration duty (DESIGN §8): drives every migration job from replicated state.
// Thin: for each job it reads what is committed, asks the pure decisions (migration-planner.ts,
// migration-adjudication.ts) what comes next, and performs it: a committed StateCommand, a
// fenced command to an agent (dispatcher), a bounded wait. It runs only while the duty gate says
// this replica is the primary past takeover; on stop every loop ends at its next step, and a new
// primary resumes each job from what was committed (a call an earlier primary sent is
// adjudicated, never re-sent).
import type { Cancel } from "../../common/env.js";
import { errorMessage } from "../../common/errors.js";
import type { ControlPlaneContext } from "../context.js";
import { finalJobStates, type FallbackStage } from "../state/commands.js";
import type { JobRecord } from "../state/store.js";
import { NotLeaderError } from "../replication/log.js";
import { PrimaryNotReadyError, type CommandAction } from "./dispatcher.js";
import type { DutyListener } from "./duty-gate.js";
import { DutyTicker } from "./duty-ticker.js";
import { adjudicate, type HostReport } from "./migration-adjudication.js";
import { actOnVerdict, hostReport, migrationWatchIntervalMs, nextMigrationAction, type MigrationAction, type QueryAnswer } from "./migration-planner.js";
import { migrationHosts, sourceProblem, targetProblem } from "./migration-target.js";

/** How often the duty looks for jobs it does not drive yet (new requests, or a new primary's backlog). */
export const migrationTickIntervalMs = 500;
/** Beyond the agent's own bound (timeout_ms), what the primary allows for the result to be committed. */
export const migrationResultMarginMs = 30_000;
/** An adjudication query waits at most this long (and no longer than the recheck interval). */
const queryBoundMaxMs = 10_000;

export type MigrationDutyContext = Pick<ControlPlaneContext, "log" | "reader" | "sessions" | "dispatcher" | "clock" | "timers" | "logger" | "config">;

interface Sleeper {
  resolve(): void;
  cancel: Cancel;
}

export class MigrationDuty implements DutyListener {
  private generation = 0;
  private readonly ticker: DutyTicker;
  /** Jobs a loop of this primary drives. */
  private readonly runners = new Set<string>();
  /** Jobs whose current command this primary sent and still waits for. */
  private readonly awaiting = new Set<string>();
  /** Jobs this primary has sent AbortJob for (a cancel). */
  private readonly abortsSent = new Set<string>();
  private readonly sleepers = new Set<Sleeper>();

  constructor(private readonly context: MigrationDutyContext) {
    this.ticker = new DutyTicker(context.timers, migrationTickIntervalMs, async () => this.tick(this.generation), (error) =>
      context.logger.warn({ err: errorMessage(error) }, "migration duty tick failed; retrying"),
    );
  }

  start(term: number): void {
    this.generation += 1;
    this.context.logger.info({ term }, "migration duty started: resuming every unfinished migration from replicated state");
    this.ticker.start();
  }

  stop(reason: string): void {
    this.generation += 1;
    this.ticker.stop();
    this.runners.clear();
    this.awaiting.clear();
    this.abortsSent.clear();
    this.wakeAll();
    this.context.logger.info({ reason }, "migration duty stopped");
  }

  private tick(generation: number): void {
    for (const job of this.context.reader.activeJobs()) {
      if (job.kind !== "migrate") continue;
      if (job.cancelRequested && job.fallbackStage === "" && job.state === "running" && !this.abortsSent.has(job.id)) this.abort(job, "canceled by an operator");
      if (this.runners.has(job.id)) continue;
      this.runners.add(job.id);
      this.drive(job.id, generation)
        .catch((error: unknown) => this.context.logger.warn({ job: job.id, err: errorMessage(error) }, "migration step failed; the next tick resumes the job"))
        .finally(() => {
          if (generation === this.generation) this.runners.delete(job.id);
        });
    }
  }

  private async drive(jobId: string, generation: number): Promise<void> {
    const { reader, clock, sessions } = this.context;
    for (;;) {
      if (generation !== this.generation) return;
      const job = reader.job(jobId);
      if (job === undefined || finalJobStates.has(job.state)) return;
      const result = job.commandId === "" ? undefined : reader.commandResult(job.commandId);
      const sourceJob = reader.vmJob(job.host, job.id);
      const sourceConnected = sessions.get(job.host) !== undefined;
      const action = nextMigrationAction(job, {
        result,
        sourceStillMigrating: sourceConnected && sourceJob?.state === "running",
        awaitingResult: this.awaiting.has(job.id) && (job.fallbackStage === "start" || sourceConnected),
        nowMs: clock.nowMs(),
      });
      await this.perform(job, action, generation);
    }
  }

  private async perform(job: JobRecord, action: MigrationAction, generation: number): Promise<void> {
    const { log, clock, config } = this.context;
    switch (action.kind) {
      case "wait":
        return this.sleep(action.untilMs - clock.nowMs());
      case "send":
        return this.send(job, action.stage, action.resend);
      case "begin-adjudication":
        this.context.logger.warn({ job: job.id, vm: job.vmUuid }, `migration adjudication: ${action.trigger}`);
        await log.propose({ kind: "MigrationAdjudicating", jobId: job.id, trigger: action.trigger, recheckCount: 0, nextRecheckMs: clock.nowMs(), deadlineMs: clock.nowMs() + config().migrationRecheckTimeoutMs, phase: "adjudicating: asking both hosts" });
        return;
      case "query-both":
        return this.adjudicateOnce(job, generation);
      case "succeed":
        return this.succeed(job, action.detail, action.withStart, null);
      case "end":
        await log.propose({ kind: "MigrationEnded", jobId: job.id, state: action.state, error: action.error });
        return;
    }
  }

  /** Commits (unless re-sending) and sends the command of `stage`; the loop then waits for its result. */
  private async send(job: JobRecord, stage: FallbackStage, resend: boolean, why = ""): Promise<void> {
    const { log, reader, dispatcher, clock, config, logger } = this.context;
    const settings = config();
    const target = reader.host(job.target);
    const destinationUri = target?.migrationUri ?? "";
    let commandId = job.commandId;
    if (!resend) {
      if (stage === "") {
        const problem = this.startProblem(job);
        if (problem !== null) {
          await log.propose({ kind: "MigrationEnded", jobId: job.id, state: "failed", error: `not started: ${problem}` });
          return;
        }
      }
      commandId = dispatcher.newCommandId();
      const boundMs = this.boundOf(stage);
      await log.propose({ kind: "MigrationStep", jobId: job.id, previousCommandId: job.commandId, commandId, phase: why === "" ? this.phaseOf(job, stage) : `${this.phaseOf(job, stage)}; live migration rolled back: ${why}`, deadlineMs: clock.nowMs() + boundMs, mode: stage === "" ? "live" : "shutdown", stage });
      // Lost the compare-and-set (a cancel, or another step): the loop re-reads the job.
      if (reader.job(job.id)?.commandId !== commandId) return;
    }
    const action: CommandAction =
      stage === ""
        ? { migrate: { vmUuid: job.vmUuid, destinationUri, jobId: job.id, live: true, bandwidthMibPerS: settings.migrationBandwidthMibPerS, timeoutMs: settings.migrationTimeoutMs } }
        : stage === "shutdown"
          ? { shutdown: { vmUuid: job.vmUuid, timeoutMs: settings.migrationShutdownTimeoutMs } }
          : stage === "move"
            ? { migrate: { vmUuid: job.vmUuid, destinationUri, jobId: `${job.id}.offline`, live: false, offline: true, timeoutMs: settings.commandTimeoutMs } }
            : { start: { vmUuid: job.vmUuid } };
    const host = stage === "start" ? job.target : job.host;
    this.awaiting.add(job.id);
    logger.info({ job: job.id, vm: job.vmUuid, host, command: commandId, stage: stage || "live" }, resend ? "migration: re-sending the step's command" : "migration: sending the step's command");
    dispatcher
      .send(host, action, this.boundOf(stage), commandId)
      .catch((error: unknown) => {
        if (!(error instanceof PrimaryNotReadyError || error instanceof NotLeaderError)) logger.warn({ job: job.id, host, err: errorMessage(error) }, "migration command not confirmed");
      })
      .finally(() => {
        this.awaiting.delete(job.id);
        this.wakeAll();
      });
    // A command that cannot be delivered fails at once; the next attempt waits (its result ends the wait early).
    await this.sleep(migrationWatchIntervalMs);
  }

  /** Why a pending migration cannot start now (checked again: the request was accepted a while ago), or null. */
  private startProblem(job: JobRecord): string | null {
    const { reader, sessions } = this.context;
    const hosts = migrationHosts(reader.listHosts(), reader.provisionedByHost(), sessions);
    const source = hosts.find((host) => host.id === job.host);
    if (source === undefined) return `source ${job.host} is not known`;
    const problem = sourceProblem(source);
    if (problem !== null) return problem;
    const target = hosts.find((host) => host.id === job.target);
    if (target === undefined) return `target ${job.target} is not known`;
    return targetProblem(target);
  }

  private boundOf(stage: FallbackStage): number {
    const settings = this.context.config();
    if (stage === "") return settings.migrationTimeoutMs + migrationResultMarginMs;
    if (stage === "shutdown") return settings.migrationShutdownTimeoutMs + migrationResultMarginMs;
    return settings.commandTimeoutMs;
  }

  private phaseOf(job: JobRecord, stage: FallbackStage): string {
    switch (stage) {
      case "":
        return `migrating ${job.host} -> ${job.target} (live)`;
      case "shutdown":
        return `shutdown migration: shutting down on ${job.host} (ACPI, destroyed after ${this.context.config().migrationShutdownTimeoutMs / 1000} s)`;
      case "move":
        return `shutdown migration: moving the definition to ${job.target}`;
      case "start":
        return `shutdown migration: starting on ${job.target}`;
    }
  }

  /** One adjudication round: both agents are asked, adjudicate() decides, the verdict is committed. */
  private async adjudicateOnce(job: JobRecord, generation: number): Promise<void> {
    const { log, reader, clock, config, sessions, logger } = this.context;
    const settings = config();
    const [sourceAnswer, destinationAnswer] = await Promise.all([this.query(job.host, job.vmUuid), this.query(job.target, job.vmUuid)]);
    if (generation !== this.generation) return;
    const reports = { source: hostReport(sourceAnswer), destination: hostReport(destinationAnswer) };
    const nowMs = clock.nowMs();
    const verdict = adjudicate({
      ...reports,
      originWasPaused: job.originState === "paused",
      trigger: job.adjudicationTrigger,
      startedAtMs: job.adjudicationStartedMs,
      nowMs,
      recheckIntervalMs: settings.migrationRecheckIntervalMs,
      recheckTimeoutMs: settings.migrationRecheckTimeoutMs,
    });
    const sourceJob = reader.vmJob(job.host, job.id);
    const vm = reader.vmByUuid(job.vmUuid);
    const target = migrationHosts(reader.listHosts(), reader.provisionedByHost(), sessions).find((host) => host.id === job.target);
    const next = actOnVerdict(job, verdict, reports, {
      fallbackAllowed: vm?.migrationFallback ?? false,
      targetProblem: target === undefined ? `target ${job.target} is not known` : targetProblem(target),
      sourceStillMigrating: sessions.get(job.host) !== undefined && sourceJob?.state === "running",
      nowMs,
      recheckIntervalMs: settings.migrationRecheckIntervalMs,
      recheckTimeoutMs: settings.migrationRecheckTimeoutMs,
    });
    logger.info({ job: job.id, vm: vm?.name, verdict: verdict.kind, next: next.kind }, `migration adjudication: ${verdict.detail}`);
    switch (next.kind) {
      case "succeed":
        return this.succeed(job, next.detail, false, reports.destination);
      case "recheck":
        await log.propose({ kind: "MigrationAdjudicating", jobId: job.id, trigger: job.adjudicationTrigger, recheckCount: next.count, nextRecheckMs: next.atMs, deadlineMs: next.deadlineMs, phase: next.phase });
        return;
      case "fallback":
        logger.warn({ job: job.id, vm: vm?.name }, `live migration rolled back (${next.detail}); falling back to a shutdown migration`);
        return this.send({ ...job, state: "running" }, "shutdown", false, next.detail);
      case "end":
        // The source may still be migrating (both alive at the timeout): make sure libvirt stops.
        if (reports.source.known && reports.source.state === "running") this.abort(job, `migration ${next.state}`);
        await log.propose({ kind: "MigrationEnded", jobId: job.id, state: next.state, error: next.error });
        return;
    }
  }

  /** The success path, the same for a normal success and an adjudicated one (DESIGN §8). */
  private async succeed(job: JobRecord, detail: string, withStart: boolean, destination: HostReport | null): Promise<void> {
    const { log, dispatcher } = this.context;
    if (withStart) {
      await log.propose({ kind: "MigrationSucceeded", jobId: job.id, detail, vmState: "shutoff", vmReason: "shutdown migration", startCommandId: dispatcher.newCommandId() });
      return;
    }
    // The VM's state after the move is the destination's report (after-migrate).
    const report = destination ?? hostReport(await this.query(job.target, job.vmUuid));
    const [vmState, vmReason] = report.known && report.state !== "absent" ? [report.state, report.reason] : [job.originState || "running", `migrated from ${job.host} (destination not queried: ${report.known ? report.reason : report.why})`];
    await log.propose({ kind: "MigrationSucceeded", jobId: job.id, detail, vmState, vmReason });
  }

  private async query(hostId: string, vmUuid: string): Promise<QueryAnswer> {
    const { reader, dispatcher, config } = this.context;
    if (reader.host(hostId)?.liveness === "fenced") return { kind: "fenced" };
    try {
      const outcome = await dispatcher.send(hostId, { query: { vmUuid } }, Math.min(queryBoundMaxMs, config().migrationRecheckIntervalMs));
      return { kind: "answered", outcome: outcome.outcome, error: outcome.error, domain: outcome.domain, domainAbsent: outcome.domainAbsent };
    } catch (error) {
      return { kind: "no-answer", why: errorMessage(error) };
    }
  }

  /** AbortJob to the source (best effort: the migration's outcome is adjudicated either way). */
  private abort(job: JobRecord, why: string): void {
    const { dispatcher, config, logger } = this.context;
    this.abortsSent.add(job.id);
    logger.info({ job: job.id, host: job.host }, `migration: asking ${job.host} to abort (${why})`);
    dispatcher.send(job.host, { abortJob: { vmUuid: job.vmUuid, jobId: job.id } }, config().commandTimeoutMs).then(
      (outcome) => logger.info({ job: job.id, outcome: outcome.outcome, err: outcome.error }, "migration abort answered"),
      (error: unknown) => logger.warn({ job: job.id, err: errorMessage(error) }, "migration abort not confirmed"),
    );
  }

  /** A bounded wait that stop() and every command result end early. */
  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const sleeper: Sleeper = { resolve, cancel: () => undefined };
      sleeper.cancel = this.context.timers.after(Math.max(0, ms), () => {
        this.sleepers.delete(sleeper);
        resolve();
      });
      this.sleepers.add(sleeper);
    });
  }

  private wakeAll(): void {
    for (const sleeper of this.sleepers) {
      sleeper.cancel();
      sleeper.resolve();
    }
    this.sleepers.clear();
  }
}
