// Executes the control plane's fenced commands (DESIGN §4). Admission (term
// check and dedupe) is durable in the journal before anything runs; the result
// goes back through the outbox, so it reaches the control plane even if the
// stream drops right after.
import type { Command__Output } from "../common/generated/vigil/v1/Command.js";
import type { CommandResult } from "../common/generated/vigil/v1/CommandResult.js";
import { errorMessage } from "../common/errors.js";
import { within } from "./disk-sync.js";
import { domainStatus } from "./domain-status.js";
import type { DomainInfo } from "./hypervisor.js";
import { MigrationRunner, type MigrationRunnerOptions } from "./migration.js";

/** `onJournaled` runs after each journaled result, so the stream sends it. */
export interface ExecutorOptions extends Pick<MigrationRunnerOptions, "journal" | "hypervisor" | "clock" | "timers" | "logger" | "onJournaled"> {
  /** Disk chain sync (disk-sync.ts): SynchronizeDisks only asks it, the report follows as an event. */
  diskSync: { request(vmUuid: string, cause: string): void };
  /** Migration tuning (progress interval, abort grace, libvirt call bound); defaults in migration.ts. */
  migration?: Pick<MigrationRunnerOptions, "progressIntervalMs" | "abortGraceMs" | "libvirtTimeoutMs">;
}

/** Bound on a QueryDomain's libvirt lookup: "libvirt cannot answer" is a FAILED result, not silence. */
const queryTimeoutMs = 10_000;

class CommandFailed extends Error {}

/** What a command's run reports besides its outcome: the domain afterwards, or that there is none. */
type RunResult = DomainInfo | null | { absent: true };

/** A pending ACPI shutdown that a new state request for the same VM aborts (DESIGN §8). */
interface PendingShutdown {
  abort(reason: string): void;
}

export class CommandExecutor {
  private readonly pendingShutdowns = new Map<string, PendingShutdown>();
  private readonly running = new Set<Promise<void>>();
  /** Command ids executing in this process: a duplicate of one of them waits for its result. */
  private readonly executing = new Set<string>();
  private readonly migrations: MigrationRunner;
  private accepting = true;
  private closed = false;

  constructor(private readonly options: ExecutorOptions) {
    this.migrations = new MigrationRunner({ ...options, ...options.migration });
  }

  /**
   * Every command runs as its own task, so a long one (a migration) never delays the others. A
   * migration's task is not awaited by drain(): it belongs to libvirt (migration.ts).
   */
  handle(command: Command__Output): void {
    if (!this.accepting) return;
    const task = this.execute(command).catch((error: unknown) => this.options.logger.error({ command: command.commandId, err: errorMessage(error) }, "executing a command failed"));
    if (command.action === "migrate") return;
    const tracked = task.finally(() => this.running.delete(tracked));
    this.running.add(tracked);
  }

  /** Whether a migration this executor started is still being watched (recovery's scans leave it alone). */
  ownsJob(jobId: string): boolean {
    return this.migrations.owns(jobId);
  }

  /**
   * Stops taking commands and waits, bounded by the caller, for those running; running migrations
   * are left to libvirt and, after a restart, to recovery (their result is not journaled any more).
   */
  async drain(): Promise<void> {
    this.accepting = false;
    this.migrations.stop();
    for (const pending of this.pendingShutdowns.values()) pending.abort("the agent is stopping");
    await Promise.allSettled([...this.running]);
    this.closed = true;
  }

  private async execute(command: Command__Output): Promise<void> {
    const { journal, clock, logger } = this.options;
    const log = logger.child({ command: command.commandId, term: command.term, action: command.action });
    const admission = journal.admitCommand(command.commandId, command.term, clock.nowMs());
    if (admission.kind === "stale") {
      log.warn({ highestTerm: admission.highestTerm }, "refused a command from a stale term");
      return this.report({ commandId: command.commandId, term: command.term, outcome: "COMMAND_OUTCOME_REFUSED_STALE_TERM", error: `term ${command.term} is below the highest term seen, ${admission.highestTerm}` });
    }
    if (admission.kind === "duplicate") {
      log.info("command already executed; not running it again");
      const previous = admission.previousResult;
      if (previous !== null) return this.report({ ...previous, outcome: "COMMAND_OUTCOME_DUPLICATE" });
      if (this.executing.has(command.commandId)) return; // still running: its one result answers both
      // Admitted before an agent restart and never finished: at most once means not again, and the
      // control plane must not wait for a result that will never come.
      log.warn("command was interrupted by an agent restart; not running it again");
      return this.report({ commandId: command.commandId, term: command.term, outcome: "COMMAND_OUTCOME_FAILED", error: "the agent restarted while running this command: its outcome is unknown and it was not run again" });
    }
    this.executing.add(command.commandId);
    const base = { commandId: command.commandId, term: command.term };
    try {
      if (command.action === "migrate") {
        await this.migrations.migrate(command, ({ failed, ...fields }) => {
          if (failed) log.warn({ err: fields.error }, "migration failed");
          else log.info("migration succeeded");
          this.report({ ...base, outcome: failed ? "COMMAND_OUTCOME_FAILED" : "COMMAND_OUTCOME_SUCCEEDED", ...fields });
        });
        return;
      }
      const ran = await this.run(command);
      const fields = ran === null ? {} : "absent" in ran ? { domainAbsent: true } : { domain: domainStatus(ran) };
      log.info({ vm: ran !== null && "name" in ran ? ran.name : undefined, absent: ran !== null && "absent" in ran }, "command succeeded");
      this.report({ ...base, outcome: "COMMAND_OUTCOME_SUCCEEDED", error: "", ...fields });
    } catch (error) {
      log.warn({ err: errorMessage(error) }, "command failed");
      this.report({ ...base, outcome: "COMMAND_OUTCOME_FAILED", error: errorMessage(error) });
    } finally {
      this.executing.delete(command.commandId);
    }
  }

