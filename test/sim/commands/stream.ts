// Usage: stream-break HOST | lose-ack HOST — break HOST's agent stream now (everything in flight on it
// is lost), or lose the next ack written to it together with the stream (ack loss: the agent resends).
import { usageError, type SimCommand } from "./command.js";

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

export const loseAck: SimCommand = {
  name: "lose-ack",
  usage: "lose-ack HOST",
  run(world, args) {
    if (args.length !== 1) throw usageError(this, "name one host");
    world.requireAgent(args[0]!);
    world.trace.line("net", `${args[0]}: the next ack will be lost with its stream`);
    world.loseAck(args[0]!);
  },
};
