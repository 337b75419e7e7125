// Loads the vigil gRPC definitions from proto/ (proto-loader applies the
// camelCase field names there; from a descriptor set it keeps snake_case). The
// real descriptor set built by scripts/build-descriptor.mjs (dist/proto/vigil.binpb)
// feeds server reflection, so strict clients see true files and imports.
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";

/** Options shared by every process: camelCase fields, enums as names, 64-bit integers as numbers. */
export const protoLoaderOptions: protoLoader.Options = {
  keepCase: false,
  longs: Number,
  enums: String,
  defaults: true,
  oneofs: true,
};

export function descriptorSetPath(): string {
  // dist/common/proto.js -> dist/proto/vigil.binpb
  return join(dirname(fileURLToPath(import.meta.url)), "..", "proto", "vigil.binpb");
}

let cachedBytes: Buffer | undefined;
export function descriptorSetBytes(): Buffer {
  cachedBytes ??= readFileSync(descriptorSetPath());
  return cachedBytes;
}

/** proto/ of the source tree or of an installed package: dist/common/proto.js -> ../../proto */
export function protoSourceDir(): string {
  return join(dirname(fileURLToPath(import.meta.url)), "..", "..", "proto");
}

export const protoFiles = ["vigil/v1/agent.proto", "vigil/v1/control.proto", "vigil/v1/peer.proto"];

let cachedDefinition: protoLoader.PackageDefinition | undefined;
export function packageDefinition(): protoLoader.PackageDefinition {
  cachedDefinition ??= protoLoader.loadSync(protoFiles, { ...protoLoaderOptions, includeDirs: [protoSourceDir()] });
  return cachedDefinition;
}

export type ServiceName =
  | "AgentGateway"
  | "ClusterService"
  | "HostService"
  | "VmService"
  | "JobService"
  | "PeerService";

export function serviceDefinition(name: ServiceName): grpc.ServiceDefinition {
  const definition = packageDefinition()[`vigil.v1.${name}`];
  if (definition === undefined) throw new Error(`service vigil.v1.${name} is not in the descriptor set`);
  return definition as grpc.ServiceDefinition;
}

/** A grpc-js client constructor for one vigil service. */
export function clientConstructor(name: ServiceName): grpc.ServiceClientConstructor {
  return grpc.makeGenericClientConstructor(serviceDefinition(name), name);
}
