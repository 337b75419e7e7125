// The RPC fuzzer: sends seeded random and mutated protobuf messages to every public and agent RPC
// (and the peer RPCs) of a real vigild, one case at a time, and checks:
// 1. every call ends with a gRPC status (each has a deadline; the run ends by itself);
// 2. no handler fails with INTERNAL or UNKNOWN (a message grpc-js cannot decode is its own
//    INTERNAL "Error deserializing request", counted apart);
// 3. a refused call commits nothing: the commit index is the same before and after it; a call
//    the server accepts may change state, and the state digest is taken again after it;
// 4. at the end the state digest equals the last one taken, and the caller checks the processes.
import * as grpc from "@grpc/grpc-js";
import { seededRng } from "../../common/env.js";
import { clientConstructor, protoLoaderOptions, type ServiceName } from "../../common/proto.js";
import type { Hello__Output } from "../../common/generated/vigil/v1/Hello.js";
import { helloProblem } from "../../controlplane/api/agent-validation.js";
import { Generator, fuzzMethods, type FuzzMethod } from "./messages.js";

export const fuzzServices = ["ClusterService", "HostService", "VmService", "JobService", "AgentGateway", "PeerService"] as const;

export interface FuzzOptions {
  cases: number;
  seed: number;
  endpoints: string[];
  /** Credentials per service (mTLS runs use an agent certificate for AgentGateway, and so on). */
  credentials(service: ServiceName): grpc.ChannelCredentials;
  nearValidStrings: string[];
  /** Progress lines (the CLI prints them; tests stay quiet). */
  progress?: (line: string) => void;
}

export interface FuzzReport {
  cases: number;
  mutatedCases: number;
  statuses: Record<string, number>;
  /** "path STATUS" -> count: what each method answered. */
  byMethod: Record<string, number>;
  /** Accepted calls that changed state, as "case N: path". */
  acceptedWrites: string[];
  /** Broken properties, each with the case number that reproduces it under the same seed. */
  findings: string[];
  durationMs: number;
}

const unaryDeadlineMs = 3_000;
const streamDeadlineMs = 1_500;
/** `events --follow` never ends by itself: its deadline ends it. */
const serverStreamDeadlineMs = 200;
const identity = (bytes: Buffer) => bytes;

interface CallOutcome {
  code: grpc.status;
  details: string;
  welcomed: boolean;
}

class Clients {
  private readonly raw = new Map<string, grpc.Client>();
  private readonly typed = new Map<string, grpc.Client>();

  constructor(private readonly credentials: (service: ServiceName) => grpc.ChannelCredentials) {}

  rawClient(endpoint: string, service: ServiceName): grpc.Client {
    const key = `${endpoint} ${service}`;
    let client = this.raw.get(key);
    if (client === undefined) {
      client = new grpc.Client(endpoint, this.credentials(service), { "grpc.max_send_message_length": -1 });
      this.raw.set(key, client);
    }
    return client;
  }

  typedClient<T>(endpoint: string, service: ServiceName): T {
    const key = `${endpoint} ${service}`;
    let client = this.typed.get(key);
    if (client === undefined) {
      client = new (clientConstructor(service))(endpoint, this.credentials(service));
      this.typed.set(key, client);
    }
    return client as unknown as T;
  }

  close(): void {
    for (const client of [...this.raw.values(), ...this.typed.values()]) client.close();
  }
}

type UnaryMethod = (request: object, options: grpc.CallOptions, callback: (error: grpc.ServiceError | null, response?: Record<string, unknown>) => void) => void;

function typedUnary(client: unknown, method: string, request: object): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) =>
    (client as Record<string, UnaryMethod>)[method]!.call(client, request, { deadline: Date.now() + 5_000 }, (error, response) => (error === null ? resolve(response ?? {}) : reject(error))),
  );
}

/** Observer calls ride out a leader change (an accepted TransferPrimary): UNAVAILABLE is retried this long. */
const observerPatienceMs = 15_000;

