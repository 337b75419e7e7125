// Usage: uncut NODE... — bring the nodes' network back after `cut`.
import { usageError, type SimCommand } from "./sim-command.js";

export const uncut: SimCommand = {
  name: "uncut",
  usage: "uncut NODE...",
  run(world, args) {
    if (args.length === 0) throw usageError(this, "name at least one node");
    for (const node of args) world.network.cut(node, false);
    world.trace.line("net", `network up for ${args.join(" ")}`);
  },
};
