// ClusterService: status, maintenance, configuration and the event log.
import * as grpc from "@grpc/grpc-js";
import type { ClusterEvent } from "../../common/generated/vigil/v1/ClusterEvent.js";
import type { ClusterServiceHandlers } from "../../common/generated/vigil/v1/ClusterService.js";
import type { ListEventsRequest__Output } from "../../common/generated/vigil/v1/ListEventsRequest.js";
import type { ControlPlaneContext } from "../context.js";
import { configKeys, configProblem, findConfigKey } from "../state/config-keys.js";
import type { ClusterEventRecord } from "../state/store.js";
import { invalidArgument, toStatus, unary, unimplemented } from "./status.js";

const eventsPageMax = 1_000;

function eventView(event: ClusterEventRecord): ClusterEvent {
  return { index: event.index, atMs: event.atMs, term: event.term, kind: event.kind, host: event.host, vm: event.vm, job: event.job, message: event.message };
}

export function clusterServiceHandlers(context: ControlPlaneContext): ClusterServiceHandlers {
  const { log, reader, logger } = context;
  return {
    Status: unary(logger, "Status", async () => {
      // This replica's own view, answered even without a leader: it is what an operator needs then.
      const replication = log.status();
      const lease = reader.primaryLease();
      const isPrimary = log.isLeader() && lease?.replica === context.replicaId && lease.term === context.primary.primaryTerm();
      return {
        term: replication.term,
        primary: lease?.replica ?? "",
        primaryState: isPrimary ? context.primary.state() : lease === undefined ? "none" : "primary",
        maintenance: reader.clusterMaintenance(),
        leader: replication.leaderId ?? "",
        members: replication.members,
      };
    }),
    SetMaintenance: unary(logger, "SetMaintenance", async (request) => {
      await log.propose({ kind: "SetClusterMaintenance", on: request.on });
      return {};
    }),
    GetConfig: unary(logger, "GetConfig", async (request) => {
      await log.readBarrier();
      const values = reader.config();
      if (request.key !== "" && findConfigKey(request.key) === undefined) throw invalidArgument("key", configProblem(request.key, "")!);
      const selected = configKeys.filter((entry) => request.key === "" || entry.key === request.key);
      return { entries: selected.map((entry) => ({ key: entry.key, value: values.get(entry.key)!, description: entry.description })) };
    }),
    SetConfig: unary(logger, "SetConfig", async (request) => {
      const problem = configProblem(request.key, request.value);
      if (problem !== null) throw invalidArgument(findConfigKey(request.key) ? "value" : "key", problem);
      await log.propose({ kind: "SetConfig", key: request.key, value: request.value });
      const entry = findConfigKey(request.key)!;
      return { entries: [{ key: entry.key, value: request.value, description: entry.description }] };
    }),
    TransferPrimary: unary(logger, "TransferPrimary", async () => {
      throw unimplemented("transfer-primary (a single-replica cluster has no other replica)");
    }),
    AddMember: unary(logger, "AddMember", async () => {
      throw unimplemented("member add");
    }),
    RemoveMember: unary(logger, "RemoveMember", async () => {
      throw unimplemented("member remove");
    }),
    ListEvents: (call) => streamEvents(context, call),
  };
}

/** Sends the matching events; with follow, keeps sending as new ones are applied until the client cancels. */
function streamEvents(context: ControlPlaneContext, call: grpc.ServerWritableStream<ListEventsRequest__Output, ClusterEvent>): void {
  const request = call.request;
  const limit = request.limit === 0 ? eventsPageMax : Math.min(request.limit, eventsPageMax);
  let afterIndex = 0;
  const sendNew = (): void => {
    for (;;) {
      const events = context.reader.listEvents({ host: request.host, vm: request.vm, sinceMs: request.sinceMs, afterIndex, limit });
      for (const event of events) {
        call.write(eventView(event));
        afterIndex = event.index;
      }
      if (events.length < limit || !request.follow) return;
    }
  };
  try {
    sendNew();
  } catch (error) {
    const status = toStatus(error);
    call.emit("error", { code: status.code, details: status.details });
    return;
  }
  if (!request.follow) {
    call.end();
    return;
  }
  const unsubscribe = context.log.onApplied((notices) => {
    if (notices.some((notice) => notice.kind === "ClusterEventAdded")) sendNew();
  });
  call.on("cancelled", unsubscribe);
  call.on("close", unsubscribe);
}
