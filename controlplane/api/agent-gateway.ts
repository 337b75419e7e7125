// AgentGateway.Connect: one bidirectional stream per agent (DESIGN §4).
// Hello is committed first (the host exists in replicated state), then events
// are proposed in batches, one batch in flight per stream, and acknowledged
// only after they are committed and applied. Exactly-once comes from apply,
// which skips any seq at or below the host's applied_seq. The batches of every
// stream on this replica travel together: one entry per proposal round
// (AgentEventProposer), not one per stream.
import * as grpc from "@grpc/grpc-js";
import type { AgentEvent__Output } from "../../common/generated/vigil/v1/AgentEvent.js";
import type { AgentGatewayHandlers } from "../../common/generated/vigil/v1/AgentGateway.js";
import type { AgentMessage__Output } from "../../common/generated/vigil/v1/AgentMessage.js";
import type { ControlMessage } from "../../common/generated/vigil/v1/ControlMessage.js";
import type { Hello__Output } from "../../common/generated/vigil/v1/Hello.js";
import type { Clock } from "../../common/env.js";
import { errorMessage } from "../../common/errors.js";
import type { Logger } from "../../common/logging.js";
import type { ReplicatedLog } from "../replication/log.js";
import type { AgentSession, SessionRegistry } from "../primary/sessions.js";
import type { StateReader } from "../state/store.js";
import { eventProblem, heartbeatProblem, helloProblem } from "./agent-validation.js";

/**
 * Test-only faults that make the gateway deliberately unsafe, so that the simulator (test/sim) can
 * prove its checkers catch them. Never set in production.
 */
export const GatewayInjectedBug = {
  /** Acknowledge each event as soon as it arrives, before it is committed. */
  ackBeforeCommit: "ack-before-commit",
} as const;
export type GatewayInjectedBug = (typeof GatewayInjectedBug)[keyof typeof GatewayInjectedBug];

export interface AgentGatewayOptions {
  log: ReplicatedLog;
  /** This replica's applied state: read after HostHello commits, so it has the host. */
  reader: StateReader;
  sessions: SessionRegistry;
  clock: Clock;
  logger: Logger;
  keepaliveIntervalMs(): number;
  /** Events of one stream per proposal at most: no agent's backlog crowds out the others'. */
  batchEventsMax?: number;
  /**
   * Events of all streams per entry at most, an inventory counting as one per domain: bounds an
   * entry's size in the log and its apply time (one entry is applied at once, on every replica).
   */
  entryEventsMax?: number;
  /** Agent-event proposals of this replica in flight at most (a further one goes only with a full entry's worth waiting). */
  proposalsInFlightMax?: number;
  /** Test only: see GatewayInjectedBug. */
  injectedBug?: GatewayInjectedBug | null;
}

/**
 * The server side of one Connect call as the gateway uses it: grpc's ServerDuplexStream in
 * production, a simulated stream in the deterministic simulator (test/sim).
 */
export interface GatewayCall {
  on(event: "data", listener: (message: AgentMessage__Output) => void): unknown;
  on(event: "end" | "cancelled", listener: () => void): unknown;
  on(event: "error", listener: (error: Error) => void): unknown;
  write(message: ControlMessage): unknown;
  /** Ends the call with a non-OK status. */
  emit(event: "error", status: { code: grpc.status; details: string; metadata: grpc.Metadata }): unknown;
  end(): unknown;
}

class StreamFailure extends Error {
  constructor(
    readonly code: grpc.status,
    message: string,
  ) {
    super(message);
  }
}

/** One stream's share of an agent-events entry. */
interface StreamBatch {
  stream: AgentStream;
  hostId: string;
  events: AgentEvent__Output[];
  /** Its events with an inventory counted as one per domain (eventWeight). */
  weight: number;
}

/** What an event costs an entry: an inventory applies one row per domain. */
function eventWeight(event: AgentEvent__Output): number {
  return event.body === "inventory" ? 1 + (event.inventory?.domains.length ?? 0) : 1;
}

