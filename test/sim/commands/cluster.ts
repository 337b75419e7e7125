// Usage: the operator's cluster calls, through the production ClusterService/HostService handlers of
// the leader (or `via REPLICA`):
//   transfer-primary [REPLICA]      config set KEY VALUE      maintenance on|off
//   host maintenance HOST on|off    host flush|unflush|confirm-fenced HOST
import type { ClusterStatus } from "../../../common/generated/vigil/v1/ClusterStatus.js";
import type { ConfigEntries } from "../../../common/generated/vigil/v1/ConfigEntries.js";
import type { Host } from "../../../common/generated/vigil/v1/Host.js";
import type { Job } from "../../../common/generated/vigil/v1/Job.js";
import { unaryCall } from "../replica-node.js";
import { onOff, takeVia, usageError, type SimCommand } from "./command.js";

function describeJob(job: Job): string {
  return `job ${job.id ?? "?"} ${job.state ?? ""}`;
}

function describeStatus(status: ClusterStatus): string {
  return `term ${status.term}, primary ${status.primary || "-"} (${status.primaryState}), leader ${status.leader || "-"}`;
}

export const transferPrimary: SimCommand = {
  name: "transfer-primary",
  usage: "transfer-primary [REPLICA] [via REPLICA]",
  run(world, rawArgs) {
    const { args, via } = takeVia(rawArgs);
    if (args.length > 1) throw usageError(this, "name at most one target");
    const to = args[0] ?? "";
    world.operator.call<ClusterStatus>(`transfer-primary${to ? ` ${to}` : ""}`, via, (process, callback) => process.clusterHandlers.TransferPrimary(unaryCall({ to }), callback), describeStatus, "leader-only");
  },
};

export const config: SimCommand = {
  name: "config",
  usage: "config set KEY VALUE [via REPLICA]",
  run(world, rawArgs) {
    const { args, via } = takeVia(rawArgs);
    if (args.length !== 3 || args[0] !== "set") throw usageError(this, "config set takes a key and a value");
    const [, key, value] = args as [string, string, string];
    world.operator.call<ConfigEntries>(`config set ${key} ${value}`, via, (process, callback) => process.clusterHandlers.SetConfig(unaryCall({ key, value }), callback), (entries) =>
      (entries.entries ?? []).map((entry) => `${entry.key}=${entry.value}`).join(" "),
    );
  },
};

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
