// Usage: transfer-primary [REPLICA] [via REPLICA] — the operator hands the primary role over gracefully
// (relinquish, drain, TimeoutNow), through the production ClusterService handler.
import type { ClusterStatus } from "../../../common/generated/vigil/v1/ClusterStatus.js";
import { unaryCall } from "../replica-node.js";
import { takeVia, usageError, type SimCommand } from "./sim-command.js";

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
