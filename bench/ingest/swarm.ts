// A swarm of simulated agents, run as a worker process of the ingest benchmark. Each agent is a
// real AgentGateway.Connect stream doing what vigil-agent does on the wire: Hello, wait for
// Welcome, an inventory of its VMs, then lifecycle events with sequence numbers, at most
// `windowEvents` unacknowledged. It records the emit-to-ack latency of every event.
// Input: one JSON line on argv[2]; output: one JSON line (SwarmResult) on stdout.
import * as grpc from "@grpc/grpc-js";
import type { AgentGatewayClient } from "../../common/generated/vigil/v1/AgentGateway.js";
import type { AgentMessage } from "../../common/generated/vigil/v1/AgentMessage.js";
import type { ControlMessage__Output } from "../../common/generated/vigil/v1/ControlMessage.js";
import { clientConstructor } from "../../common/proto.js";
import * as protoLoader from "@grpc/proto-loader";
import { fileURLToPath } from "node:url";

export interface SwarmRequest {
  /** vigil: AgentGateway streams; etcd: the same events as one pipelined put each, as an etcd-based system would store them. */
  system: "vigil" | "etcd";
  endpoints: string[];
  firstAgent: number;
  agents: number;
  vmsPerAgent: number;
  windowEvents: number;
  /** Events per second per agent; 0 means as fast as the window allows. */
  ratePerAgent: number;
  warmupMs: number;
  measureMs: number;
  runId: string;
}

export interface SwarmResult {
  connected: number;
  ackedEvents: number;
  measuredMs: number;
  latenciesMs: number[];
  errors: string[];
}

function domain(agent: number, vm: number, running: boolean) {
  const uuid = `${String(agent).padStart(8, "0")}-0000-4000-8000-${String(vm).padStart(12, "0")}`;
  return { name: `bench-h${agent}-vm${vm}`, uuid, state: running ? "running" : "paused", reason: running ? "unpaused" : "user", vcpus: 1, memoryBytes: 67108864, persistent: true };
}

class SimulatedAgent {
  private seq = 0;
  private acked = 0;
  private readonly emittedAt = new Map<number, number>();
  private call: grpc.ClientDuplexStream<AgentMessage, ControlMessage__Output> | null = null;
  private nextVm = 0;
  welcomed = false;

  constructor(
    private readonly index: number,
    private readonly request: SwarmRequest,
    private readonly client: AgentGatewayClient,
    private readonly onAck: (latenciesMs: number[]) => void,
    private readonly onError: (message: string) => void,
  ) {}

  connect(): Promise<void> {
    const call = this.client.Connect();
    this.call = call;
    return new Promise((resolve) => {
      call.on("data", (message: ControlMessage__Output) => {
        if (message.body === "welcome") {
          this.welcomed = true;
          this.send({ inventory: { domains: Array.from({ length: this.request.vmsPerAgent }, (_, vm) => domain(this.index, vm, true)) } });
          resolve();
        } else if (message.body === "ack") {
          this.acknowledge(message.ack!.ackedSeq);
        }
      });
      call.on("error", (error: Error) => {
        this.onError(`agent ${this.index}: ${error.message}`);
        resolve();
      });
      call.write({ hello: { hostId: `bench-h${this.index}`, bootId: this.request.runId, sessionId: this.request.runId, agentVersion: "bench", lastAckedSeq: 0, highestTerm: 0 } });
    });
  }

  private send(body: Omit<NonNullable<AgentMessage["event"]>, "seq" | "atMs">): void {
    this.seq += 1;
    this.emittedAt.set(this.seq, performance.now());
    this.call!.write({ event: { seq: this.seq, atMs: Date.now(), ...body } });
  }

  private acknowledge(ackedSeq: number): void {
    const now = performance.now();
    const latencies: number[] = [];
    for (let seq = this.acked + 1; seq <= ackedSeq; seq++) {
      const at = this.emittedAt.get(seq);
      if (at !== undefined) latencies.push(now - at);
      this.emittedAt.delete(seq);
    }
    this.acked = Math.max(this.acked, ackedSeq);
    this.onAck(latencies);
  }

  /** Emits lifecycle events while the window has room; returns how many. */
  emit(budget: number): number {
    let sent = 0;
    while (sent < budget && this.seq - this.acked < this.request.windowEvents) {
      const vm = this.nextVm % this.request.vmsPerAgent;
      const running = Math.floor(this.nextVm / this.request.vmsPerAgent) % 2 === 1;
      this.nextVm += 1;
      this.send({ lifecycle: { domain: domain(this.index, vm, running), event: running ? "resumed" : "suspended", detail: running ? "unpaused" : "paused" } });
      sent += 1;
    }
    return sent;
  }

  close(): void {
    this.call?.cancel();
  }
}

interface EtcdKv extends grpc.Client {
  Put(request: { key: Buffer; value: Buffer }, options: grpc.CallOptions, callback: (error: grpc.ServiceError | null) => void): grpc.ClientUnaryCall;
}

function etcdKvConstructor(): grpc.ServiceClientConstructor {
  const path = fileURLToPath(new URL("../../../bench/replication/etcd.proto", import.meta.url));
  const definition = protoLoader.loadSync(path, { longs: String, defaults: true })["etcdserverpb.KV"];
  return grpc.makeGenericClientConstructor(definition as grpc.ServiceDefinition, "KV");
}

