// Usage: advance DURATION — run the cluster for DURATION (250ms, 5s, 2m) of simulated time.
import { parseDuration, usageError, type SimCommand } from "./sim-command.js";

export const advance: SimCommand = {
  name: "advance",
  usage: "advance DURATION (e.g. 500ms, 5s, 2m)",
  async run(world, args) {
    if (args.length !== 1) throw usageError(this, "advance takes one duration");
    await world.runFor(parseDuration(args[0]!));
  },
};
