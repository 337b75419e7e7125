// Usage: lose-ack HOST — the next ack written to HOST's stream is lost together with the stream (ack
// loss): the agent must resend from its last acknowledged seq and nothing may apply twice.
import { usageError, type SimCommand } from "./sim-command.js";

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
