// Usage: agent-stop HOST — SIGTERM the host's vigil-agent: it drains commands, stops events, the keepalive last.
import { usageError, type SimCommand } from "./sim-command.js";

export const agentStop: SimCommand = {
  name: "agent-stop",
  usage: "agent-stop HOST",
  async run(world, args) {
    if (args.length !== 1) throw usageError(this, "name one host");
    world.requireAgent(args[0]!);
    world.trace.line("sim", `SIGTERM the agent of ${args[0]}`);
    await world.stopAgent(args[0]!);
  },
};
