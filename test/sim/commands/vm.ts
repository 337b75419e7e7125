// Usage: vm start|stop|shutdown|migrate|policy|set NAME [...] [via REPLICA] — the operator's VM calls,
// through the production VmService handlers of the leader (or REPLICA):
//   vm start NAME [on HOST]        vm stop NAME          vm shutdown NAME [timeout SECONDS]
//   vm migrate NAME [to HOST] [force-live]    (vigilctl's spellings --to HOST and --force-live work too)
//   vm policy NAME KEY=VALUE...    (restart, priority, limit, selector, autorestart, maxRestarts, migrationFallback)
//   vm set NAME [--restart R] [--priority N] [--limit h1,h2] [--selector S] [--autorestart on|off]
//               [--max-restarts N] [--migration-fallback on|off]     (as vigilctl vm set)
import type { Job } from "../../../common/generated/vigil/v1/Job.js";
import type { SetVmPolicyRequest__Output } from "../../../common/generated/vigil/v1/SetVmPolicyRequest.js";
import type { VmOperation } from "../../../common/generated/vigil/v1/VmOperation.js";
import type { Vm } from "../../../common/generated/vigil/v1/Vm.js";
import { describeJob } from "../jobs.js";
import { unaryCall } from "../replica-node.js";
import { onOff, takeVia, usageError, type SimCommand } from "./sim-command.js";

function describeOperation(operation: VmOperation): string {
  const result = operation.result;
  const state = result ? ` (${result.name} ${result.state} on ${result.host})` : "";
  return `${operation.outcome}${operation.error ? `: ${operation.error}` : ""}${state}`;
}

function describeVm(vm: Vm): string {
  return `${vm.name} restart=${vm.restart} priority=${vm.priority}${vm.migrationFallback === undefined ? "" : ` migration-fallback=${vm.migrationFallback ? "on" : "off"}`}`;
}

/** The value after `word` (or its vigilctl spelling `--word`) in args, if present. */
function option(args: string[], word: string): string | undefined {
  const position = args.findIndex((arg) => arg === word || arg === `--${word}`);
  return position === -1 ? undefined : args[position + 1];
}

/** A policy request that changes `fields` (SetVmPolicyRequest.fields names proto fields, snake_case). */
function policyRequest(vm: string): SetVmPolicyRequest__Output {
  return { vm, fields: [], restart: "", priority: 0, limit: [], selector: "", autorestart: false, maxRestarts: 0, migrationFallback: false };
}

export const vm: SimCommand = {
  name: "vm",
  usage: "vm start NAME [on HOST] | vm stop NAME | vm shutdown NAME [timeout S] | vm migrate NAME [to HOST] [force-live] | vm policy NAME KEY=VALUE... | vm set NAME --FLAG VALUE... [via REPLICA]",
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
      case "migrate": {
        for (const word of args.slice(2)) if (!["to", "--to", "force-live", "--force-live", option(args, "to")].includes(word)) throw usageError(this, `vm migrate does not take "${word}"`);
        const forceLive = args.includes("force-live") || args.includes("--force-live");
        return world.operator.call<Job>(description, via, (process, callback) => process.vmHandlers.Migrate(unaryCall({ vm: name, to: option(args, "to") ?? "", forceLive }), callback), describeJob, "leader-only");
      }
      case "set": {
        const request = policyRequest(name);
        const rest = args.slice(2);
        for (let position = 0; position < rest.length; position += 2) {
          const flag = rest[position]!;
          const value = rest[position + 1];
          if (value === undefined) throw usageError(this, `${flag} needs a value`);
          if (flag === "--restart") request.restart = value;
          else if (flag === "--priority") request.priority = Number(value);
          else if (flag === "--limit") request.limit = value.split(",");
          else if (flag === "--selector") request.selector = value;
          else if (flag === "--autorestart") request.autorestart = onOff(this, value);
          else if (flag === "--max-restarts") request.maxRestarts = Number(value);
          else if (flag === "--migration-fallback") request.migrationFallback = onOff(this, value);
          else throw usageError(this, `unknown flag ${flag}`);
          request.fields.push(flag.slice(2).replace(/-/g, "_"));
        }
        if (request.fields.length === 0) throw usageError(this, "vm set changes at least one field");
        return world.operator.call<Vm>(description, via, (process, callback) => process.vmHandlers.SetPolicy(unaryCall(request), callback), describeVm);
      }
      case "policy": {
        const request = policyRequest(name);
        for (const pair of args.slice(2)) {
          const [key, value] = pair.split("=");
          if (key === undefined || value === undefined) throw usageError(this, `"${pair}" is not KEY=VALUE`);
          request.fields.push(key === "migrationFallback" ? "migration_fallback" : key);
          if (key === "restart") request.restart = value;
          else if (key === "priority") request.priority = Number(value);
          else if (key === "limit") request.limit = value.split(",");
          else if (key === "selector") request.selector = value;
          else if (key === "autorestart") request.autorestart = value === "on";
          else if (key === "maxRestarts") request.maxRestarts = Number(value);
          else if (key === "migrationFallback") request.migrationFallback = value === "on";
          else throw usageError(this, `unknown policy key ${key}`);
        }
        return world.operator.call<Vm>(description, via, (process, callback) => process.vmHandlers.SetPolicy(unaryCall(request), callback), describeVm);
      }
      default:
        throw usageError(this, `unknown verb ${verb}`);
    }
  },
};
