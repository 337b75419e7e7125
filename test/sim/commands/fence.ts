// Usage: fence HOST off|failed|timeout — scripts the outcome of the next fencing attempt on HOST's fence
// device (default: it powers the host off and confirms). The HA issue's fencing duty drives the device;
// until then nothing fences, and invariant 5 has no records to check.
import type { FenceOutcome } from "../fence.js";
import { usageError, type SimCommand } from "./sim-command.js";

const outcomes: readonly FenceOutcome[] = ["off", "failed", "timeout"];

export const fence: SimCommand = {
  name: "fence",
  usage: "fence HOST off|failed|timeout",
  run(world, args) {
    const [hostId, outcome] = args;
    if (hostId === undefined || !outcomes.includes(outcome as FenceOutcome)) throw usageError(this, `name a host and one of ${outcomes.join(", ")}`);
    const device = world.fences.get(hostId);
    if (device === undefined) throw usageError(this, `no fence device for ${hostId}`);
    device.scripted.push(outcome as FenceOutcome);
    world.trace.line("sim", `fence device of ${hostId}: the next attempt ends ${outcome}`);
  },
};
