// Usage: clock NODE offset MS | clock NODE rate PPM — step a node's wall clock (monotonic time is not
// affected), or make its oscillator run fast (positive PPM) or slow from now on; leases must hold
// within the drift bound (RaftTiming.clockDriftMs).
import { usageError, type SimCommand } from "./sim-command.js";

export const clock: SimCommand = {
  name: "clock",
  usage: "clock NODE offset MS | clock NODE rate PPM",
  run(world, args) {
    const [node, what, valueText] = args;
    const slot = node === undefined ? undefined : world.network.slot(node);
    const value = Number(valueText);
    if (slot === undefined || !Number.isFinite(value)) throw usageError(this, "name a node and a number");
    if (what === "offset") slot.clockOffsetMs = value;
    else if (what === "rate") {
      if (Math.abs(value) > 500_000) throw usageError(this, "a rate error beyond 50 % is not a clock, even a broken one");
      slot.setClockRate(value, world.scheduler.nowMs);
    } else throw usageError(this, `unknown setting ${what ?? "(none)"}`);
    world.trace.line("sim", `clock of ${node}: offset ${slot.clockOffsetMs} ms, rate ${slot.clockRatePpm} ppm`);
  },
};