  private report(result: CommandResult): void {
    if (this.closed) {
      // After drain the journal may be closed: the command stays admitted without a result, which
      // a redelivery after the restart answers (see execute).
      this.options.logger.info({ command: result.commandId }, "result after the executor stopped: not journaled");
      return;
    }
    this.options.journal.completeCommand(result, this.options.clock.nowMs());
    this.options.onJournaled();
  }

  private async run(command: Command__Output): Promise<RunResult> {
    const { hypervisor } = this.options;
    switch (command.action) {
      case "start": {
        const uuid = command.start!.vmUuid;
        // A start that aborts a pending shutdown finds the guest still running: that is the
        // state it asked for (DESIGN §8), not an error.
        if (this.abortShutdown(uuid)) {
          const domain = await hypervisor.lookupDomain(uuid);
          if (domain !== null && domain.state === "running") return domain;
        }
        return hypervisor.startDomain(uuid);
      }
      case "destroy":
        this.abortShutdown(command.destroy!.vmUuid);
        return hypervisor.destroyDomain(command.destroy!.vmUuid);
      case "suspend":
        this.abortShutdown(command.suspend!.vmUuid);
        return hypervisor.suspendDomain(command.suspend!.vmUuid);
      case "resume":
        this.abortShutdown(command.resume!.vmUuid);
        return hypervisor.resumeDomain(command.resume!.vmUuid);
      case "shutdown":
        return this.shutdownWithTimeout(command.shutdown!.vmUuid, command.shutdown!.timeoutMs);
      case "query": {
        // From libvirt now, never a cache; no such domain here is an answer, not a failure.
        const uuid = command.query!.vmUuid;
        if (uuid === "") throw new CommandFailed("query.vm_uuid is required");
        const domain = await within(hypervisor.lookupDomain(uuid), queryTimeoutMs, this.options.timers, "libvirt");
        return domain ?? { absent: true };
      }
      case "abortJob":
        return this.migrations.abort(command.abortJob!.vmUuid, command.abortJob!.jobId);
      case "synchronizeDisks":
        // Never waits for libvirt or storage: the sync retries in the background and its
        // DiskChainReport (pending, then synced) follows through the outbox (DESIGN §9).
        this.options.diskSync.request(command.synchronizeDisks!.vmUuid, "command");
        return null;
      default:
        throw new CommandFailed(`command ${command.action ?? "(none)"} is not supported by this agent version`);
    }
  }

  private async requireDomain(uuid: string): Promise<DomainInfo> {
    const domain = await this.options.hypervisor.lookupDomain(uuid);
    if (domain === null) throw new CommandFailed(`domain ${uuid} is not defined on this host`);
    return domain;
  }

  /** Aborts a pending shutdown of `uuid`; true when there was one. */
  private abortShutdown(uuid: string): boolean {
    const pending = this.pendingShutdowns.get(uuid);
    pending?.abort("aborted by a new state request");
    return pending !== undefined;
  }

  /** ACPI shutdown, then a forced destroy at the timeout; resolves with the final domain state. */
  private async shutdownWithTimeout(uuid: string, timeoutMs: number): Promise<DomainInfo> {
    const { hypervisor, timers } = this.options;
    this.abortShutdown(uuid);
    const stopped = new Promise<"stopped" | "timeout" | { aborted: string }>((resolve) => {
      const unsubscribe = hypervisor.onLifecycle((event) => {
        if (event.uuid === uuid && event.event === "stopped") finish("stopped");
      });
      const cancelTimer = timers.after(timeoutMs, () => finish("timeout"));
      const finish = (outcome: "stopped" | "timeout" | { aborted: string }) => {
        unsubscribe();
        cancelTimer();
        this.pendingShutdowns.delete(uuid);
        resolve(outcome);
      };
      this.pendingShutdowns.set(uuid, { abort: (reason) => finish({ aborted: reason }) });
    });
    try {
      await hypervisor.shutdownDomain(uuid);
    } catch (error) {
      this.abortShutdown(uuid);
      throw error;
    }
    const outcome = await stopped;
    if (typeof outcome === "object") throw new CommandFailed(`shutdown ${outcome.aborted}`);
    if (outcome === "timeout") {
      this.options.logger.warn({ vm: uuid, timeoutMs }, "shutdown timed out; destroying");
      return hypervisor.destroyDomain(uuid);
    }
    return this.requireDomain(uuid);
  }
}
