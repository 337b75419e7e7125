// The primary duty around job-watch.ts: while duties run it polls the replicated jobs, decides,
// and performs the effects (proposals through the log, SynchronizeDisks through the dispatcher).
// Stops with the duties; its memory (what was sent when) is per primary term.
import type { Cancel, Clock, Timers } from "../../common/env.js";
import { errorMessage } from "../../common/errors.js";
import type { Logger } from "../../common/logging.js";
import type { ReplicatedLog } from "../replication/log.js";
import type { StateReader, VmDiskSyncRecord } from "../state/store.js";
import type { CommandDispatcher } from "./dispatcher.js";
import type { DutyGate } from "./duty-gate.js";
import { decideJobWatch, initialJobWatchState, type JobWatchEffect, type JobWatchState } from "./job-watch.js";
import type { SessionRegistry } from "./sessions.js";

export interface JobDutyOptions {
  log: ReplicatedLog;
  reader: StateReader;
  sessions: SessionRegistry;
  dispatcher: CommandDispatcher;
  duties: DutyGate;
  clock: Clock;
  timers: Timers;
  logger: Logger;
  unknownTimeoutMs(): number;
  commandTimeoutMs(): number;
}

/** How often the duty looks at the jobs: the bound on how late a sync or an escalation starts. */
export const jobDutyPollIntervalMs = 1_000;

export class JobDuty {
  private state: JobWatchState = initialJobWatchState();
  private cancelPoll: Cancel | null = null;
  private running = false;

  constructor(private readonly options: JobDutyOptions) {}

  /** Subscribes to the duty gate; returns the unsubscribe. */
  attach(): () => void {
    return this.options.duties.subscribe({
      start: () => {
        this.running = true;
        this.state = initialJobWatchState();
        this.schedule();
      },
      stop: () => {
        this.running = false;
        this.cancelPoll?.();
        this.cancelPoll = null;
      },
    });
  }

  private schedule(): void {
    this.cancelPoll = this.options.timers.after(jobDutyPollIntervalMs, () => {
      if (!this.running) return;
      this.poll();
      this.schedule();
    });
  }

  private poll(): void {
    const { reader, sessions, clock } = this.options;
    const jobs = reader.unresolvedJobs();
    if (jobs.length === 0) return;
    const owners = new Map<string, string | null>();
    const diskSyncs = new Map<string, VmDiskSyncRecord>();
    for (const job of jobs) {
      owners.set(job.vmUuid, reader.vmByUuid(job.vmUuid)?.host ?? null);
      const sync = reader.vmDiskSync(job.vmUuid);
      if (sync !== undefined) diskSyncs.set(job.vmUuid, sync);
    }
    const connectedHosts = new Set(sessions.all().map((session) => session.hostId));
    const decision = decideJobWatch(this.state, { jobs, owners, diskSyncs, connectedHosts, unknownTimeoutMs: this.options.unknownTimeoutMs() }, clock.nowMs());
    this.state = decision.state;
    for (const effect of decision.effects) this.perform(effect);
  }

  private perform(effect: JobWatchEffect): void {
    const { log, dispatcher, logger } = this.options;
    const failed = (error: unknown) => logger.warn({ job: effect.jobId, host: effect.jobHost, err: errorMessage(error) }, `job duty: ${effect.kind} failed; retried later`);
    switch (effect.kind) {
      case "propose-sync-request":
        log.propose({ kind: "DiskSyncRequested", vmUuid: effect.vmUuid, hostId: effect.hostId, jobHost: effect.jobHost, jobId: effect.jobId }).catch(failed);
        return;
      case "send-sync":
        logger.info({ vm: effect.vmUuid, host: effect.hostId, job: effect.jobId }, "asking the host the VM moved to to synchronize its disks");
        dispatcher.send(effect.hostId, { synchronizeDisks: { vmUuid: effect.vmUuid } }, this.options.commandTimeoutMs()).catch(failed);
        return;
      case "escalate":
        log.propose({ kind: "JobEscalated", jobHost: effect.jobHost, jobId: effect.jobId, unknownForMs: effect.unknownForMs }).catch(failed);
        return;
    }
  }
}
