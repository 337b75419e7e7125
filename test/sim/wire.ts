// Every message the simulator carries goes through the real protobuf encoding of proto/, so
// production code receives exactly what gRPC would hand it (defaults filled, oneofs named, 64-bit
// integers as numbers) and never shares an object with its sender.
import type { MethodDefinition } from "@grpc/grpc-js";
import type { AgentMessage, AgentMessage__Output } from "../../common/generated/vigil/v1/AgentMessage.js";
import type { AgentPresenceUpdate, AgentPresenceUpdate__Output } from "../../common/generated/vigil/v1/AgentPresenceUpdate.js";
import type { ControlMessage, ControlMessage__Output } from "../../common/generated/vigil/v1/ControlMessage.js";
import type { JobList, JobList__Output } from "../../common/generated/vigil/v1/JobList.js";
import type { PeerEnvelope, PeerEnvelope__Output } from "../../common/generated/vigil/v1/PeerEnvelope.js";
import type { RelayedCommand, RelayedCommand__Output } from "../../common/generated/vigil/v1/RelayedCommand.js";
import { serviceDefinition } from "../../common/proto.js";

/** A message type's round trip through its wire form. */
export interface Codec<Input, Output> {
  encode(message: Input): Buffer;
  decode(bytes: Buffer): Output;
}

function requestCodec<Input, Output>(method: MethodDefinition<unknown, unknown>): Codec<Input, Output> {
  return { encode: (message) => method.requestSerialize(message), decode: (bytes) => method.requestDeserialize(bytes) as Output };
}

function responseCodec<Input, Output>(method: MethodDefinition<unknown, unknown>): Codec<Input, Output> {
  return { encode: (message) => method.responseSerialize(message), decode: (bytes) => method.responseDeserialize(bytes) as Output };
}

interface Codecs {
  agentMessage: Codec<AgentMessage, AgentMessage__Output>;
  controlMessage: Codec<ControlMessage, ControlMessage__Output>;
  peerEnvelope: Codec<PeerEnvelope, PeerEnvelope__Output>;
  presenceUpdate: Codec<AgentPresenceUpdate, AgentPresenceUpdate__Output>;
  relayedCommand: Codec<RelayedCommand, RelayedCommand__Output>;
  /** JobService.List's answer, as vigilctl decodes it. */
  jobList: Codec<JobList, JobList__Output>;
}

let cached: Codecs | null = null;

export function codecs(): Codecs {
  if (cached !== null) return cached;
  const gateway = serviceDefinition("AgentGateway");
  const peer = serviceDefinition("PeerService");
  cached = {
    agentMessage: requestCodec(gateway.Connect!),
    controlMessage: responseCodec(gateway.Connect!),
    peerEnvelope: requestCodec(peer.Stream!),
    presenceUpdate: requestCodec(peer.AgentPresence!),
    relayedCommand: requestCodec(peer.RelayCommand!),
    jobList: responseCodec(serviceDefinition("JobService").List!),
  };
  return cached;
}

/** Encodes now (the sender's view at sending time) and decodes at the receiver. */
export function roundTrip<Input, Output>(codec: Codec<Input, Output>, message: Input): () => Output {
  const bytes = codec.encode(message);
  return () => codec.decode(bytes);
}
