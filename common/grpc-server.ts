// What every vigil gRPC port serves besides its own services: grpc.health.v1
// and server reflection fed from the real descriptor sets (LAB.md), so that
// grpcurl and `buf curl` can list, describe and call everything.
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import * as grpc from "@grpc/grpc-js";
import { ReflectionService } from "@grpc/reflection";
import { HealthImplementation, type ServingStatus } from "grpc-health-check";
import descriptor from "protobufjs/ext/descriptor/index.js";
import { descriptorSetBytes, descriptorSetPath } from "./proto.js";

/** The encoded FileDescriptorProtos of vigil's protos, google/protobuf imports and grpc.health.v1. */
function realFileDescriptorProtos(): Uint8Array[] {
  const healthSet = readFileSync(join(dirname(descriptorSetPath()), "health.binpb"));
  const files: Uint8Array[] = [];
  for (const bytes of [descriptorSetBytes(), healthSet]) {
    const set = descriptor.FileDescriptorSet.decode(bytes) as unknown as { file: object[] };
    for (const file of set.file) {
      files.push(descriptor.FileDescriptorProto.encode(file).finish());
    }
  }
  return files;
}

/**
 * Message size bound for every RPC, on servers and clients alike: an inventory of 10,000
 * domains fits well inside; anything larger is refused by grpc-js with RESOURCE_EXHAUSTED.
 */
export const messageBytesMax = 16 * 1024 * 1024;

/** Channel options every vigil client sets: the message bound both ways. */
export const clientMessageLimits = {
  "grpc.max_receive_message_length": messageBytesMax,
  "grpc.max_send_message_length": messageBytesMax,
} as const;

export interface ServerExtras {
  health: HealthImplementation;
  setServing(status: ServingStatus): void;
}

/**
 * Adds health and reflection to `server`. Health starts NOT_SERVING for the
 * whole server ("") and for each named service until the caller says it is ready.
 */
export function addHealthAndReflection(server: grpc.Server, serviceNames: string[]): ServerExtras {
  const initial: Record<string, ServingStatus> = { "": "NOT_SERVING" };
  for (const name of serviceNames) initial[name] = "NOT_SERVING";
  const health = new HealthImplementation(initial);
  health.addToServer(server);
  // ReflectionService reads only `fileDescriptorProtos` from each value of the definition.
  const definition = { vigil: { fileDescriptorProtos: realFileDescriptorProtos() } };
  const reflection = new ReflectionService(definition as never);
  reflection.addToServer(server);
  return {
    health,
    setServing(status) {
      health.setStatus("", status);
      for (const name of serviceNames) health.setStatus(name, status);
    },
  };
}

export function bindServer(server: grpc.Server, address: string, credentials: grpc.ServerCredentials): Promise<number> {
  return new Promise((resolve, reject) => {
    server.bindAsync(address, credentials, (error, port) => (error ? reject(error) : resolve(port)));
  });
}