async function patiently<T>(read: () => Promise<T>): Promise<T> {
  const deadline = Date.now() + observerPatienceMs;
  for (;;) {
    try {
      return await read();
    } catch (error) {
      if ((error as grpc.ServiceError).code !== grpc.status.UNAVAILABLE || Date.now() > deadline) throw error;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
}

/** The commit index the first endpoint knows: any committed entry moves it. */
function commitIndex(clients: Clients, endpoint: string): Promise<number> {
  return patiently(async () => {
    const status = await typedUnary(clients.typedClient(endpoint, "ClusterService"), "Status", {});
    return Math.max(0, ...((status.members as { commitIndex: number }[]) ?? []).map((member) => member.commitIndex));
  });
}

/** After an accepted write: the commit index once it has stopped moving (a new leader's own entries land). */
async function settledCommitIndex(clients: Clients, endpoint: string): Promise<number> {
  let previous = await commitIndex(clients, endpoint);
  for (let attempt = 0; attempt < 100; attempt += 1) {
    await new Promise((resolve) => setTimeout(resolve, 50));
    const current = await commitIndex(clients, endpoint);
    if (current === previous) return current;
    previous = current;
  }
  return previous;
}

/** Hosts, VMs, configuration and the cluster flags, without the fields that move by themselves (liveness, stats). */
export function stateDigest(clients: Clients, endpoint: string): Promise<string> {
  return patiently(() => readStateDigest(clients, endpoint));
}

async function readStateDigest(clients: Clients, endpoint: string): Promise<string> {
  const hosts = (await typedUnary(clients.typedClient(endpoint, "HostService"), "List", {})).hosts as Record<string, unknown>[];
  const vms = (await typedUnary(clients.typedClient(endpoint, "VmService"), "List", {})).vms as Record<string, unknown>[];
  const config = await typedUnary(clients.typedClient(endpoint, "ClusterService"), "GetConfig", {});
  const status = await typedUnary(clients.typedClient(endpoint, "ClusterService"), "Status", {});
  const stableHosts = hosts.map(({ id, state, bootId, agentVersion, migrationUri, appliedSeq, eventsApplied, maintenance, cpus, memoryBytes }) => ({ id, state, bootId, agentVersion, migrationUri, appliedSeq, eventsApplied, maintenance, cpus, memoryBytes }));
  const members = (status.members as { id: string; address: string }[]).map(({ id, address }) => ({ id, address }));
  return JSON.stringify({ hosts: stableHosts, vms, config, maintenance: status.maintenance, members });
}

function settle(resolve: (outcome: CallOutcome) => void, welcomed: () => boolean) {
  return (status: grpc.StatusObject) => resolve({ code: status.code, details: status.details, welcomed: welcomed() });
}

/** Sends one case; resolves with the call's status. */
function sendCase(client: grpc.Client, method: FuzzMethod, messages: Buffer[], controlMessage: (bytes: Buffer) => boolean): Promise<CallOutcome> {
  return new Promise((resolve) => {
    const deadline = Date.now() + (method.requestStream ? streamDeadlineMs : method.responseStream ? serverStreamDeadlineMs : unaryDeadlineMs);
    if (!method.requestStream && !method.responseStream) {
      client.makeUnaryRequest(method.path, identity, identity, messages[0]!, { deadline }, (error) =>
        resolve(error === null ? { code: grpc.status.OK, details: "", welcomed: false } : { code: error.code, details: error.details, welcomed: false }),
      );
      return;
    }
    let welcomed = false;
    if (!method.requestStream) {
      const call = client.makeServerStreamRequest(method.path, identity, identity, messages[0]!, { deadline });
      call.on("data", () => undefined);
      call.on("error", () => undefined);
      call.on("status", settle(resolve, () => welcomed));
      return;
    }
    const call = method.responseStream
      ? client.makeBidiStreamRequest(method.path, identity, identity, { deadline })
      : client.makeClientStreamRequest(method.path, identity, identity, { deadline }, () => undefined);
    call.on("data", (bytes: Buffer) => {
      if (controlMessage(bytes)) welcomed = true;
    });
    call.on("error", () => undefined);
    call.on("status", settle(resolve, () => welcomed));
    for (const bytes of messages) call.write(bytes);
    call.end();
  });
}

export async function runFuzz(options: FuzzOptions): Promise<FuzzReport> {
  const startedMs = performance.now();
  const generator = new Generator(seededRng(options.seed), options.nearValidStrings);
  const methods = fuzzMethods(fuzzServices);
  const agentMessage = methods.find((method) => method.path === "/vigil.v1.AgentGateway/Connect")!.requestType;
  const controlMessage = agentMessage.root.lookupType("vigil.v1.ControlMessage");
  const hello = agentMessage.root.lookupType("vigil.v1.Hello");
  // A valid hello registers its host even when a later message on the stream is refused: that
  // registration was asked for and is not a half-applied refusal (judged by the gateway's own check).
  const opensWithValidHello = (bytes: Buffer) => {
    try {
      const message = agentMessage.toObject(agentMessage.decode(bytes), { ...protoLoaderOptions, longs: Number, enums: String }) as { body?: string; hello?: Hello__Output };
      return message.body === "hello" && message.hello !== undefined && helloProblem(message.hello) === null;
    } catch {
      return false;
    }
  };
  const isWelcome = (bytes: Buffer) => {
    try {
      return (controlMessage.decode(bytes) as unknown as { welcome?: object }).welcome != null;
    } catch {
      return false;
    }
  };
  const clients = new Clients(options.credentials);
  const report: FuzzReport = { cases: 0, mutatedCases: 0, statuses: {}, byMethod: {}, acceptedWrites: [], findings: [], durationMs: 0 };
  const observer = options.endpoints[0]!;
  let digest = await stateDigest(clients, observer);
  let committed = await settledCommitIndex(clients, observer);
  try {
    for (let index = 0; index < options.cases; index += 1) {
      const method = generator.pick(methods);
      const messages: Buffer[] = [];
      let mutated = false;
      const count = method.requestStream ? 1 + generator.integer(4) : 1;
      for (let position = 0; position < count; position += 1) {
        // An agent stream starts with a hello most of the time, so that events reach the gateway's checks.
        const template = method.path.endsWith("/Connect") && position === 0 && generator.chance(0.7) ? { hello: generator.message(hello) } : undefined;
        const encoded = generator.encoded(method.requestType, template);
        mutated ||= encoded.mutated;
        messages.push(encoded.bytes);
      }
      const endpoint = generator.pick(options.endpoints);
      const outcome = await sendCase(clients.rawClient(endpoint, method.service as ServiceName), method, messages, isWelcome);
      report.cases += 1;
      if (mutated) report.mutatedCases += 1;
      const name = grpc.status[outcome.code] ?? String(outcome.code);
      report.statuses[name] = (report.statuses[name] ?? 0) + 1;
      const methodKey = `${method.service}.${method.name} ${name}`;
      report.byMethod[methodKey] = (report.byMethod[methodKey] ?? 0) + 1;
      const where = `case ${index} (seed ${options.seed}): ${method.path}`;
      const decodeFailure = outcome.code === grpc.status.INTERNAL && outcome.details.startsWith("Error deserializing request");
      if ((outcome.code === grpc.status.INTERNAL && !decodeFailure) || outcome.code === grpc.status.UNKNOWN) report.findings.push(`${where}: ${name} ${outcome.details}`);
      // A valid hello registers its host even when the stream then fails: its commit may land a
      // moment after the status, so wait for the index to settle before judging the next case.
      const mayHaveWritten = outcome.code === grpc.status.OK || outcome.welcomed || (method.path.endsWith("/Connect") && opensWithValidHello(messages[0]!));
      let nowCommitted: number;
      try {
        nowCommitted = method.path.endsWith("/Connect") && mayHaveWritten ? await settledCommitIndex(clients, observer) : await commitIndex(clients, observer);
      } catch (error) {
        report.findings.push(`${where}: answered ${name} (${outcome.details}); then the server stopped answering: ${(error as Error).message}`);
        break;
      }
      if (nowCommitted !== committed) {
        if (mayHaveWritten) {
          report.acceptedWrites.push(`case ${index}: ${method.path}`);
          try {
            nowCommitted = await settledCommitIndex(clients, observer);
            digest = await stateDigest(clients, observer);
          } catch (error) {
            report.findings.push(`${where}: accepted; then the cluster stopped answering: ${(error as Error).message}`);
            break;
          }
        } else {
          // The primary's duties commit on their own too (liveness, the steps of an accepted flush or
          // migration): a refused call is judged by the state it could have changed, not the index alone.
          const nowDigest = await stateDigest(clients, observer).catch((error: Error) => `unreadable: ${error.message}`);
          if (nowDigest !== digest) report.findings.push(`${where}: refused with ${name} (${outcome.details}) but the state changed as the commit index moved ${committed} -> ${nowCommitted}:\n  before ${digest}\n  after  ${nowDigest}`);
        }
        committed = nowCommitted;
      }
      if (options.progress !== undefined && (index + 1) % 1000 === 0) options.progress(`${index + 1} cases, ${report.findings.length} findings`);
    }
    const finalDigest = report.findings.length > 0 ? digest : await stateDigest(clients, observer).catch((error: Error) => `unreadable: ${error.message}`);
    if (finalDigest !== digest) report.findings.push(`the state digest changed without an accepted write:\n  before ${digest}\n  after  ${finalDigest}`);
  } finally {
    clients.close();
  }
  report.durationMs = Math.round(performance.now() - startedMs);
  return report;
}
