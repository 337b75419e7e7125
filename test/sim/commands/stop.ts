// Usage: stop REPLICA — SIGTERM: the replica stops its duties, closes agent streams and its log, then exits.
import { usageError, type SimCommand } from "./sim-command.js";

export const stop: SimCommand = {
  name: "stop",
  usage: "stop REPLICA",
  async run(world, args) {
    if (args.length !== 1) throw usageError(this, "name one replica");
    world.requireReplica(args[0]!);
    world.trace.line("sim", `SIGTERM ${args[0]}`);
    await world.stopReplica(args[0]!);
  },
};
