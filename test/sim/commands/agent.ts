// Usage: agent-kill HOST | agent-restart HOST | agent-stop HOST — the host's vigil-agent process:
// kill -9 (the journal stays on disk), start (killing a running one first), or SIGTERM.
import type { AgentNode } from "../agent-node.js";
import { usageError, type SimCommand } from "./command.js";

/** What the journal holds at the moment of a kill: how much is journaled and how much acknowledged. */
function journalState(agent: AgentNode): string {
  const journal = agent.journalFacts();
  return `journal seq ${journal.lastSeq}, acked ${journal.lastAckedSeq}`;
}

export const agentKill: SimCommand = {
  name: "agent-kill",
  usage: "agent-kill HOST",
  run(world, args) {
    if (args.length !== 1) throw usageError(this, "name one host");
    world.trace.line("sim", `kill -9 the agent of ${args[0]} (${journalState(world.requireAgent(args[0]!))})`);
    world.killAgent(args[0]!);
  },
};

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
