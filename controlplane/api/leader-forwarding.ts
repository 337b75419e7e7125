// Leader-only operations (those that command agents or change membership) run
// on the primary. A follower that receives one forwards the same call to the
// leader's public port and relays its answer, so a client can use any replica.
import * as grpc from "@grpc/grpc-js";
import { serviceDefinition, type ServiceName } from "../../common/proto.js";
import type { ControlPlaneContext } from "../context.js";
import { clientMessageLimits } from "../../common/grpc-server.js";
import { NotLeaderError } from "../replication/log.js";
import { RelayedStatus, unary } from "./status.js";

/** Forwarded calls without a client deadline get this long; the leader's handler bounds the operation itself. */
const forwardDeadlineMs = 10 * 60_000;

type Handler<Request, Response> = (request: Request, call: grpc.ServerUnaryCall<Request, Response>) => Promise<Response>;

export function leaderOnly<Request, Response>(
  context: ControlPlaneContext,
  service: ServiceName,
  method: string,
  handler: Handler<Request, Response>,
): grpc.handleUnaryCall<Request, Response> {
  return unary<Request, Response>(context.logger, method, async (request, call) => {
    if (context.log.isLeader()) return handler(request, call);
    return forwardToLeader<Request, Response>(context, service, method, request, call.getDeadline());
  });
}

function forwardToLeader<Request, Response>(context: ControlPlaneContext, service: ServiceName, method: string, request: Request, callerDeadline: grpc.Deadline): Promise<Response> {
  const leader = context.log.status().leaderAddress;
  if (leader === null || leader === context.address) return Promise.reject(new NotLeaderError(leader));
  const definition = serviceDefinition(service)[method];
  if (definition === undefined) return Promise.reject(new Error(`no method ${service}.${method}`));
  const deadline = callerDeadline === Infinity ? Date.now() + forwardDeadlineMs : callerDeadline;
  const client = new grpc.Client(leader, context.peerCredentials ?? grpc.credentials.createInsecure(), clientMessageLimits);
  return new Promise<Response>((resolve, reject) => {
    client.makeUnaryRequest(
      definition.path,
      definition.requestSerialize,
      definition.responseDeserialize as (bytes: Buffer) => Response,
      request,
      new grpc.Metadata(),
      { deadline },
      (error, response) => {
        client.close();
        if (error !== null) reject(new RelayedStatus(error.code, error.code === grpc.status.UNAVAILABLE ? `${error.details} (via ${leader})` : error.details));
        else resolve(response as Response);
      },
    );
  });
}
