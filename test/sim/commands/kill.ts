// Usage: kill REPLICA — kill -9 a control-plane replica; its SQLite file stays as written.
import { usageError, type SimCommand } from "./sim-command.js";

export const kill: SimCommand = {
  name: "kill",
  usage: "kill REPLICA",
  run(world, args) {
    if (args.length !== 1) throw usageError(this, "name one replica");
    world.requireReplica(args[0]!);
    world.trace.line("sim", `kill -9 ${args[0]}`);
    world.killReplica(args[0]!);
  },
};
