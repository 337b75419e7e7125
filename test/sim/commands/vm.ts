// Usage: vm start|stop|shutdown|migrate|policy NAME [...] [via REPLICA] — the operator's VM calls,
// through the production VmService handlers of the leader (or REPLICA):
//   vm start NAME [on HOST]        vm stop NAME          vm shutdown NAME [timeout SECONDS]
//   vm migrate NAME [to HOST] [force-live]              vm policy NAME KEY=VALUE...
import type { VmOperation } from "../../../common/generated/vigil/v1/VmOperation.js";
import type { Vm } from "../../../common/generated/vigil/v1/Vm.js";
import { unaryCall } from "../replica-node.js";
import { takeVia, usageError, type SimCommand } from "./sim-command.js";

function describeOperation(operation: VmOperation): string {
  const result = operation.result;
  const state = result ? ` (${result.name} ${result.state} on ${result.host})` : "";
  return `${operation.outcome}${operation.error ? `: ${operation.error}` : ""}${state}`;
}

function describeVm(vm: Vm): string {
  return `${vm.name} restart=${vm.restart} priority=${vm.priority}`;
}

/** The value after `word` in args, if present. */
function option(args: string[], word: string): string | undefined {
  const position = args.indexOf(word);
  return position === -1 ? undefined : args[position + 1];
}

export const vm: SimCommand = {
  name: "vm",
  usage: "vm start NAME [on HOST] | vm stop NAME | vm shutdown NAME [timeout S] | vm migrate NAME [to HOST] [force-live] | vm policy NAME KEY=VALUE... [via REPLICA]",
  run(world, rawArgs) {
    const { args, via } = takeVia(rawArgs);
    const [verb, name] = args;
    if (verb === undefined || name === undefined) throw usageError(this, "name a verb and a VM");
    const description = `vm ${args.join(" ")}`;
    switch (verb) {
      case "start":
        return world.operator.call<VmOperation>(description, via, (process, callback) => process.vmHandlers.Start(unaryCall({ vm: name, on: option(args, "on") ?? "" }), callback), describeOperation, "leader-only");
      case "stop":
        return world.operator.call<VmOperation>(description, via, (process, callback) => process.vmHandlers.Stop(unaryCall({ vm: name }), callback), describeOperation, "leader-only");
      case "shutdown": {
        const timeoutS = Number(option(args, "timeout") ?? 0);
        if (!Number.isInteger(timeoutS) || timeoutS < 0) throw usageError(this, "timeout is whole seconds");
        return world.operator.call<VmOperation>(description, via, (process, callback) => process.vmHandlers.Shutdown(unaryCall({ vm: name, timeoutS }), callback), describeOperation, "leader-only");
      }
      case "migrate":
        return world.operator.call<VmOperation>(description, via, (process, callback) => process.vmHandlers.Migrate(unaryCall({ vm: name, to: option(args, "to") ?? "", forceLive: args.includes("force-live") }), callback), describeOperation, "leader-only");
      case "policy": {
        const request = { vm: name, fields: [] as string[], restart: "", priority: 0, limit: [] as string[], selector: "", autorestart: false, maxRestarts: 0, migrationFallback: false };
        for (const pair of args.slice(2)) {
          const [key, value] = pair.split("=");
          if (key === undefined || value === undefined) throw usageError(this, `"${pair}" is not KEY=VALUE`);
          request.fields.push(key);
          if (key === "restart") request.restart = value;
          else if (key === "priority") request.priority = Number(value);
          else if (key === "limit") request.limit = value.split(",");
          else if (key === "selector") request.selector = value;
          else if (key === "autorestart") request.autorestart = value === "on";
          else if (key === "maxRestarts") request.maxRestarts = Number(value);
          else throw usageError(this, `unknown policy key ${key}`);
        }
        return world.operator.call<Vm>(description, via, (process, callback) => process.vmHandlers.SetPolicy(unaryCall(request), callback), describeVm);
      }
      default:
        throw usageError(this, `unknown verb ${verb}`);
    }
  },
};
