// Usage: agent-kill HOST — kill -9 the host's vigil-agent; its journal stays on disk, its guests run on.
import { journalState } from "./journal-state.js";
import { usageError, type SimCommand } from "./sim-command.js";

export const agentKill: SimCommand = {
  name: "agent-kill",
  usage: "agent-kill HOST",
  run(world, args) {
    if (args.length !== 1) throw usageError(this, "name one host");
    world.trace.line("sim", `kill -9 the agent of ${args[0]} (${journalState(world.requireAgent(args[0]!))})`);
    world.killAgent(args[0]!);
  },
};
