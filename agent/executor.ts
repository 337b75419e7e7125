// Executes the control plane's fenced commands (DESIGN §4). Admission (term
// check and dedupe) is durable in the journal before anything runs; the result
// goes back through the outbox, so it reaches the control plane even if the
// stream drops right after.
import type { Command__Output } from "../common/generated/vigil/v1/Command.js";
import type { CommandResult } from "../common/generated/vigil/v1/CommandResult.js";
import type { Clock, Timers } from "../common/env.js";
import { errorMessage } from "../common/errors.js";
import type { Logger } from "../common/logging.js";
import { domainStatus } from "./domain-status.js";
import type { DomainInfo, Hypervisor } from "./hypervisor.js";
import type { Journal } from "./journal.js";

export interface ExecutorOptions {
  journal: Journal;
  hypervisor: Hypervisor;
  clock: Clock;
  timers: Timers;
  logger: Logger;
  /** Called after each journaled result, so the stream sends it. */
  onJournaled(): void;
  /** Disk chain sync (disk-sync.ts): SynchronizeDisks only asks it, the report follows as an event. */
  diskSync: { request(vmUuid: string, cause: string): void };
}

class CommandFailed extends Error {}

/** A pending ACPI shutdown that a new state request for the same VM aborts (DESIGN §8). */
interface PendingShutdown {
  abort(reason: string): void;
}

export class CommandExecutor {
  private readonly pendingShutdowns = new Map<string, PendingShutdown>();
  private readonly running = new Set<Promise<void>>();
  private accepting = true;

  constructor(private readonly options: ExecutorOptions) {}

  handle(command: Command__Output): void {
    if (!this.accepting) return;
    const task = this.execute(command).finally(() => this.running.delete(task));
    this.running.add(task);
  }

  /** Stops taking commands and waits, bounded by the caller, for those running. */
  async drain(): Promise<void> {
    this.accepting = false;
    for (const pending of this.pendingShutdowns.values()) pending.abort("the agent is stopping");
    await Promise.allSettled([...this.running]);
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
      if (previous === null) return; // still running: its own result will follow
      return this.report({ ...previous, outcome: "COMMAND_OUTCOME_DUPLICATE" });
    }
    try {
      const domain = await this.run(command);
      log.info({ vm: domain?.name }, "command succeeded");
      this.report({ commandId: command.commandId, term: command.term, outcome: "COMMAND_OUTCOME_SUCCEEDED", error: "", domain: domain === null ? null : domainStatus(domain) });
    } catch (error) {
      log.warn({ err: errorMessage(error) }, "command failed");
      this.report({ commandId: command.commandId, term: command.term, outcome: "COMMAND_OUTCOME_FAILED", error: errorMessage(error) });
    }
  }

  private report(result: CommandResult): void {
    this.options.journal.completeCommand(result, this.options.clock.nowMs());
    this.options.onJournaled();
  }

  private async run(command: Command__Output): Promise<DomainInfo | null> {
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
      case "query":
        return this.requireDomain(command.query!.vmUuid);
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
