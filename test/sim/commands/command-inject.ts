// Usage: command HOST ACTION VM term N|current|stale [id ID] | redeliver HOST
// Writes a fenced command straight onto HOST's agent stream, bypassing the dispatcher: what a deposed
// primary's late command or a network redelivery looks like to the agent. `current` is the agent's
// highest term seen, `stale` one below it. `redeliver` sends the last command the agent received again.
import type { Command } from "../../../common/generated/vigil/v1/Command.js";
import { uuidOf } from "../hypervisor.js";
import { usageError, type SimCommand } from "./command.js";

const actions = ["start", "shutdown", "destroy", "suspend", "resume", "query"] as const;
type Action = (typeof actions)[number];

export const command: SimCommand = {
  name: "command",
  usage: "command HOST start|shutdown|destroy|suspend|resume|query VM term N|current|stale [id ID]",
  run(world, args) {
    const [hostId, action, vmName, termWord, termText, idWord, idText] = args;
    if (hostId === undefined || vmName === undefined || termWord !== "term" || termText === undefined) throw usageError(this, "name a host, an action, a VM and a term");
    if (!(actions as readonly (string | undefined)[]).includes(action)) throw usageError(this, `action must be one of ${actions.join(", ")}`);
    if (idWord !== undefined && (idWord !== "id" || idText === undefined)) throw usageError(this, "id needs a value");
    const agent = world.requireAgent(hostId);
    const highest = agent.journalFacts().highestTerm;
    const term = termText === "current" ? highest : termText === "stale" ? highest - 1 : Number(termText);
    if (!Number.isInteger(term) || term < 0) throw usageError(this, `bad term ${termText}`);
    const commandId = idText ?? world.injectedCommandId();
    const vmUuid = uuidOf(vmName);
    const body = action === "shutdown" ? { vmUuid, timeoutMs: 10_000 } : { vmUuid };
    const message: Command = { term, commandId, [action as Action]: body };
    const delivered = world.injectCommand(hostId, message);
    world.trace.line("sim", `${delivered ? "deliver" : "cannot deliver (no open stream)"} command ${action} ${vmName} term ${term} id ${commandId} to ${hostId}`);
  },
};

export const redeliver: SimCommand = {
  name: "redeliver",
  usage: "redeliver HOST",
  run(world, args) {
    if (args.length !== 1) throw usageError(this, "name one host");
    const agent = world.requireAgent(args[0]!);
    const last = agent.lastCommand;
    if (last === null || last.action === undefined) throw usageError(this, `${args[0]} has not received a command yet`);
    const message: Command = { term: last.term, commandId: last.commandId, [last.action]: last[last.action] };
    const delivered = world.injectCommand(agent.hostId, message);
    world.trace.line("sim", `${delivered ? "redeliver" : "cannot redeliver (no open stream)"} command ${last.commandId} (${last.action}, term ${last.term}) to ${agent.hostId}`);
  },
};
