// Usage: resume NODE — SIGCONT a paused replica or agent: what waited runs at once, in order.
import { usageError, type SimCommand } from "./sim-command.js";

export const resume: SimCommand = {
  name: "resume",
  usage: "resume NODE",
  run(world, args) {
    if (args.length !== 1 || world.network.slot(args[0]!) === undefined) throw usageError(this, "name one replica or host");
    world.trace.line("sim", `SIGCONT ${args[0]}`);
    world.resume(args[0]!);
  },
};
