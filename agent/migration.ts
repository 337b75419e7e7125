// The agent's side of MigrateDomain and AbortJob (DESIGN §8, issue 8's contract).
//
// 1. A migration runs beside other commands: the executor does not wait for it, so a QueryDomain
//    (of the same VM too) is answered while it runs. One migration per VM at a time: the journal's
//    unresolved job on the VM (disk "") refuses a second.
// 2. Order of what the control plane sees: JobStarted (with the command id) once the job is
//    journaled, JobProgress about every `progressIntervalMs` while libvirt's numbers change, then
//    the CommandResult, then JobFinished once libvirt's call returned.
// 3. Bounded: at `timeout_ms` the agent asks libvirt to abort (virDomainAbortJob) and reports the
//    command FAILED "migration timed out after N ms (abort requested)" as soon as the call returns
//    or `abortGraceMs` later, whichever comes first. A koffi call in the blocking pool cannot be
//    cancelled and libvirt 9.0 can leave an aborted peer-to-peer migration hanging: the result is
//    reported anyway, and JobFinished follows when (if) the call returns, or from recovery.
// 4. Stopping the agent does not abort a migration (it is libvirt's): the journaled job stays
//    running and recovery after the restart reconciles it (job-tracker.ts, recovery/reconcile.ts).
import type { Command__Output } from "../common/generated/vigil/v1/Command.js";
import type { CommandResult } from "../common/generated/vigil/v1/CommandResult.js";
import type { Cancel, Clock, Timers } from "../common/env.js";
import { errorMessage } from "../common/errors.js";
import type { Logger } from "../common/logging.js";
import { within } from "./disk-sync.js";
import { domainStatus } from "./domain-status.js";
import type { DomainInfo, DomainJob, Hypervisor, MigrationOptions } from "./hypervisor.js";
import type { EventBody, JobOutcome, JobRecord, Journal } from "./journal.js";

export interface MigrationRunnerOptions {
  journal: Journal;
  hypervisor: Hypervisor;
  clock: Clock;
  timers: Timers;
  logger: Logger;
  onJournaled(): void;
  /** Between job-stats reads while a migration runs (JobProgress when they changed). Default 1000. */
  progressIntervalMs?: number;
  /** After a timeout's abort request, how long to wait for libvirt's call before reporting anyway. Default 10 000. */
  abortGraceMs?: number;
  /** Bound on each short libvirt call (lookups, job stats, virDomainAbortJob). Default 10 000. */
  libvirtTimeoutMs?: number;
}

export const defaultMigrationTimeoutMs = 600_000;
export const defaultProgressIntervalMs = 1_000;
const defaultAbortGraceMs = 10_000;
const defaultLibvirtTimeoutMs = 10_000;

/** A command that cannot run as asked; its message is the command's error. */
export class MigrationRefused extends Error {}

/** The text of a migration that ran past its bound (the control plane may match its start). */
export function migrationTimedOutText(timeoutMs: number): string {
  return `migration timed out after ${timeoutMs} ms (abort requested)`;
}

type CallOutcome = { kind: "returned" } | { kind: "failed"; error: string };

interface ActiveMigration {
  job: JobRecord;
  /** Why an abort was asked for ("timeout", "AbortJob command"), null when none was. */
  abortReason: string | null;
  /** virDomainAbortJob in flight (it can hang on libvirt 9.0): never a second one beside it. */
  aborting: Promise<void> | null;
  /** Settles when libvirt's migrate call returns (never rejects). */
  call: Promise<CallOutcome>;
}

/** The result fields a migration command reports (the executor adds command id, term, outcome). */
export type MigrationReport = Pick<CommandResult, "error" | "domain" | "domainAbsent"> & { failed: boolean };

export class MigrationRunner {
  private readonly active = new Map<string, ActiveMigration>();
  private readonly cancels = new Set<Cancel>();
  private stopped = false;

  constructor(private readonly options: MigrationRunnerOptions) {}

  /** Whether this runner is watching `jobId` (recovery's scans leave it alone then). */
  owns(jobId: string): boolean {
    for (const migration of this.active.values()) if (migration.job.jobId === jobId) return true;
    return false;
  }