/**
 * Proposes the buffered events of every agent stream on this replica together, one entry
 * (AgentEventBatches) per round: with many agents, a stream's batch in one round is a handful of
 * events, and paying a proposal, a forward to the leader, a log entry and its apply overhead for
 * each was most of the cost of an event (bench/ingest). Group commit: while a proposal is in
 * flight, what arrives waits for the next one; a further proposal goes at once only when a full
 * entry's worth is waiting. No timer: an idle replica proposes the first event at once.
 *
 * Order and exactly-once (DESIGN §4) stay per stream: a stream has at most one batch in flight, so
 * its events reach the log in order however proposals of this replica interleave (a follower's
 * forwards may reach the leader out of order); apply skips any seq already applied.
 */
export class AgentEventProposer {
  /** Open streams with buffered events and no batch in flight, oldest first. */
  private readonly waiting = new Set<AgentStream>();
  /** Events buffered by the waiting streams (a trigger for a further proposal, not a bound). */
  private waitingEvents = 0;
  private inFlight = 0;
  /** Settling a round: streams offering their next events then wait for the round's end, so they go together. */
  private settling = false;
  private readonly streamBatchMax: number;
  private readonly entryEventsMax: number;
  private readonly inFlightMax: number;

  constructor(
    private readonly log: ReplicatedLog,
    limits: { batchEventsMax?: number; entryEventsMax?: number; proposalsInFlightMax?: number } = {},
  ) {
    this.streamBatchMax = limits.batchEventsMax ?? 512;
    this.entryEventsMax = Math.max(this.streamBatchMax, limits.entryEventsMax ?? 1_024);
    this.inFlightMax = limits.proposalsInFlightMax ?? 4;
  }

  /** `stream` buffered `added` more events; it has no batch in flight. */
  ready(stream: AgentStream, added: number): void {
    if (this.waiting.has(stream)) this.waitingEvents += added;
    else {
      this.waiting.add(stream);
      this.waitingEvents += stream.bufferedCount();
    }
    this.pump();
  }

  private pump(): void {
    if (this.settling) return;
    while (this.waiting.size > 0 && (this.inFlight === 0 || (this.inFlight < this.inFlightMax && this.waitingEvents >= this.entryEventsMax))) this.proposeRound();
  }

  private proposeRound(): void {
    const batches: StreamBatch[] = [];
    let weight = 0;
    for (const stream of this.waiting) {
      if (weight >= this.entryEventsMax) break;
      const buffered = stream.bufferedCount();
      const batch = stream.takeBatch(this.streamBatchMax, this.entryEventsMax - weight, batches.length === 0);
      // Its next event would overfill this entry: it heads the next one.
      if (batch === "does-not-fit") break;
      this.waiting.delete(stream);
      this.waitingEvents -= buffered;
      if (batch === null) continue;
      batches.push(batch);
      weight += batch.weight;
    }
    if (this.waiting.size === 0) this.waitingEvents = 0;
    if (batches.length === 0) return;
    this.inFlight += 1;
    const settle = (each: (batch: StreamBatch) => void) => {
      this.inFlight -= 1;
      this.settling = true;
      try {
        for (const batch of batches) each(batch);
      } finally {
        this.settling = false;
      }
      this.pump();
    };
    this.log.propose({ kind: "AgentEventBatches", hosts: batches.map((batch) => ({ hostId: batch.hostId, events: batch.events })) }).then(
      (notices) => {
        const appliedSeqs = new Map<string, number>();
        for (const notice of notices) if (notice.kind === "EventsApplied") appliedSeqs.set(notice.hostId, notice.appliedSeq);
        settle((batch) => batch.stream.batchCommitted(appliedSeqs.get(batch.hostId) ?? null));
      },
      (error: unknown) => settle((batch) => batch.stream.batchFailed(error)),
    );
  }
}

/** One agent stream's state: before hello, waiting for its commit, then open. */
class AgentStream {
  private phase: "awaiting-hello" | "registering" | "open" | "closed" = "awaiting-hello";
  private session: AgentSession | null = null;
  private hostId = "";
  private lastReceivedSeq = 0;
  private buffered: AgentEvent__Output[] = [];
  private proposing = false;
  private readonly logger: Logger;

  constructor(
    private readonly call: GatewayCall,
    private readonly options: AgentGatewayOptions,
    private readonly proposer: AgentEventProposer,
  ) {
    this.logger = options.logger;
    call.on("data", (message: AgentMessage__Output) => this.guard(() => this.receive(message)));
    call.on("end", () => this.finish(null));
    call.on("error", (error) => this.finish(error));
    call.on("cancelled", () => this.finish(null));
  }