/** The etcd peer of SimulatedAgent: each event is a put under the host's prefix, pipelined within the same window. */
class EtcdAgent {
  private seq = 0;
  private inFlight = 0;
  private nextVm = 0;
  welcomed = true;

  constructor(
    private readonly index: number,
    private readonly request: SwarmRequest,
    private readonly kv: EtcdKv,
    private readonly onAck: (latenciesMs: number[]) => void,
    private readonly onError: (message: string) => void,
  ) {}

  async connect(): Promise<void> {
    const domains = Array.from({ length: this.request.vmsPerAgent }, (_, vm) => domain(this.index, vm, true));
    await Promise.all(domains.map((entry) => this.put(entry.uuid, { inventory: entry })));
  }

  private put(suffix: string, body: object): Promise<void> {
    this.seq += 1;
    const seq = this.seq;
    const key = Buffer.from(`/vigil/hosts/bench-h${this.index}/events/${String(seq).padStart(12, "0")}-${suffix}`);
    const value = Buffer.from(JSON.stringify({ seq, atMs: Date.now(), ...body }));
    const emittedAt = performance.now();
    this.inFlight += 1;
    return new Promise((resolve) =>
      this.kv.Put({ key, value }, { deadline: Date.now() + 30_000 }, (error) => {
        this.inFlight -= 1;
        if (error !== null) this.onError(`agent ${this.index}: ${error.message}`);
        else this.onAck([performance.now() - emittedAt]);
        resolve();
      }),
    );
  }

  emit(budget: number): number {
    let sent = 0;
    while (sent < budget && this.inFlight < this.request.windowEvents) {
      const vm = this.nextVm % this.request.vmsPerAgent;
      const running = Math.floor(this.nextVm / this.request.vmsPerAgent) % 2 === 1;
      this.nextVm += 1;
      void this.put("lifecycle", { lifecycle: { domain: domain(this.index, vm, running), event: running ? "resumed" : "suspended", detail: running ? "unpaused" : "paused" } });
      sent += 1;
    }
    return sent;
  }

  close(): void {}
}

async function runSwarm(request: SwarmRequest): Promise<SwarmResult> {
  const Client = request.system === "vigil" ? clientConstructor("AgentGateway") : etcdKvConstructor();
  // One channel per endpoint per swarm process: one HTTP/2 connection per simulated agent is too many for one process.
  const channels = request.endpoints.map((endpoint) => new Client(endpoint, grpc.credentials.createInsecure(), { "grpc.max_receive_message_length": 16 << 20 }));
  let measuring = false;
  let ackedEvents = 0;
  const latenciesMs: number[] = [];
  const errors: string[] = [];
  const agents = Array.from({ length: request.agents }, (_, offset) => {
    const index = request.firstAgent + offset;
    const onAck = (latencies: number[]) => {
      if (!measuring) return;
      ackedEvents += latencies.length;
      for (const latency of latencies) latenciesMs.push(latency);
    };
    const onError = (message: string) => void (errors.length < 20 && errors.push(message));
    const channel = channels[index % channels.length]!;
    return request.system === "vigil"
      ? new SimulatedAgent(index, request, channel as unknown as AgentGatewayClient, onAck, onError)
      : new EtcdAgent(index, request, channel as unknown as EtcdKv, onAck, onError);
  });
  await Promise.all(agents.map((agent) => agent.connect()));
  const connected = agents.filter((agent) => agent.welcomed).length;
  process.stderr.write(`swarm ${request.firstAgent}: ${connected}/${request.agents} agents connected\n`);
  // Connected and idle: the parent measures memory per connection now, then signals go.
  process.stdout.write(`${JSON.stringify({ phase: "connected", connected })}\n`);
  await new Promise((resolve) => process.stdin.once("data", resolve));

  const tickMs = 10;
  const perTick = request.ratePerAgent === 0 ? Number.MAX_SAFE_INTEGER : Math.max(1, Math.round((request.ratePerAgent * tickMs) / 1000));
  const started = performance.now();
  let measureStart = 0;
  await new Promise<void>((resolve) => {
    const pump = () => {
      const elapsed = performance.now() - started;
      if (!measuring && elapsed >= request.warmupMs) {
        measuring = true;
        measureStart = performance.now();
      }
      if (elapsed >= request.warmupMs + request.measureMs) return resolve();
      for (const agent of agents) agent.emit(perTick);
      setTimeout(pump, tickMs);
    };
    pump();
  });
  const measuredMs = performance.now() - measureStart;
  measuring = false;
  for (const agent of agents) agent.close();
  for (const channel of channels) channel.close();
  return { connected, ackedEvents, measuredMs, latenciesMs, errors };
}

const request = JSON.parse(process.argv[2] ?? "{}") as SwarmRequest;
runSwarm(request).then(
  (result) => {
    // Exit only once the (large) result line has left: stdout to a pipe is asynchronous.
    process.stdout.write(`${JSON.stringify({ phase: "done", ...result })}\n`, () => process.exit(0));
  },
  (error: unknown) => {
    process.stderr.write(`swarm failed: ${(error as Error).stack}\n`);
    process.exit(1);
  },
);