  /** Migrations whose libvirt call has not returned yet. */
  runningCount(): number {
    return this.active.size;
  }

  /**
   * Runs a MigrateDomain command: `report` gets its result (see the file comment for when); throws
   * MigrationRefused (or a libvirt error) when it did not start, before anything is journaled.
   */
  async migrate(command: Command__Output, report: (result: MigrationReport) => void): Promise<void> {
    const request = command.migrate!;
    const { journal, hypervisor, clock, logger } = this.options;
    if (request.vmUuid === "") throw new MigrationRefused("migrate.vm_uuid is required");
    if (request.destinationUri === "") throw new MigrationRefused("migrate.destination_uri is required");
    const domain = await this.call(hypervisor.lookupDomain(request.vmUuid));
    if (domain === null) throw new MigrationRefused(`domain ${request.vmUuid} is not defined on this host`);
    if (request.offline && (domain.state !== "shutoff" || !domain.persistent)) {
      throw new MigrationRefused(`an offline migration moves a shut-off persistent domain; ${domain.name} is ${domain.state}${domain.persistent ? "" : " and transient"}`);
    }
    const job = journal.beginJob(
      { vmUuid: domain.uuid, kind: "migrate-out", disk: "", chainBefore: [], top: "", target: request.destinationUri, commandId: command.commandId, jobId: request.jobId },
      clock.nowMs(),
    );
    if (job === null) {
      const holder = journal.unresolvedJobOn(domain.uuid, "");
      throw new MigrationRefused(`${domain.name} already has a migration running (job ${holder?.jobId ?? "?"})`);
    }
    this.options.onJournaled();
    const timeoutMs = request.timeoutMs > 0 ? request.timeoutMs : defaultMigrationTimeoutMs;
    const options = migrationOptions(request);
    const log = logger.child({ vm: domain.name, job: job.jobId, destination: request.destinationUri });
    log.info({ offline: request.offline, bandwidthMiBPerSecond: request.bandwidthMibPerS, timeoutMs, unsafe: request.unsafe }, "migration started");
    const startedMs = clock.monotonicMs();
    const call: Promise<CallOutcome> = hypervisor.migrateDomain(domain.uuid, options).then(
      (): CallOutcome => ({ kind: "returned" }),
      (error: unknown): CallOutcome => ({ kind: "failed", error: errorMessage(error) }),
    );
    const migration: ActiveMigration = { job, abortReason: null, aborting: null, call };
    this.active.set(domain.uuid, migration);
    const stopProgress = this.watchProgress(migration);
    void call.then((outcome) => {
      stopProgress();
      if (this.active.get(domain.uuid) === migration) this.active.delete(domain.uuid);
      const tookMs = Math.round(clock.monotonicMs() - startedMs);
      if (outcome.kind === "returned") log.info({ tookMs }, "migration call returned: done");
      else log.warn({ tookMs, err: outcome.error, abortReason: migration.abortReason }, "migration call failed");
    });

    const ended = await this.untilReturnedOrTimedOut(migration, timeoutMs, log);
    if (ended !== "timed-out" && ended.kind === "returned") await this.journalCompletedProgress(job, log);
    const after = await this.call(hypervisor.lookupDomain(domain.uuid)).then(
      (found) => ({ domain: found }),
      (error: unknown) => ({ domain: undefined, error: errorMessage(error) }),
    );
    const view: Partial<Pick<MigrationReport, "domain" | "domainAbsent">> = after.domain === undefined ? {} : after.domain === null ? { domainAbsent: true } : { domain: domainStatus(after.domain) };
    if (ended === "timed-out") report({ failed: true, error: migrationTimedOutText(timeoutMs), ...view });
    else if (ended.kind === "returned") report({ failed: false, error: "", ...view });
    else report({ failed: true, error: ended.error, ...view });

    // JobFinished after the result, once libvirt's call returned (maybe long after a timeout).
    void call.then((outcome) => {
      if (this.stopped) return;
      const end = jobEnd(outcome, migration.abortReason);
      if (journal.finishJob(job.jobId, end, clock.nowMs(), false)) this.options.onJournaled();
    });
  }

