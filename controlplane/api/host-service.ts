// HostService: the hosts of the cluster as replicated state plus live session facts.
import type { HostServiceHandlers } from "../../common/generated/vigil/v1/HostService.js";
import { hostIdProblem } from "../../common/validate.js";
import type { ControlPlaneContext } from "../context.js";
import type { Liveness } from "../state/commands.js";
import type { HostRecord } from "../state/store.js";
import { failedPrecondition, invalidArgument, notFound, unary, unimplemented } from "./status.js";

const confirmableLiveness: ReadonlySet<string> = new Set(["dead", "fencing", "fence-failed"]);
import { fullJobView, hostView } from "./views.js";
import { leaderOnly } from "./leader-forwarding.js";

function requireHostId(id: string): string {
  const problem = hostIdProblem(id);
  if (problem !== null) throw invalidArgument("id", `host id ${problem}`);
  return id;
}

export function hostServiceHandlers(context: ControlPlaneContext): HostServiceHandlers {
  const { log, reader, logger, sessions } = context;
  const view = (host: HostRecord, counts: Map<string, number>) =>
    hostView(host, sessions.get(host.id), counts.get(host.id) ?? 0, context.fenceMethods.methodFor(host.id).kind, context.replicaId);
  const existingHost = (id: string): HostRecord => {
    const host = reader.host(requireHostId(id));
    if (host === undefined) throw notFound(`host "${id}"`);
    return host;
  };
  const startFlush = async (hostId: string, flush: "flush" | "unflush") => {
    const jobId = context.dispatcher.newCommandId();
    await log.propose({ kind: "FlushRequested", jobId, flush, hostId });
    const job = reader.job(jobId);
    if (job === undefined) throw failedPrecondition(`${flush} of host ${hostId} was not recorded`);
    return fullJobView(reader, job);
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
    // A flush or unflush is a durable orchestration (DESIGN §8) that the primary's flush duty runs;
    // a new one cancels the one running on the same host (apply-orchestrations.ts).
    Flush: leaderOnly(context, "HostService", "Flush", async (request) => {
      const host = existingHost(request.id);
      if (host.liveness !== "alive" || sessions.get(host.id) === undefined) {
        throw failedPrecondition(`host ${host.id} is ${host.liveness === "alive" ? "not connected" : host.liveness}: a flush migrates its VMs through its agent (a dead host's VMs are HA's)`);
      }
      return startFlush(host.id, "flush");
    }),
    Unflush: leaderOnly(context, "HostService", "Unflush", async (request) => startFlush(existingHost(request.id).id, "unflush")),
    // The operator's word that the host is off (DESIGN §5, manual fencing): only for a host that
    // vigil itself considers gone, so a typo cannot get a live host's VMs started twice.
    ConfirmFenced: unary(logger, "HostConfirmFenced", async (request) => {
      await log.readBarrier();
      const host = existingHost(request.id);
      if (!confirmableLiveness.has(host.liveness)) {
        throw failedPrecondition(`host ${host.id} is ${host.liveness}; confirm-fenced applies only to a dead, fencing or fence-failed host`);
      }
      await log.propose({ kind: "HostLiveness", hostId: host.id, from: host.liveness as Liveness, liveness: "fenced", missedKeepalives: host.missedKeepalives, reason: "fence confirmed by an operator (vigilctl host confirm-fenced)" });
      const after = existingHost(request.id);
      // The confirmation applies only to the state it was given for (a compare-and-set in apply).
      if (after.liveness !== "fenced") throw failedPrecondition(`host ${host.id} became ${after.liveness} meanwhile; nothing was confirmed`);
      return view(after, reader.vmCountByHost());
    }),
    Remove: unary(logger, "HostRemove", async (request) => {
      existingHost(request.id);
      throw unimplemented("host remove");
    }),
  };
}
