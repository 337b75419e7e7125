// Usage: pause NODE — SIGSTOP a replica or an agent: its timers and input wait, its clock runs on,
// and peers' keepalives give up on it; `resume` continues it.
import { usageError, type SimCommand } from "./sim-command.js";

export const pause: SimCommand = {
  name: "pause",
  usage: "pause NODE",
  run(world, args) {
    if (args.length !== 1 || world.network.slot(args[0]!) === undefined) throw usageError(this, "name one replica or host");
    world.trace.line("sim", `SIGSTOP ${args[0]}`);
    world.pause(args[0]!);
  },
};
