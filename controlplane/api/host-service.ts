// HostService: the hosts of the cluster as replicated state plus live session facts.
import type { HostServiceHandlers } from "../../common/generated/vigil/v1/HostService.js";
import { hostIdProblem } from "../../common/validate.js";
import type { ControlPlaneContext } from "../context.js";
import type { HostRecord } from "../state/store.js";
import { invalidArgument, notFound, unary, unimplemented } from "./status.js";
import { hostView } from "./views.js";

function requireHostId(id: string): string {
  const problem = hostIdProblem(id);
  if (problem !== null) throw invalidArgument("id", `host id ${problem}`);
  return id;
}

export function hostServiceHandlers(context: ControlPlaneContext): HostServiceHandlers {
  const { log, reader, logger, sessions } = context;
  const view = (host: HostRecord, counts: Map<string, number>) =>
    hostView(host, sessions.get(host.id), counts.get(host.id) ?? 0, context.config(), context.clock.nowMs(), context.replicaId);
  const existingHost = (id: string): HostRecord => {
    const host = reader.host(requireHostId(id));
    if (host === undefined) throw notFound(`host "${id}"`);
    return host;
  };
  return {
    List: unary(logger, "HostList", async () => {
      await log.readBarrier();
      const counts = reader.vmCountByHost();
      return { hosts: reader.listHosts().map((host) => view(host, counts)) };
    }),
    Get: unary(logger, "HostGet", async (request) => {
      await log.readBarrier();
      return view(existingHost(request.id), reader.vmCountByHost());
    }),
    SetMaintenance: unary(logger, "HostSetMaintenance", async (request) => {
      existingHost(request.id);
      await log.propose({ kind: "SetHostMaintenance", hostId: request.id, on: request.on });
      return view(existingHost(request.id), reader.vmCountByHost());
    }),
    Flush: unary(logger, "HostFlush", async (request) => {
      existingHost(request.id);
      throw unimplemented("host flush");
    }),
    Unflush: unary(logger, "HostUnflush", async (request) => {
      existingHost(request.id);
      throw unimplemented("host unflush");
    }),
    ConfirmFenced: unary(logger, "HostConfirmFenced", async (request) => {
      existingHost(request.id);
      throw unimplemented("host confirm-fenced");
    }),
    Remove: unary(logger, "HostRemove", async (request) => {
      existingHost(request.id);
      throw unimplemented("host remove");
    }),
  };
}
