// Usage: host maintenance HOST on|off | host flush|unflush|confirm-fenced HOST [via REPLICA] — the
// operator's host calls, through the production HostService handlers. Flush and unflush answer
// with their job (JobService shows its steps: one child migration per VM).
import type { Host } from "../../../common/generated/vigil/v1/Host.js";
import type { Job } from "../../../common/generated/vigil/v1/Job.js";
import { describeJob } from "../jobs.js";
import { unaryCall } from "../replica-node.js";
import { onOff, takeVia, usageError, type SimCommand } from "./sim-command.js";

export const host: SimCommand = {
  name: "host",
  usage: "host maintenance HOST on|off | host flush|unflush|confirm-fenced HOST [via REPLICA]",
  run(world, rawArgs) {
    const { args, via } = takeVia(rawArgs);
    const [verb, id] = args;
    if (verb === undefined || id === undefined) throw usageError(this, "name a verb and a host");
    const describeHost = (view: Host) => `${view.id} ${view.state}${view.maintenance ? " (maintenance)" : ""}`;
    const description = `host ${args.join(" ")}`;
    switch (verb) {
      case "maintenance": {
        const on = onOff(this, args[2]);
        return world.operator.call<Host>(description, via, (process, callback) => process.hostHandlers.SetMaintenance(unaryCall({ id, on }), callback), describeHost);
      }
      case "flush":
        return world.operator.call<Job>(description, via, (process, callback) => process.hostHandlers.Flush(unaryCall({ id }), callback), describeJob);
      case "unflush":
        return world.operator.call<Job>(description, via, (process, callback) => process.hostHandlers.Unflush(unaryCall({ id }), callback), describeJob);
      case "confirm-fenced":
        return world.operator.call<Host>(description, via, (process, callback) => process.hostHandlers.ConfirmFenced(unaryCall({ id }), callback), describeHost);
      default:
        throw usageError(this, `unknown verb ${verb}`);
    }
  },
};
