// The agent's link to the control plane (DESIGN §4): one AgentGateway.Connect
// stream at a time, to any endpoint, rotating on failure with jittered backoff.
// After Welcome it resends every journaled event after the acknowledged
// sequence, keeping at most `inFlightEventsMax` unacknowledged on the wire: a
// slow control plane slows the agent, nothing is dropped, memory stays bounded.
import * as grpc from "@grpc/grpc-js";
import type { AgentMessage } from "../common/generated/vigil/v1/AgentMessage.js";
import type { Command__Output } from "../common/generated/vigil/v1/Command.js";
import type { ControlMessage__Output } from "../common/generated/vigil/v1/ControlMessage.js";
import type { Hello } from "../common/generated/vigil/v1/Hello.js";
import type { HostStats } from "../common/generated/vigil/v1/HostStats.js";
import type { Welcome__Output } from "../common/generated/vigil/v1/Welcome.js";
import { assert } from "../common/assert.js";
import type { Cancel, Clock, Rng, Timers } from "../common/env.js";
import { errorMessage } from "../common/errors.js";
import type { Logger } from "../common/logging.js";
import { clientMessageLimits } from "../common/grpc-server.js";
import { clientConstructor } from "../common/proto.js";
import { backoffDelayMs, reconnectBackoff } from "./backoff.js";
import type { Journal } from "./journal.js";

/** One Connect call as the link uses it: grpc's ClientDuplexStream in production, a simulated one in test/sim. */
export interface AgentCall {
  write(message: AgentMessage): unknown;
  end(): unknown;
  cancel(): void;
  on(event: "data", listener: (message: ControlMessage__Output) => void): unknown;
  on(event: "status", listener: (status: { code: number; details: string }) => void): unknown;
  on(event: "error", listener: (error: Error) => void): unknown;
}

/** A Connect call and a way to release its channel. */
export interface AgentConnection {
  call: AgentCall;
  close(): void;
}

/** Opens AgentGateway.Connect to `endpoint`. */
export type AgentConnector = (endpoint: string) => AgentConnection;

export interface LinkOptions {
  endpoints: string[];
  /** Used by the default connector (a grpc-js client per stream); not needed when `connect` is given. */
  credentials?: grpc.ChannelCredentials;
  /** Opens a stream; the grpc-js client by default, the simulated network in test/sim. */
  connect?: AgentConnector;
  journal: Journal;
  clock: Clock;
  timers: Timers;
  rng: Rng;
  logger: Logger;
  hello(): Hello;
  /** Runs after Welcome and before resending: journals the fresh inventory. */
  onWelcome(welcome: Welcome__Output): Promise<void>;
  onCommand(command: Command__Output): void;
  heartbeatStats(): HostStats;
  /**
   * The control plane provably took a message sent at `sentAtMs` (clock.monotonicMs()): Welcome
   * answers the stream's Hello, an Ack the events up to its seq. The self-fence clock's contact.
   */
  onContact?(sentAtMs: number): void;
  inFlightEventsMax?: number;
  welcomeTimeoutMs?: number;
}

interface ActiveStream {
  call: AgentCall;
  welcomed: boolean;
  sentUpToSeq: number;
  ackedSeq: number;
  cancelHeartbeat: Cancel | null;
  helloSentAtMs: number;
  /** Send time of each unacknowledged event on this stream (at most the in-flight window). */
  sentAtBySeq: Map<number, number>;
}

const sendBatchMax = 64;
/** An outbox this deep means the control plane has been unreachable a while: say so, once. */
export const outboxBacklogWarningEvents = 10_000;

export class ControlPlaneLink {
  private stopped = false;
  private attempt = 0;
  private endpointIndex = 0;
  private active: ActiveStream | null = null;
  private wakeBackoff: (() => void) | null = null;
  private loop: Promise<void> | null = null;
  private readonly inFlightEventsMax: number;
  private readonly connect: AgentConnector;
  private connectedListeners = new Set<(connected: boolean) => void>();

