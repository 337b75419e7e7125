// ClusterService: status, maintenance, configuration and the event log.
import * as grpc from "@grpc/grpc-js";
import type { ClusterEvent } from "../../common/generated/vigil/v1/ClusterEvent.js";
import type { ClusterServiceHandlers } from "../../common/generated/vigil/v1/ClusterService.js";
import type { ListEventsRequest__Output } from "../../common/generated/vigil/v1/ListEventsRequest.js";
import type { ControlPlaneContext } from "../context.js";
import { configKeys, configProblem, findConfigKey } from "../state/config-keys.js";
import type { ClusterEventRecord } from "../state/store.js";
import type { ClusterStatus } from "../../common/generated/vigil/v1/ClusterStatus.js";
import { hostIdProblem, isVmName } from "../../common/validate.js";
import { NotLeaderError } from "../replication/log.js";
import { leaderOnly } from "./leader-forwarding.js";
import { failedPrecondition, invalidArgument, notFound, toStatus, unary } from "./status.js";

const eventsPageMax = 1_000;
/** `events --follow` streams one replica serves at once: each holds a subscription to every apply. */
const followStreamsMax = 256;
/** Config keys and values are short words and numbers. */
const configTextMax = 256;

/** Why `address` is not a replica's host:port, or null. */
export function addressProblem(address: string): string | null {
  const match = /^([^\s:]{1,253}):(\d{1,5})$/.exec(address);
  if (match === null || Number(match[2]) < 1 || Number(match[2]) > 65_535) return `"${address.slice(0, 80)}" is not host:port (port 1 to 65535)`;
  return null;
}

function eventView(event: ClusterEventRecord): ClusterEvent {
  return { index: event.index, atMs: event.atMs, term: event.term, kind: event.kind, host: event.host, vm: event.vm, job: event.job, message: event.message };
}

export function clusterServiceHandlers(context: ControlPlaneContext): ClusterServiceHandlers {
  const { log, reader, logger } = context;
  const followers = { open: 0 };
  return {
    // This replica's own view, answered even without a leader: it is what an operator needs then.
    Status: unary(logger, "Status", async () => statusView(context)),
    SetMaintenance: unary(logger, "SetMaintenance", async (request) => {
      await log.propose({ kind: "SetClusterMaintenance", on: request.on });
      return {};
    }),
    GetConfig: unary(logger, "GetConfig", async (request) => {
      if (request.key !== "" && findConfigKey(request.key) === undefined) throw invalidArgument("key", configProblem(request.key.slice(0, configTextMax), "")!);
      await log.readBarrier();
      const values = reader.config();
      const selected = configKeys.filter((entry) => request.key === "" || entry.key === request.key);
      return { entries: selected.map((entry) => ({ key: entry.key, value: values.get(entry.key)!, description: entry.description })) };
    }),
    SetConfig: unary(logger, "SetConfig", async (request) => {
      if (request.value.length > configTextMax) throw invalidArgument("value", `is longer than ${configTextMax} characters`);
      const problem = configProblem(request.key.slice(0, configTextMax), request.value);
      if (problem !== null) throw invalidArgument(findConfigKey(request.key) ? "value" : "key", problem);
      await log.propose({ kind: "SetConfig", key: request.key, value: request.value });
      const entry = findConfigKey(request.key)!;
      return { entries: [{ key: entry.key, value: request.value, description: entry.description }] };
    }),
    TransferPrimary: leaderOnly(context, "ClusterService", "TransferPrimary", async (request) => {
      await relinquishTo(context, request.to);
      return statusView(context);
    }),
    AddMember: leaderOnly(context, "ClusterService", "AddMember", async (request) => {
      requireMemberId(request.id);
      if (addressProblem(request.address) !== null) throw invalidArgument("address", addressProblem(request.address)!);
      if (log.status().members.some((member) => member.id === request.id)) throw failedPrecondition(`${request.id} is already a member`);
      await log.propose({ kind: "SetMemberAddress", replicaId: request.id, address: request.address });
      await log.changeMembership({ kind: "addVoter", replica: request.id });
      return statusView(context);
    }),
    RemoveMember: leaderOnly(context, "ClusterService", "RemoveMember", async (request) => {
      requireMemberId(request.id);
      if (!log.status().members.some((member) => member.id === request.id)) throw notFound(`member "${request.id}"`);
      if (request.id === context.replicaId && log.isLeader()) await relinquishTo(context, "");
      await log.changeMembership({ kind: "removeVoter", replica: request.id });
      return statusView(context);
    }),
    ListEvents: (call) => streamEvents(context, call, followers),
  };
}