  /**
   * AbortJob: virDomainAbortJob when a migration of `vmUuid` (with `jobId`, when given) runs here,
   * also one recovery re-adopted. Throws MigrationRefused "no such job" otherwise.
   */
  async abort(vmUuid: string, jobId: string): Promise<DomainInfo | null> {
    if (vmUuid === "") throw new MigrationRefused("abort_job.vm_uuid is required");
    const { journal, hypervisor, logger } = this.options;
    const migration = this.active.get(vmUuid) ?? this.findActive(vmUuid);
    const job = migration?.job ?? journal.unresolvedJobOn(vmUuid, "");
    const matches = job !== null && job.kind === "migrate-out" && (jobId === "" || job.jobId === jobId || job.jobId.startsWith(`${jobId}.`));
    if (!matches) throw new MigrationRefused(jobId === "" ? `no such job: no migration of ${vmUuid} runs on this host` : `no such job: ${jobId} does not run on this host`);
    logger.info({ vm: vmUuid, job: job.jobId }, "aborting the migration");
    if (migration === undefined) await this.call(hypervisor.abortJob(job.vmUuid));
    else await this.call(this.requestAbort(migration, "AbortJob command"));
    return this.call(hypervisor.lookupDomain(vmUuid));
  }

  /** virDomainAbortJob for `migration`, or the one already in flight (unbounded: callers bound their wait). */
  private requestAbort(migration: ActiveMigration, reason: string): Promise<void> {
    migration.abortReason ??= reason;
    if (migration.aborting === null) {
      const aborting = this.options.hypervisor.abortJob(migration.job.vmUuid);
      migration.aborting = aborting;
      void aborting.then(
        () => (migration.aborting = null),
        () => (migration.aborting = null),
      );
    }
    return migration.aborting;
  }

  /** Stops progress reads and journaling; migrations go on in libvirt (recovery takes them up). */
  stop(): void {
    this.stopped = true;
    for (const cancel of this.cancels) cancel();
    this.cancels.clear();
  }

  private findActive(vmUuid: string): ActiveMigration | undefined {
    const wanted = vmUuid.toLowerCase();
    for (const [uuid, migration] of this.active) if (uuid.toLowerCase() === wanted || migration.job.vmUuid.toLowerCase() === wanted) return migration;
    return undefined;
  }

  private call<T>(promise: Promise<T>): Promise<T> {
    return within(promise, this.options.libvirtTimeoutMs ?? defaultLibvirtTimeoutMs, this.options.timers, "libvirt");
  }

  private after(delayMs: number, callback: () => void): Cancel {
    const cancel = this.options.timers.after(delayMs, () => {
      this.cancels.delete(cancel);
      callback();
    });
    this.cancels.add(cancel);
    return () => {
      this.cancels.delete(cancel);
      cancel();
    };
  }

  /** The call's outcome, or "timed-out" once the abort's grace after `timeoutMs` ran out. */
  private untilReturnedOrTimedOut(migration: ActiveMigration, timeoutMs: number, log: Logger): Promise<CallOutcome | "timed-out"> {
    return new Promise((resolve) => {
      let cancelGrace: Cancel = () => undefined;
      const cancelTimeout = this.after(timeoutMs, () => {
        log.warn({ timeoutMs }, "migration timed out: asking libvirt to abort it");
        this.call(this.requestAbort(migration, "timeout")).catch((error: unknown) => log.warn({ err: errorMessage(error) }, "virDomainAbortJob after the timeout failed"));
        cancelGrace = this.after(this.options.abortGraceMs ?? defaultAbortGraceMs, () => {
          log.warn("libvirt's migrate call has not returned after the abort; reporting the timeout anyway");
          resolve("timed-out");
        });
      });
      void migration.call.then((outcome) => {
        cancelTimeout();
        cancelGrace();
        // A call that fails after the timeout's abort is the timeout's doing: report it as such.
        resolve(outcome.kind === "failed" && migration.abortReason === "timeout" ? "timed-out" : outcome);
      });
    });
  }

