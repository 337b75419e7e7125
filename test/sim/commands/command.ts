// Usage: command HOST ACTION VM term N|current|stale [id ID] — writes a fenced command straight onto
// HOST's agent stream, bypassing the dispatcher: what a deposed primary's late command looks like to
// the agent. `current` is the agent's highest term seen, `stale` one below it.
import type { Command } from "../../../common/generated/vigil/v1/Command.js";
import { uuidOf } from "../hypervisor.js";
import { usageError, type SimCommand } from "./sim-command.js";

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