function requireMemberId(id: string): void {
  const problem = hostIdProblem(id);
  if (problem !== null) throw invalidArgument("id", `replica id ${problem}`);
}

function statusView(context: ControlPlaneContext): ClusterStatus {
  const { log, reader } = context;
  const replication = log.status();
  const lease = reader.primaryLease();
  const isPrimary = log.isLeader() && lease?.replica === context.replicaId && lease.term === context.primary.primaryTerm();
  return {
    term: replication.term,
    primary: lease?.replica ?? "",
    primaryState: isPrimary ? context.primary.state() : (lease?.state ?? "none"),
    maintenance: reader.clusterMaintenance(),
    leader: replication.leaderId ?? "",
    members: replication.members,
  };
}

/**
 * A graceful hand-over (DESIGN §3): write `relinquish`, drain duties, then
 * transfer leadership. If the transferee does not take over in time, this
 * replica resumes as primary and the call fails with the reason.
 */
async function relinquishTo(context: ControlPlaneContext, requested: string): Promise<void> {
  const { log } = context;
  if (!log.isLeader()) throw new NotLeaderError(log.status().leaderAddress);
  const candidates = log.status().members.filter((member) => member.id !== context.replicaId);
  if (requested !== "") requireMemberId(requested);
  if (requested === context.replicaId) throw failedPrecondition(`${requested} is already the primary`);
  const target = requested !== "" ? candidates.find((member) => member.id === requested) : [...candidates].sort((a, b) => b.commitIndex - a.commitIndex || a.id.localeCompare(b.id))[0];
  if (target === undefined) throw requested === "" ? failedPrecondition("there is no other replica to hand the primary role to") : notFound(`member "${requested}"`);
  await log.propose({ kind: "PrimaryRelinquish", term: log.currentTerm(), replicaId: context.replicaId, to: target.id });
  context.primary.relinquish();
  context.duties.poll();
  try {
    await log.transferLeadership(target.id);
  } catch (error) {
    context.primary.cancelRelinquish();
    throw error;
  }
}

/** Sends the matching events; with follow, keeps sending as new ones are applied until the client cancels. */
function listEventsProblem(request: ListEventsRequest__Output): { code: grpc.status; details: string } | null {
  const field = (name: string, why: string) => ({ code: grpc.status.INVALID_ARGUMENT, details: `${name}: ${why}` });
  if (request.host !== "" && hostIdProblem(request.host) !== null) return field("host", `host id ${hostIdProblem(request.host)}`);
  if (request.vm !== "" && !isVmName(request.vm)) return field("vm", "name or UUID must be 1 to 200 printable characters");
  if (!Number.isSafeInteger(request.sinceMs) || request.sinceMs < 0) return field("since_ms", "must be a time in unix milliseconds >= 0");
  return null;
}

function streamEvents(context: ControlPlaneContext, call: grpc.ServerWritableStream<ListEventsRequest__Output, ClusterEvent>, followers: { open: number }): void {
  const request = call.request;
  const problem = listEventsProblem(request);
  if (problem !== null) {
    call.emit("error", problem);
    return;
  }
  if (request.follow && followers.open >= followStreamsMax) {
    call.emit("error", { code: grpc.status.RESOURCE_EXHAUSTED, details: `this replica already follows events for ${followStreamsMax} clients; retry later or use another replica` });
    return;
  }
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
  followers.open += 1;
  const stopListening = context.log.onApplied((notices) => {
    if (notices.some((notice) => notice.kind === "ClusterEventAdded")) sendNew();
  });
  let open = true;
  const unsubscribe = () => {
    if (!open) return;
    open = false;
    followers.open -= 1;
    stopListening();
  };
  call.on("cancelled", unsubscribe);
  call.on("close", unsubscribe);
}
