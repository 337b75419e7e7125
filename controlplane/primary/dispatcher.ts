// Sends fenced commands to agents and waits, with a bound, for their results
// to be committed and applied. Every command carries the current term (the
// fencing token) and a fresh command id the agent dedupes by (DESIGN §4).
import { randomUUID } from "node:crypto";
import type { Command } from "../../common/generated/vigil/v1/Command.js";
import type { DomainStatus__Output } from "../../common/generated/vigil/v1/DomainStatus.js";
import type { Logger } from "../../common/logging.js";
import type { Timers } from "../../common/env.js";
import type { ReplicatedLog } from "../replication/log.js";
import { NotLeaderError } from "../replication/log.js";
import type { SessionRegistry } from "./sessions.js";

export class HostNotConnectedError extends Error {
  override name = "HostNotConnectedError";
}

export class PrimaryNotReadyError extends Error {
  override name = "PrimaryNotReadyError";
}

export class CommandTimeoutError extends Error {
  override name = "CommandTimeoutError";
}

export interface CommandOutcome {
  commandId: string;
  outcome: string;
  error: string;
  /** The domain as the agent reported it with the result (a QueryDomain's answer), or null. */
  domain: DomainStatus__Output | null;
  /** A QueryDomain answered: this hypervisor has no such domain. */
  domainAbsent: boolean;
}

/** A command without its envelope: the dispatcher adds term and command id. */
export type CommandAction = Omit<Command, "term" | "commandId">;

interface Waiter {
  resolve(outcome: CommandOutcome): void;
  cancelTimeout(): void;
}

export interface DispatcherOptions {
  log: ReplicatedLog;
  sessions: SessionRegistry;
  timers: Timers;
  /** Why commands may not be sent now (takeover wait, relinquish), or null when they may. */
  commandBlocker(): string | null;
  logger: Logger;
  /** A fresh command id: randomUUID by default, seeded in simulation. */
  newCommandId?: () => string;
}

export class CommandDispatcher {
  private readonly waiters = new Map<string, Waiter>();

  constructor(private readonly options: DispatcherOptions) {
    options.log.onApplied((notices) => {
      for (const notice of notices) {
        if (notice.kind !== "CommandResult") continue;
        const waiter = this.waiters.get(notice.commandId);
        if (waiter === undefined) continue;
        this.waiters.delete(notice.commandId);
        waiter.cancelTimeout();
        waiter.resolve({ commandId: notice.commandId, outcome: notice.outcome, error: notice.error, domain: notice.domain, domainAbsent: notice.domainAbsent });
      }
    });
  }

  /** A fresh command id, for a caller that records it (skip-trace) before sending. */
  newCommandId(): string {
    return (this.options.newCommandId ?? randomUUID)();
  }

  /**
   * Sends `action` to `hostId`'s agent; resolves with its committed result or rejects within
   * `timeoutMs`. `commandId` is the one the caller already recorded, or a fresh one.
   */
  send(hostId: string, action: CommandAction, timeoutMs: number, givenCommandId?: string): Promise<CommandOutcome> {
    const { log, sessions, timers } = this.options;
    if (!log.isLeader()) return Promise.reject(new NotLeaderError(log.status().leaderAddress));
    const blocker = this.options.commandBlocker();
    if (blocker !== null) return Promise.reject(new PrimaryNotReadyError(blocker));
    const session = sessions.get(hostId);
    if (session === undefined) return Promise.reject(new HostNotConnectedError(`host ${hostId} is not connected`));
    const commandId = givenCommandId ?? this.newCommandId();
    const term = log.currentTerm();
    return new Promise((resolve, reject) => {
      const cancelTimeout = timers.after(timeoutMs, () => {
        this.waiters.delete(commandId);
        reject(new CommandTimeoutError(`host ${hostId} did not report the result of command ${commandId} within ${timeoutMs} ms`));
      });
      this.waiters.set(commandId, { resolve, cancelTimeout });
      this.options.logger.info({ host: hostId, term, command: commandId, action: action.action }, "sending command");
      session.send({ ...action, term, commandId });
    });
  }

  /** Number of commands still waiting for a result (visible in status and tests). */
  inFlight(): number {
    return this.waiters.size;
  }
}
