// Usage: fence HOST off|failed|timeout|lies — scripts the outcome of the next fencing attempt on HOST's
// fence device (default: it powers the host off, and its status confirms off). `lies`: the device says
// off but the host stays on, so the status read refuses to confirm. The primary's HA duty drives it.
import { fenceOutcomes as outcomes, type FenceOutcome } from "../fence.js";
import { usageError, type SimCommand } from "./sim-command.js";


export const fence: SimCommand = {
  name: "fence",
  usage: "fence HOST off|failed|timeout|lies",
  run(world, args) {
    const [hostId, outcome] = args;
    if (hostId === undefined || !outcomes.includes(outcome as FenceOutcome)) throw usageError(this, `name a host and one of ${outcomes.join(", ")}`);
    const device = world.fences.get(hostId);
    if (device === undefined) throw usageError(this, `no fence device for ${hostId}`);
    device.scripted.push(outcome as FenceOutcome);
    world.trace.line("sim", `fence device of ${hostId}: the next attempt ends ${outcome}`);
  },
};
