// The two systems' public write paths behind one client shape, so the load and failover clients
// run the exact same pattern against both:
//  - vigil: vigil.v1.ClusterService/SetConfig {key: "command.timeout", value} — proposed,
//    committed and applied before it answers; a follower forwards it to the leader.
//  - etcd:  etcdserverpb.KV/Put {key: "command.timeout", value} — committed and applied before it
//    answers; a follower forwards it to the leader.
// The value is the same 19-byte string on both sides: the longest value SetConfig accepts for
// command.timeout (config-keys.ts: at most 12 digits, a point and 6 digits, ≤ 604800 seconds),
// a positive number of seconds with leading zeros, different for every write. (Until 2026-11-21
// it was 200 bytes; SetConfig now refuses that, so figures from before are not comparable.)
import { fileURLToPath } from "node:url";
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
import type { ClusterServiceClient } from "../../common/generated/vigil/v1/ClusterService.js";
import { clientConstructor } from "../../common/proto.js";

export const systemNames = ["vigil", "etcd"] as const;
export type SystemName = (typeof systemNames)[number];

export const writeKey = "command.timeout";
export const payloadBytes = 19;

/** The 19-byte value of write number `sequence`: 1.000001 s up to 600,000.999999 s, never 0. */
export function payloadValue(sequence: number): string {
  const whole = 1 + (Math.floor(sequence / 1_000_000) % 600_000);
  return `${String(whole).padStart(12, "0")}.${String(sequence % 1_000_000).padStart(6, "0")}`;
}

/** Options of every client channel, both systems: reconnect quickly after a member restarts. */
const channelOptions: grpc.ChannelOptions = {
  "grpc.initial_reconnect_backoff_ms": 100,
  "grpc.max_reconnect_backoff_ms": 1_000,
};

const statusChannelOptions: grpc.ChannelOptions = { ...channelOptions, "grpc.use_local_subchannel_pool": 1 };

export interface MemberStatus {
  /** The member's own id, or null when the system does not say (vigil: the caller knows it). */
  self: string | null;
  /** The leader this member knows of, or null. */
  leader: string | null;
  term: number;
}

export interface SystemClient {
  readonly system: SystemName;
  /** One write of `value` through endpoint `endpointIndex`; resolves once acknowledged. */
  write(endpointIndex: number, value: string, deadlineMs: number): Promise<void>;
  status(endpointIndex: number, deadlineMs: number): Promise<MemberStatus>;
  close(): void;
}

function deadlineIn(ms: number): grpc.Deadline {
  return Date.now() + ms;
}

class VigilClient implements SystemClient {
  readonly system = "vigil" as const;
  private readonly clients: ClusterServiceClient[];
  private readonly statusClients: ClusterServiceClient[];

  constructor(endpoints: readonly string[]) {
    const Client = clientConstructor("ClusterService");
    this.clients = endpoints.map((endpoint) => new Client(endpoint, grpc.credentials.createInsecure(), channelOptions) as unknown as ClusterServiceClient);
    // Status on its own connection, as a separate client would: it never queues behind the load.
    this.statusClients = endpoints.map((endpoint) => new Client(endpoint, grpc.credentials.createInsecure(), statusChannelOptions) as unknown as ClusterServiceClient);
  }

  write(endpointIndex: number, value: string, deadlineMs: number): Promise<void> {
    return new Promise((resolve, reject) =>
      this.clients[endpointIndex]!.SetConfig({ key: writeKey, value }, { deadline: deadlineIn(deadlineMs) }, (error) => (error === null ? resolve() : reject(error))),
    );
  }

  status(endpointIndex: number, deadlineMs: number): Promise<MemberStatus> {
    return new Promise((resolve, reject) =>
      this.statusClients[endpointIndex]!.Status({}, { deadline: deadlineIn(deadlineMs) }, (error, response) => {
        if (error !== null || response === undefined) return reject(error ?? new Error("empty status"));
        resolve({ self: null, leader: response.leader === "" ? null : response.leader, term: response.term });
      }),
    );
  }

  close(): void {
    for (const client of [...this.clients, ...this.statusClients]) client.close();
  }
}

interface EtcdHeader {
  memberId: string;
  raftTerm: string;
}

