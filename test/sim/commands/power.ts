// Usage: power HOST off|on — the host loses power (guests stop, the agent dies silently, the host drops
// off the network) or boots again (a new boot id; the agent starts with its journal). HA builds on this.
import { onOff, usageError, type SimCommand } from "./sim-command.js";

export const power: SimCommand = {
  name: "power",
  usage: "power HOST off|on",
  run(world, args) {
    if (args.length !== 2) throw usageError(this, "name a host and off or on");
    world.requireAgent(args[0]!);
    const on = onOff(this, args[1]);
    world.trace.line("sim", `power ${on ? "on" : "off"} ${args[0]}`);
    if (on) world.powerOn(args[0]!);
    else world.powerOff(args[0]!);
  },
};
