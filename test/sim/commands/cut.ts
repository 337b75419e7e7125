// Usage: cut NODE... — take the nodes' network down (a host's cable pulled); `uncut` restores it.
import { usageError, type SimCommand } from "./sim-command.js";

export const cut: SimCommand = {
  name: "cut",
  usage: "cut NODE...",
  run(world, args) {
    if (args.length === 0) throw usageError(this, "name at least one node");
    for (const node of args) {
      if (world.network.slot(node) === undefined) throw usageError(this, `unknown node ${node}`);
      world.network.cut(node, true);
    }
    world.trace.line("net", `network down for ${args.join(" ")}`);
  },
};
