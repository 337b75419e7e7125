// Usage: redeliver HOST — sends the last command HOST's agent received onto its stream again (a network
// or relay redelivery): the agent must answer it as a duplicate without running it twice.
import type { Command } from "../../../common/generated/vigil/v1/Command.js";
import { usageError, type SimCommand } from "./sim-command.js";

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
