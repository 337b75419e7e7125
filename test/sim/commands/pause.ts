// Usage: pause NODE / resume NODE — SIGSTOP / SIGCONT a replica or an agent: its timers and input wait,
// its clock runs on, and peers' keepalives give up on it.
import { usageError, type SimCommand } from "./command.js";

export const pause: SimCommand = {
  name: "pause",
  usage: "pause NODE",
  run(world, args) {
    if (args.length !== 1 || world.network.slot(args[0]!) === undefined) throw usageError(this, "name one replica or host");
    world.trace.line("sim", `SIGSTOP ${args[0]}`);
    world.pause(args[0]!);
  },
};

export const resume: SimCommand = {
  name: "resume",
  usage: "resume NODE",
  run(world, args) {
    if (args.length !== 1 || world.network.slot(args[0]!) === undefined) throw usageError(this, "name one replica or host");
    world.trace.line("sim", `SIGCONT ${args[0]}`);
    world.resume(args[0]!);
  },
};
