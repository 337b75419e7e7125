// Usage: stream-break HOST — break HOST's agent stream now; everything in flight on it is lost.
import { usageError, type SimCommand } from "./sim-command.js";

export const streamBreak: SimCommand = {
  name: "stream-break",
  usage: "stream-break HOST",
  run(world, args) {
    if (args.length !== 1) throw usageError(this, "name one host");
    world.requireAgent(args[0]!);
    const broken = world.breakStream(args[0]!);
    world.trace.line("net", broken ? `${args[0]}'s agent stream breaks` : `${args[0]} has no open agent stream to break`);
  },
};