  constructor(private readonly options: LinkOptions) {
    this.inFlightEventsMax = options.inFlightEventsMax ?? 256;
    this.connect = options.connect ?? grpcConnector(options.credentials);
  }

  start(): void {
    this.loop ??= this.run();
  }

  isConnected(): boolean {
    return this.active?.welcomed === true;
  }

  onConnectedChange(listener: (connected: boolean) => void): () => void {
    this.connectedListeners.add(listener);
    return () => this.connectedListeners.delete(listener);
  }

  private backlogWarned = false;

  /** New events were journaled: send what the window allows. */
  notify(): void {
    this.checkBacklog();
    if (this.active?.welcomed) this.pump(this.active);
  }

  /** Warns once when the unacknowledged backlog passes the threshold, and once when it drains below a tenth. */
  private checkBacklog(): void {
    const { journal, logger } = this.options;
    const backlog = journal.lastSeq() - journal.lastAckedSeq();
    if (!this.backlogWarned && backlog >= outboxBacklogWarningEvents) {
      this.backlogWarned = true;
      logger.warn({ backlog, connected: this.isConnected() }, "outbox backlog is large: events are kept on disk until the control plane acknowledges them");
    } else if (this.backlogWarned && backlog < outboxBacklogWarningEvents / 10) {
      this.backlogWarned = false;
      logger.info({ backlog }, "outbox backlog drained");
    }
  }

  /** Stops the stream and its heartbeats. Call it last: the keepalive is the last thing to stop. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.wakeBackoff?.();
    const active = this.active;
    if (active !== null) {
      active.cancelHeartbeat?.();
      active.call.end();
      active.call.cancel();
    }
    await this.loop;
  }

  private async run(): Promise<void> {
    const { endpoints, logger } = this.options;
    while (!this.stopped) {
      const endpoint = endpoints[this.endpointIndex % endpoints.length]!;
      const welcomed = await this.session(endpoint);
      if (this.stopped) break;
      this.attempt = welcomed ? 0 : this.attempt + 1;
      this.endpointIndex += 1;
      const delayMs = backoffDelayMs(reconnectBackoff, this.attempt, this.options.rng.next());
      logger.info({ endpoint, delayMs, attempt: this.attempt }, "reconnecting to the control plane");
      await new Promise<void>((resolve) => {
        const cancel = this.options.timers.after(delayMs, resolve);
        this.wakeBackoff = () => {
          cancel();
          resolve();
        };
      });
      this.wakeBackoff = null;
    }
  }

  /** One stream's life; resolves when it ends, with whether it was welcomed. */
  private session(endpoint: string): Promise<boolean> {
    const { logger, timers } = this.options;
    return new Promise((resolve) => {
      const connection = this.connect(endpoint);
      const call = connection.call;
      const active: ActiveStream = { call, welcomed: false, sentUpToSeq: 0, ackedSeq: 0, cancelHeartbeat: null, helloSentAtMs: 0, sentAtBySeq: new Map() };
      this.active = active;
      const cancelWelcomeWait = timers.after(this.options.welcomeTimeoutMs ?? 15_000, () => {
        if (!active.welcomed) {
          logger.warn({ endpoint }, "no welcome from the control plane in time");
          call.cancel();
        }
      });
      let finished = false;
      const finish = (reason: string) => {
        if (finished) return;
        finished = true;
        cancelWelcomeWait();
        active.cancelHeartbeat?.();
        if (this.active === active) this.active = null;
        connection.close();
        if (active.welcomed) for (const listener of this.connectedListeners) listener(false);
        logger.info({ endpoint, reason }, "control plane stream ended");
        resolve(active.welcomed);
      };
      call.on("data", (message: ControlMessage__Output) => {
        this.receive(active, message).catch((error: unknown) => {
          logger.error({ err: errorMessage(error) }, "handling a control plane message failed");
          call.cancel();
        });
      });
      call.on("status", (status) => finish(status.code === grpc.status.OK ? "closed" : `${grpc.status[status.code]}: ${status.details}`));
      call.on("error", (error) => finish(errorMessage(error)));
      active.helloSentAtMs = this.options.clock.monotonicMs();
      call.write({ hello: this.options.hello() });
    });
  }

