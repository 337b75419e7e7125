// Sends a VM operation whose skip-trace entry is already committed (DESIGN §7), and ends the entry
// when the command cannot have reached the agent. The agent's committed result ends it otherwise
// (continue-trace in apply.ts). A result that does not come in time leaves the entry orphaned:
// the agent may still execute the command, so the VM stays skip-traced until the result arrives
// or vm.orphanedSkipTimeout passes.
import { errorMessage } from "../../common/errors.js";
import type { Logger } from "../../common/logging.js";
import { NotLeaderError, type ReplicatedLog } from "../replication/log.js";
import { CommandTimeoutError, HostNotConnectedError, PrimaryNotReadyError, type CommandAction, type CommandDispatcher, type CommandOutcome } from "./dispatcher.js";

export interface TracedCommand {
  vmUuid: string;
  host: string;
  action: CommandAction;
  timeoutMs: number;
  /** The id recorded in the skip-trace entry. */
  commandId: string;
}

export async function sendTraced(
  parts: { log: ReplicatedLog; dispatcher: CommandDispatcher; logger: Logger },
  command: TracedCommand,
): Promise<CommandOutcome> {
  const { log, dispatcher, logger } = parts;
  try {
    return await dispatcher.send(command.host, command.action, command.timeoutMs, command.commandId);
  } catch (error) {
    const undelivered = error instanceof HostNotConnectedError || error instanceof PrimaryNotReadyError || error instanceof NotLeaderError;
    const ending = undelivered
      ? { kind: "SkipTraceClear" as const, vmUuid: command.vmUuid, commandId: command.commandId, reason: `the command was not sent: ${errorMessage(error)}` }
      : error instanceof CommandTimeoutError
        ? { kind: "SkipTraceOrphan" as const, vmUuid: command.vmUuid, commandId: command.commandId, reason: `no result within ${command.timeoutMs} ms` }
        : null;
    if (ending !== null && log.isLeader()) {
      log.propose(ending).catch((proposeError: unknown) => logger.warn({ vm: command.vmUuid, err: errorMessage(proposeError) }, "could not end a skip-trace entry; the next primary orphans it"));
    }
    throw error;
  }
}
