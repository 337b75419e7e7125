// A swarm of simulated agents (simulated-agent.ts), run as a worker process of the ingest and scale
// benchmarks. It records the emit-to-ack latency of every event.
// Input: one JSON line on argv[2]. Output: a {"phase":"connected"} line once every agent is
// connected (and, with awaitInventoryAck, its inventory acknowledged); after "go" on stdin, the
// pump phase (events and/or heartbeats), then one {"phase":"done"} line (SwarmResult).
import * as grpc from "@grpc/grpc-js";
import type { AgentGatewayClient } from "../../common/generated/vigil/v1/AgentGateway.js";
import { clientConstructor } from "../../common/proto.js";
import * as protoLoader from "@grpc/proto-loader";
import { fileURLToPath } from "node:url";
import { SimulatedAgent, simulatedDomain, type SimulatedAgentSettings } from "./simulated-agent.js";

export interface SwarmRequest extends SimulatedAgentSettings {
  /** vigil: AgentGateway streams; etcd: the same events as one pipelined put each, as an etcd-based system would store them. */
  system: "vigil" | "etcd";
  endpoints: string[];
  firstAgent: number;
  agents: number;
  /** Events per second per agent; 0 means as fast as the window allows. */
  ratePerAgent: number;
  warmupMs: number;
  measureMs: number;
  /** Agents connecting at once (Hello to Welcome); all of them when absent. */
  connectConcurrency?: number;
  /** Report "connected" only once each agent's inventory (its first event) is acknowledged. */
  awaitInventoryAck?: boolean;
  /** Lifecycle events in the pump phase; true when absent. */
  events?: boolean;
  /** Heartbeats from Welcome until the end, one per agent per interval (the first at a random
   * point within it, as real agents drift apart); none when absent. */
  heartbeatIntervalMs?: number;
}

export interface SwarmResult {
  connected: number;
  ackedEvents: number;
  /** Acknowledged from "go" on, the warm-up included (the server's CPU is measured over that span). */
  ackedEventsWholePhase: number;
  measuredMs: number;
  latenciesMs: number[];
  errors: string[];
  heartbeatsSent: number;
  /** Streams opened again after a failure (resendOnReconnect). */
  reconnects: number;
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
  readonly inventoryAcked = Promise.resolve();

  constructor(
    private readonly index: number,
    private readonly request: SwarmRequest,
    private readonly kv: EtcdKv,
    private readonly onAck: (latenciesMs: number[]) => void,
    private readonly onError: (message: string) => void,
  ) {}

  async connect(): Promise<void> {
    const domains = Array.from({ length: this.request.vmsPerAgent }, (_, vm) => simulatedDomain(this.index, vm, true));
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
      void this.put("lifecycle", { lifecycle: { domain: simulatedDomain(this.index, vm, running), event: running ? "resumed" : "suspended", detail: running ? "unpaused" : "paused" } });
      sent += 1;
    }
    return sent;
  }

  startHeartbeats(): void {}

  close(): void {}
}

async function runSwarm(request: SwarmRequest): Promise<SwarmResult> {
  const Client = request.system === "vigil" ? clientConstructor("AgentGateway") : etcdKvConstructor();
  // One channel per endpoint per swarm process: one HTTP/2 connection per simulated agent is too many for one process.
  const channels = request.endpoints.map((endpoint) => new Client(endpoint, grpc.credentials.createInsecure(), { "grpc.max_receive_message_length": 16 << 20 }));
  let measuring = false;
  let ackedEvents = 0;
  let pumping = false;
  let ackedEventsWholePhase = 0;
  const latenciesMs: number[] = [];
  const errors: string[] = [];
  const agents = Array.from({ length: request.agents }, (_, offset) => {
    const index = request.firstAgent + offset;
    const onAck = (latencies: number[]) => {
      if (pumping) ackedEventsWholePhase += latencies.length;
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
  const heartbeatIntervalMs = request.heartbeatIntervalMs ?? 0;
  let heartbeatsSent = 0;
  const connectStarted = performance.now();
  const concurrency = request.connectConcurrency ?? agents.length;
  let nextToConnect = 0;
  await Promise.all(
    Array.from({ length: Math.min(concurrency, agents.length) }, async () => {
      while (nextToConnect < agents.length) {
        const agent = agents[nextToConnect++]!;
        await agent.connect();
        if (heartbeatIntervalMs > 0 && agent.welcomed) agent.startHeartbeats(heartbeatIntervalMs, () => void (measuring && (heartbeatsSent += 1)));
        if (request.awaitInventoryAck === true) await agent.inventoryAcked;
      }
    }),
  );
  const connectMs = performance.now() - connectStarted;
  const connected = agents.filter((agent) => agent.welcomed).length;
  process.stderr.write(`swarm ${request.firstAgent}: ${connected}/${request.agents} agents connected in ${connectMs.toFixed(0)} ms\n`);
  // Connected and idle: the parent measures memory per connection now, then signals go.
  process.stdout.write(`${JSON.stringify({ phase: "connected", connected, connectMs, errors: errors.slice(0, 5) })}\n`);
  await new Promise((resolve) => process.stdin.once("data", resolve));

  const tickMs = 10;
  // Paced: each agent's events due by now, carried over in fractions, so the offered rate is the
  // rate asked for (a whole number per 10 ms tick offered 20,000/s for 25,000/s) even when the
  // timer runs late.
  let owedPerAgent = 0;
  let lastPump = performance.now();
  const dueThisTick = (now: number): number => {
    if (request.ratePerAgent === 0) return Number.MAX_SAFE_INTEGER;
    owedPerAgent += (request.ratePerAgent * (now - lastPump)) / 1000;
    lastPump = now;
    const due = Math.floor(owedPerAgent);
    owedPerAgent -= due;
    return due;
  };
  const started = performance.now();
  pumping = true;
  let measureStart = 0;
  const sendEvents = request.events !== false;
  await new Promise<void>((resolve) => {
    const pump = () => {
      const elapsed = performance.now() - started;
      if (!measuring && elapsed >= request.warmupMs) {
        measuring = true;
        measureStart = performance.now();
      }
      if (elapsed >= request.warmupMs + request.measureMs) return resolve();
      const due = dueThisTick(performance.now());
      if (sendEvents && due > 0) for (const agent of agents) agent.emit(due);
      setTimeout(pump, tickMs);
    };
    pump();
  });
  const measuredMs = performance.now() - measureStart;
  measuring = false;
  pumping = false;
  for (const agent of agents) agent.close();
  for (const channel of channels) channel.close();
  const reconnects = agents.reduce((sum, agent) => sum + (agent instanceof SimulatedAgent ? agent.reconnects : 0), 0);
  return { connected, ackedEvents, ackedEventsWholePhase, measuredMs, latenciesMs, errors, heartbeatsSent, reconnects };
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
