// Usage: heal — remove every partition and cut; link faults (net ...) stay as set.
import { usageError, type SimCommand } from "./sim-command.js";

export const heal: SimCommand = {
  name: "heal",
  usage: "heal",
  run(world, args) {
    if (args.length !== 0) throw usageError(this, "heal takes no arguments");
    world.network.heal();
    world.trace.line("net", "healed: the network is whole");
  },
};