  /**
   * The finished migration's own figures (VIR_DOMAIN_JOB_STATS_COMPLETED): its measured downtime and
   * data moved. A short migration ends before the first progress read, so without this the control
   * plane would show no data and 0 ms downtime. Best effort, bounded: the result does not wait on it.
   */
  private async journalCompletedProgress(job: JobRecord, log: Logger): Promise<void> {
    const { journal, hypervisor, clock } = this.options;
    try {
      const progress = progressOf(job, await this.call(hypervisor.getJobStats(job.vmUuid, { completed: true })));
      if (progress === null || this.stopped) return;
      journal.append({ jobProgress: progress }, clock.nowMs());
      this.options.onJournaled();
    } catch (error) {
      log.debug({ err: errorMessage(error) }, "the completed migration's statistics were not read");
    }
  }

  /** Reads job stats every interval (one read at a time) and journals JobProgress when they changed. */
  private watchProgress(migration: ActiveMigration): () => void {
    const { journal, hypervisor, clock, logger } = this.options;
    const intervalMs = this.options.progressIntervalMs ?? defaultProgressIntervalMs;
    let done = false;
    let last = "";
    let cancelNext: Cancel = () => undefined;
    // A read libvirt has not answered still holds a blocking-pool worker: no second one beside it.
    let reading: Promise<unknown> | null = null;
    const tick = async () => {
      if (done || this.stopped) return;
      try {
        if (reading !== null) throw new Error("the previous job-stats read has not returned");
        const read = hypervisor.getJobStats(migration.job.vmUuid);
        reading = read;
        void read.then(
          () => (reading = null),
          () => (reading = null),
        );
        const stats = await this.call(read);
        const progress = progressOf(migration.job, stats);
        const key = progress === null ? "" : JSON.stringify(progress);
        if (!done && !this.stopped && progress !== null && key !== last) {
          last = key;
          journal.append({ jobProgress: progress }, clock.nowMs());
          this.options.onJournaled();
        }
      } catch (error) {
        logger.debug({ vm: migration.job.vmUuid, err: errorMessage(error) }, "job stats not read");
      }
      if (!done && !this.stopped) cancelNext = this.after(intervalMs, () => void tick());
    };
    cancelNext = this.after(intervalMs, () => void tick());
    return () => {
      done = true;
      cancelNext();
    };
  }
}

/** libvirt options for a MigrateDomain command (the contract's flags). */
export function migrationOptions(request: NonNullable<Command__Output["migrate"]>): MigrationOptions {
  const bandwidth = Number(request.bandwidthMibPerS);
  return {
    destinationUri: request.destinationUri,
    live: !request.offline,
    offline: request.offline,
    peerToPeer: true,
    persistOnDestination: true,
    // The source keeps its definition: HA may restart the VM there later.
    undefineSource: false,
    unsafe: request.unsafe,
    ...(bandwidth > 0 && !request.offline ? { bandwidthMiBPerSecond: bandwidth } : {}),
  };
}

function progressOf(job: JobRecord, stats: DomainJob): NonNullable<EventBody["jobProgress"]> | null {
  // Before data moves (the setup phase) libvirt reports zeros: nothing to tell yet.
  if (stats.type === "none" || !stats.dataTotalBytes) return null;
  return {
    jobId: job.jobId,
    vmUuid: job.vmUuid,
    kind: job.kind,
    processedBytes: stats.dataProcessedBytes ?? 0,
    remainingBytes: stats.dataRemainingBytes ?? 0,
    totalBytes: stats.dataTotalBytes ?? 0,
    downtimeMs: stats.downtimeMs ?? 0,
  };
}

function jobEnd(outcome: CallOutcome, abortReason: string | null): { outcome: JobOutcome; detail: string } {
  if (outcome.kind === "returned") return { outcome: "completed", detail: "" };
  if (abortReason !== null) return { outcome: "aborted", detail: `${abortReason === "timeout" ? "timed out" : `aborted by ${abortReason}`}: ${outcome.error}` };
  return { outcome: "failed", detail: outcome.error };
}
