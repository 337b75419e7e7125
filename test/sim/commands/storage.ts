// Usage: storage HOST down|up — HOST's image storage stops answering (or answers again): the
// agent's disk chain sync cannot confirm the chain and retries with backoff until it can.
import { usageError, type SimCommand } from "./sim-command.js";

export const storage: SimCommand = {
  name: "storage",
  usage: "storage HOST down|up",
  run(world, args) {
    const [hostId, state] = args;
    if (hostId === undefined || (state !== "down" && state !== "up")) throw usageError(this, "name a host and down or up");
    world.requireAgent(hostId).host.storageUp = state === "up";
    world.trace.line("sim", `storage of ${hostId} ${state}`);
  },
};
