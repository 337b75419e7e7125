// Assembles one replica's gRPC port: AgentGateway and the public services,
// plus health and reflection (DESIGN §11: one port per process).
import * as grpc from "@grpc/grpc-js";
import { addHealthAndReflection, messageBytesMax, type ServerExtras } from "../common/grpc-server.js";
import { serviceDefinition } from "../common/proto.js";
import { agentGatewayHandlers } from "./api/agent-gateway.js";
import { clusterServiceHandlers } from "./api/cluster-service.js";
import { hostServiceHandlers } from "./api/host-service.js";
import { jobServiceHandlers } from "./api/job-service.js";
import { vmServiceHandlers } from "./api/vm-service.js";
import type { ControlPlaneContext } from "./context.js";
import type { GrpcPeerTransport } from "./replication/grpc-transport.js";


export const publicServiceNames = ["vigil.v1.PeerService", "vigil.v1.AgentGateway", "vigil.v1.ClusterService", "vigil.v1.HostService", "vigil.v1.VmService", "vigil.v1.JobService"];

export function createControlPlaneServer(
  context: ControlPlaneContext,
  peers: GrpcPeerTransport,
  interceptors: grpc.ServerInterceptor[] = [],
): { server: grpc.Server; extras: ServerExtras } {
  const server = new grpc.Server({
    // Authorization and rate limits (common/authorization.ts) see every call before its handler.
    interceptors,
    "grpc.max_receive_message_length": messageBytesMax,
    "grpc.max_send_message_length": messageBytesMax,
    // Notice dead agent connections even when no keepalive message is due.
    "grpc.keepalive_time_ms": 10_000,
    "grpc.keepalive_timeout_ms": 5_000,
    "grpc.keepalive_permit_without_calls": 1,
    "grpc.http2.min_ping_interval_without_data_ms": 5_000,
  });
  server.addService(
    serviceDefinition("AgentGateway"),
    agentGatewayHandlers({
      log: context.log,
      reader: context.reader,
      sessions: context.sessions,
      clock: context.clock,
      logger: context.logger.child({ component: "gateway" }),
      keepaliveIntervalMs: () => context.config().keepaliveIntervalMs,
      // A stream's share of one entry: no agent's backlog crowds out the others'. The entry itself
      // (all streams of this replica) is bounded by the gateway's entryEventsMax.
      batchEventsMax: 64,
    }),
  );
  server.addService(serviceDefinition("ClusterService"), clusterServiceHandlers(context));
  server.addService(serviceDefinition("HostService"), hostServiceHandlers(context));
  server.addService(serviceDefinition("VmService"), vmServiceHandlers(context));
  server.addService(serviceDefinition("JobService"), jobServiceHandlers(context));
  server.addService(serviceDefinition("PeerService"), peers.serviceHandlers());
  const extras = addHealthAndReflection(server, publicServiceNames);
  return { server, extras };
}

/** Stops accepting calls, lets running ones finish within `graceMs`, then cuts the rest. */
export function shutdownServer(server: grpc.Server, graceMs: number): Promise<void> {
  return new Promise((resolve) => {
    const force = setTimeout(() => {
      server.forceShutdown();
      resolve();
    }, graceMs);
    server.tryShutdown(() => {
      clearTimeout(force);
      resolve();
    });
  });
}
