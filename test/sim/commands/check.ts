// Usage: check — runs every state invariant now, including "every acknowledged event is on every
// running replica" (only true once the cluster is healed and has caught up, so it runs on demand).
import { usageError, type SimCommand } from "./sim-command.js";

export const check: SimCommand = {
  name: "check",
  usage: "check",
  run(world, args) {
    if (args.length !== 0) throw usageError(this, "check takes no arguments");
    world.checkState();
    world.guard(() => world.checker.checkAcknowledgedKept(world.checkedReplicas().filter((replica) => replica.alive())));
    world.trace.line("sim", "check: invariants hold");
  },
};