  private guard(step: () => void): void {
    try {
      step();
    } catch (error) {
      const failure = error instanceof StreamFailure ? error : new StreamFailure(grpc.status.INTERNAL, errorMessage(error));
      this.fail(failure);
    }
  }

  private receive(message: AgentMessage__Output): void {
    if (this.phase === "closed") return;
    switch (message.body) {
      case "hello":
        return this.receiveHello(message.hello!);
      case "event":
        return this.receiveEvent(message.event!);
      case "heartbeat": {
        const problem = message.heartbeat ? heartbeatProblem(message.heartbeat) : null;
        if (problem !== null) throw new StreamFailure(grpc.status.INVALID_ARGUMENT, problem);
        if (this.session !== null) this.options.sessions.touch(this.session, this.options.clock.nowMs(), message.heartbeat?.stats ?? null);
        return;
      }
      default:
        throw new StreamFailure(grpc.status.INVALID_ARGUMENT, "agent message has no body");
    }
  }

  private receiveHello(hello: Hello__Output): void {
    if (this.phase !== "awaiting-hello") throw new StreamFailure(grpc.status.INVALID_ARGUMENT, "hello sent twice on one stream");
    const problem = helloProblem(hello);
    if (problem !== null) throw new StreamFailure(grpc.status.INVALID_ARGUMENT, problem);
    const { sessions } = this.options;
    // Any replica takes agent streams: a follower's proposals go to the leader, and it relays
    // presence, heartbeats and commands (agent-relay.ts).
    const connected = sessions.get(hello.hostId);
    if (connected !== undefined && connected.bootId !== hello.bootId) {
      throw new StreamFailure(
        grpc.status.FAILED_PRECONDITION,
        `host ${hello.hostId} is already connected from boot ${connected.bootId}; refusing boot ${hello.bootId}`,
      );
    }
    this.phase = "registering";
    this.hostId = hello.hostId;
    const capacity = hello.capacity;
    this.options.log
      .propose({
        kind: "HostHello",
        hostId: hello.hostId,
        bootId: hello.bootId,
        agentVersion: hello.agentVersion,
        migrationUri: hello.migrationUri,
        cpus: capacity?.cpus ?? 0,
        memoryBytes: capacity?.memoryBytes ?? 0,
        selfFenceMode: hello.selfFence?.mode || "off",
        selfFenceTimeoutMs: Number(hello.selfFence?.timeoutMs ?? 0),
      })
      .then(
        () => this.guard(() => this.open(hello)),
        (error: unknown) => this.fail(new StreamFailure(grpc.status.UNAVAILABLE, `could not register host: ${errorMessage(error)}`)),
      );
  }

  private open(hello: Hello__Output): void {
    if (this.phase === "closed") return;
    const { log, sessions, clock } = this.options;
    const host = this.options.reader.host(hello.hostId);
    const now = clock.nowMs();
    const session: AgentSession = {
      hostId: hello.hostId,
      bootId: hello.bootId,
      sessionId: hello.sessionId,
      via: null,
      connectedAtMs: now,
      lastHeartbeatMs: now,
      stats: hello.capacity ?? null,
      send: (command) => this.write({ command }),
      close: (reason) => this.fail(new StreamFailure(grpc.status.ABORTED, reason)),
    };
    const replaced = sessions.put(session);
    if (replaced !== undefined && replaced !== session) replaced.close(`replaced by a new stream of host ${hello.hostId}`);
    this.session = session;
    this.phase = "open";
    this.write({
      welcome: { term: log.currentTerm(), appliedSeq: host?.appliedSeq ?? 0, keepaliveIntervalMs: this.options.keepaliveIntervalMs(), replicaId: log.replicaId },
    });
    this.logger.info({ host: hello.hostId, boot: hello.bootId, term: log.currentTerm() }, "agent connected");
    this.offerBuffered(this.buffered.length);
  }

