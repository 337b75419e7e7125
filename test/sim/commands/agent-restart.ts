// Usage: agent-restart HOST — start the host's vigil-agent, killing a running one first (kill -9, start).
import { journalState } from "./journal-state.js";
import { usageError, type SimCommand } from "./sim-command.js";

export const agentRestart: SimCommand = {
  name: "agent-restart",
  usage: "agent-restart HOST",
  run(world, args) {
    if (args.length !== 1) throw usageError(this, "name one host");
    const agent = world.requireAgent(args[0]!);
    if (agent.slot.isAlive()) {
      world.trace.line("sim", `kill -9 the agent of ${agent.hostId} (${journalState(agent)})`);
      world.killAgent(agent.hostId);
    }
    if (!agent.host.powered) {
      world.trace.line("sim", `cannot start the agent of ${agent.hostId}: the host is powered off`);
      return;
    }
    world.trace.line("sim", `start the agent of ${agent.hostId}`);
    world.startAgent(agent.hostId);
  },
};
