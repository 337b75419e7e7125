// Usage: restart REPLICA — start a killed or stopped replica; a running one is killed first (kill -9, start).
import { usageError, type SimCommand } from "./sim-command.js";

export const restart: SimCommand = {
  name: "restart",
  usage: "restart REPLICA",
  run(world, args) {
    if (args.length !== 1) throw usageError(this, "name one replica");
    const node = world.requireReplica(args[0]!);
    if (node.slot.isAlive()) {
      world.trace.line("sim", `kill -9 ${node.id}`);
      world.killReplica(node.id);
    }
    world.trace.line("sim", `start ${node.id}`);
    world.startReplica(node.id);
  },
};