  private async receive(active: ActiveStream, message: ControlMessage__Output): Promise<void> {
    switch (message.body) {
      case "welcome":
        return this.welcome(active, message.welcome!);
      case "ack": {
        const ackedSeq = message.ack!.ackedSeq;
        this.options.journal.acknowledge(ackedSeq);
        active.ackedSeq = Math.max(active.ackedSeq, ackedSeq);
        this.reportAckedContact(active, ackedSeq);
        this.checkBacklog();
        return this.pump(active);
      }
      case "command":
        if (!active.welcomed) return;
        return this.options.onCommand(message.command!);
      default:
        return;
    }
  }

  private async welcome(active: ActiveStream, welcome: Welcome__Output): Promise<void> {
    const { journal, logger } = this.options;
    journal.raiseTerm(welcome.term);
    journal.adoptAppliedSeq(welcome.appliedSeq);
    active.ackedSeq = journal.lastAckedSeq();
    active.sentUpToSeq = active.ackedSeq;
    await this.options.onWelcome(welcome);
    active.welcomed = true;
    logger.info({ term: welcome.term, replica: welcome.replicaId, appliedSeq: welcome.appliedSeq, backlog: journal.lastSeq() - active.ackedSeq }, "connected to the control plane");
    for (const listener of this.connectedListeners) listener(true);
    this.options.onContact?.(active.helloSentAtMs);
    this.scheduleHeartbeat(active, Math.max(100, welcome.keepaliveIntervalMs));
    this.pump(active);
  }

  private scheduleHeartbeat(active: ActiveStream, intervalMs: number): void {
    const beat = () => {
      if (this.active !== active) return;
      active.call.write({ heartbeat: { sentAtMs: this.options.clock.nowMs(), stats: this.options.heartbeatStats() } });
      active.cancelHeartbeat = this.options.timers.after(intervalMs, beat);
    };
    beat();
  }

  /** An ack of `ackedSeq` proves the control plane took every event up to it, as sent on this stream. */
  private reportAckedContact(active: ActiveStream, ackedSeq: number): void {
    let sentAtMs: number | null = null;
    for (const [seq, atMs] of active.sentAtBySeq) {
      if (seq > ackedSeq) continue;
      sentAtMs = Math.max(sentAtMs ?? atMs, atMs);
      active.sentAtBySeq.delete(seq);
    }
    if (sentAtMs !== null) this.options.onContact?.(sentAtMs);
  }

  private pump(active: ActiveStream): void {
    if (!active.welcomed || this.active !== active) return;
    for (;;) {
      const room = this.inFlightEventsMax - (active.sentUpToSeq - active.ackedSeq);
      if (room <= 0) return;
      const events = this.options.journal.pending(active.sentUpToSeq, Math.min(room, sendBatchMax));
      if (events.length === 0) return;
      for (const event of events) {
        active.call.write({ event: { seq: event.seq, atMs: event.atMs, recovered: event.recovered, ...event.body } });
        active.sentUpToSeq = event.seq;
        if (this.options.onContact !== undefined) active.sentAtBySeq.set(event.seq, this.options.clock.monotonicMs());
      }
    }
  }
}

/** The production connector: a grpc-js client per stream, closed with it. */
function grpcConnector(credentials: grpc.ChannelCredentials | undefined): AgentConnector {
  const AgentGatewayClient = clientConstructor("AgentGateway");
  return (endpoint) => {
    assert(credentials !== undefined, "the link has credentials or a connector");
    const client = new AgentGatewayClient(endpoint, credentials, {
      "grpc.keepalive_time_ms": 10_000,
      "grpc.keepalive_timeout_ms": 5_000,
      ...clientMessageLimits,
    });
    const call = client.Connect() as grpc.ClientDuplexStream<AgentMessage, ControlMessage__Output>;
    return { call, close: () => client.close() };
  };
}