interface EtcdStatusResponse {
  header: EtcdHeader | null;
  leader: string;
  raftTerm: string;
  raftIndex: string;
}

type Callback<T> = (error: grpc.ServiceError | null, response?: T) => void;

/** The two calls of etcd's API the benchmark makes (bench/replication/etcd.proto). */
interface EtcdKvClient extends grpc.Client {
  Put(request: { key: Buffer; value: Buffer }, options: grpc.CallOptions, callback: Callback<{ header: EtcdHeader | null }>): grpc.ClientUnaryCall;
  Range(request: { key: Buffer }, options: grpc.CallOptions, callback: Callback<{ kvs: { value: Buffer }[] }>): grpc.ClientUnaryCall;
}

interface EtcdMaintenanceClient extends grpc.Client {
  Status(request: object, options: grpc.CallOptions, callback: Callback<EtcdStatusResponse>): grpc.ClientUnaryCall;
}

const etcdProtoPath = fileURLToPath(new URL("../../../bench/replication/etcd.proto", import.meta.url));
let etcdDefinition: protoLoader.PackageDefinition | undefined;

function etcdConstructor(service: "KV" | "Maintenance"): grpc.ServiceClientConstructor {
  // Numbers as strings: member ids are 64-bit.
  etcdDefinition ??= protoLoader.loadSync(etcdProtoPath, { longs: String, defaults: true });
  const definition = etcdDefinition[`etcdserverpb.${service}`];
  if (definition === undefined) throw new Error(`etcdserverpb.${service} is not in ${etcdProtoPath}`);
  return grpc.makeGenericClientConstructor(definition as grpc.ServiceDefinition, service);
}

class EtcdClient implements SystemClient {
  readonly system = "etcd" as const;
  private readonly kv: EtcdKvClient[];
  private readonly maintenance: EtcdMaintenanceClient[];
  private readonly key = Buffer.from(writeKey);

  constructor(endpoints: readonly string[]) {
    const Kv = etcdConstructor("KV");
    const Maintenance = etcdConstructor("Maintenance");
    this.kv = endpoints.map((endpoint) => new Kv(endpoint, grpc.credentials.createInsecure(), channelOptions) as unknown as EtcdKvClient);
    // Status on its own connection, as a separate client would: it never queues behind the load.
    this.maintenance = endpoints.map((endpoint) => new Maintenance(endpoint, grpc.credentials.createInsecure(), statusChannelOptions) as unknown as EtcdMaintenanceClient);
  }

  write(endpointIndex: number, value: string, deadlineMs: number): Promise<void> {
    return new Promise((resolve, reject) =>
      this.kv[endpointIndex]!.Put({ key: this.key, value: Buffer.from(value) }, { deadline: deadlineIn(deadlineMs) }, (error) => (error === null ? resolve() : reject(error))),
    );
  }

  /** The value stored under the benchmark's key (a linearizable read), to check the writes landed. */
  read(endpointIndex: number, deadlineMs: number): Promise<string | null> {
    return new Promise((resolve, reject) =>
      this.kv[endpointIndex]!.Range({ key: this.key }, { deadline: deadlineIn(deadlineMs) }, (error, response) => {
        if (error !== null || response === undefined) return reject(error ?? new Error("empty range"));
        resolve(response.kvs[0]?.value.toString("utf8") ?? null);
      }),
    );
  }

  status(endpointIndex: number, deadlineMs: number): Promise<MemberStatus> {
    return new Promise((resolve, reject) =>
      this.maintenance[endpointIndex]!.Status({}, { deadline: deadlineIn(deadlineMs) }, (error, response) => {
        if (error !== null || response === undefined) return reject(error ?? new Error("empty status"));
        resolve({ self: response.header?.memberId ?? null, leader: response.leader === "0" ? null : response.leader, term: Number(response.raftTerm) });
      }),
    );
  }

  close(): void {
    for (const client of [...this.kv, ...this.maintenance]) client.close();
  }
}

export function systemClient(system: SystemName, endpoints: readonly string[]): SystemClient {
  return system === "vigil" ? new VigilClient(endpoints) : new EtcdClient(endpoints);
}

export function etcdClient(endpoints: readonly string[]): EtcdClient {
  return new EtcdClient(endpoints);
}
