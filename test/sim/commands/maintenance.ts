// Usage: maintenance on|off [via REPLICA] — the operator switches cluster maintenance mode.
import { unaryCall } from "../replica-node.js";
import { onOff, takeVia, usageError, type SimCommand } from "./sim-command.js";

export const maintenance: SimCommand = {
  name: "maintenance",
  usage: "maintenance on|off [via REPLICA]",
  run(world, rawArgs) {
    const { args, via } = takeVia(rawArgs);
    if (args.length !== 1) throw usageError(this, "say on or off");
    const on = onOff(this, args[0]);
    world.operator.call<object>(`maintenance ${args[0]}`, via, (process, callback) => process.clusterHandlers.SetMaintenance(unaryCall({ on }), callback), () => "OK");
  },
};
