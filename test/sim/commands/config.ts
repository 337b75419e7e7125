// Usage: config set KEY VALUE [via REPLICA] — the operator changes a replicated config key (config-keys.ts).
import type { ConfigEntries } from "../../../common/generated/vigil/v1/ConfigEntries.js";
import { unaryCall } from "../replica-node.js";
import { takeVia, usageError, type SimCommand } from "./sim-command.js";

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