  private receiveEvent(event: AgentEvent__Output): void {
    if (this.phase === "awaiting-hello") throw new StreamFailure(grpc.status.INVALID_ARGUMENT, "the first message must be hello");
    const problem = eventProblem(event);
    if (problem !== null) throw new StreamFailure(grpc.status.INVALID_ARGUMENT, problem);
    // A report of a VM another host owns is still this host speaking about itself (its certificate
    // names it): apply records it as a conflict and leaves the owner and the VM's state alone.
    // Refusing it would wedge the agent: the event stays at the head of its outbox, the stream
    // reconnects forever, and a host that merely ran `virsh migrate` would end up dead and fenced.
    if (event.seq <= this.lastReceivedSeq) {
      throw new StreamFailure(grpc.status.INVALID_ARGUMENT, `event.seq ${event.seq} does not follow ${this.lastReceivedSeq}`);
    }
    this.lastReceivedSeq = event.seq;
    if (this.options.injectedBug === GatewayInjectedBug.ackBeforeCommit && this.phase === "open") this.write({ ack: { ackedSeq: event.seq } });
    this.buffered.push(event);
    this.offerBuffered(1);
  }

  /** Hands the buffered events to the proposer, one batch in flight: a slow log slows the agent, it never drops. */
  private offerBuffered(added: number): void {
    if (this.phase !== "open" || this.proposing || this.buffered.length === 0) return;
    this.proposer.ready(this, added);
  }

  bufferedCount(): number {
    return this.buffered.length;
  }

  /**
   * The proposer takes up to `maxEvents` buffered events of at most `maxWeight` (eventWeight) into
   * its next entry; the entry's first event (`first`) is taken whatever its weight. Null when the
   * stream can propose nothing now; "does-not-fit" when not even its next event fits.
   */
  takeBatch(maxEvents: number, maxWeight: number, first: boolean): StreamBatch | null | "does-not-fit" {
    if (this.phase !== "open" || this.proposing || this.buffered.length === 0) return null;
    let count = 0;
    let weight = 0;
    while (count < this.buffered.length && count < maxEvents) {
      const next = eventWeight(this.buffered[count]!);
      if (weight + next > maxWeight && !(first && count === 0)) break;
      weight += next;
      count += 1;
    }
    if (count === 0) return "does-not-fit";
    let events: AgentEvent__Output[];
    if (count === this.buffered.length) {
      events = this.buffered;
      this.buffered = [];
    } else {
      events = this.buffered.splice(0, count);
    }
    this.proposing = true;
    return { stream: this, hostId: this.hostId, events, weight };
  }

  /** The batch is committed and applied: acknowledge the host's applied sequence. */
  batchCommitted(appliedSeq: number | null): void {
    this.proposing = false;
    // Guarded: a failure here ends this stream only, never the other streams settled with it.
    this.guard(() => {
      if (appliedSeq !== null) this.write({ ack: { ackedSeq: appliedSeq } });
      this.offerBuffered(this.buffered.length);
    });
  }

  batchFailed(error: unknown): void {
    this.proposing = false;
    this.fail(new StreamFailure(grpc.status.UNAVAILABLE, `events not committed: ${errorMessage(error)}`));
  }

  private write(message: ControlMessage): void {
    if (this.phase === "closed") return;
    this.call.write(message);
  }

  private fail(failure: StreamFailure): void {
    if (this.phase === "closed") return;
    this.logger.warn({ host: this.hostId || undefined, code: grpc.status[failure.code] }, `agent stream closed: ${failure.message}`);
    this.call.emit("error", { code: failure.code, details: failure.message, metadata: new grpc.Metadata() });
    this.finish(null);
  }

  private finish(error: Error | null): void {
    if (this.phase === "closed") return;
    this.phase = "closed";
    if (this.session !== null) {
      this.options.sessions.remove(this.session);
      this.logger.info({ host: this.hostId, reason: error ? errorMessage(error) : "stream ended" }, "agent disconnected");
    }
    this.call.end();
  }
}

/** One replica's agent gateway: every stream it takes shares one event proposer. */
export class AgentGateway {
  private readonly proposer: AgentEventProposer;

  constructor(private readonly options: AgentGatewayOptions) {
    this.proposer = new AgentEventProposer(options.log, options);
  }

  /** Takes one agent stream: the gateway's whole life for that call happens through `call`. */
  accept(call: GatewayCall): void {
    new AgentStream(call, this.options, this.proposer);
  }
}

export function agentGatewayHandlers(options: AgentGatewayOptions): AgentGatewayHandlers {
  const gateway = new AgentGateway(options);
  return {
    Connect: (call) => gateway.accept(call),
  };
}
