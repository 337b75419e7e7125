// AgentGateway.Connect over the simulated network: the agent's side is the AgentCall that
// ControlPlaneLink uses (agent/stream.ts), the replica's side the GatewayCall the gateway takes
// (controlplane/api/agent-gateway.ts). One Connection per call, as grpc-js opens one client per
// stream there. Messages go through their protobuf encoding both ways.
// Status semantics follow grpc-js: the server ending the call gives the client status OK; an error
// status arrives as "error" then "status"; a broken connection gives the client UNAVAILABLE and
// the server "cancelled"; a client cancel gives the client CANCELLED at once.
import * as grpc from "@grpc/grpc-js";
import type { AgentMessage, AgentMessage__Output } from "../../common/generated/vigil/v1/AgentMessage.js";
import type { ControlMessage, ControlMessage__Output } from "../../common/generated/vigil/v1/ControlMessage.js";
import type { AgentCall, AgentConnection } from "../../agent/stream.js";
import type { GatewayCall } from "../../controlplane/api/agent-gateway.js";
import { Connection, type Endpoint } from "./connection.js";
import { keepaliveMs, type Network } from "./network.js";
import { codecs } from "./wire.js";

type Listener = (...values: never[]) => void;

/** A minimal synchronous emitter: listeners run in registration order, within the current event. */
class Listeners {
  private readonly byEvent = new Map<string, Listener[]>();

  add(event: string, listener: Listener): void {
    this.byEvent.set(event, [...(this.byEvent.get(event) ?? []), listener]);
  }

  fire(event: string, ...values: unknown[]): void {
    for (const listener of this.byEvent.get(event) ?? []) (listener as (...values: unknown[]) => void)(...values);
  }
}

/** Observes the stream for the checkers and the log (acks, commands, welcomes). */
export interface ChannelObserver {
  /** A control message is about to be written by the replica; returns false to lose it and break the stream. */
  beforeControlMessage?(hostId: string, message: ControlMessage): boolean;
  controlMessageDelivered?(hostId: string, message: ControlMessage__Output): void;
}

/** The replica's end of one agent stream. */
class SimGatewayCall implements GatewayCall {
  readonly listeners = new Listeners();
  finished = false;

  constructor(private readonly stream: AgentStreamPair) {}

  on(event: string, listener: Listener): this {
    this.listeners.add(event, listener);
    return this;
  }

  write(message: ControlMessage): boolean {
    if (this.finished) return false;
    this.stream.toAgent(message);
    return true;
  }

  emit(event: "error", status: { code: grpc.status; details: string }): boolean {
    if (event !== "error" || this.finished) return false;
    this.finished = true;
    this.stream.finishFromServer({ code: status.code, details: status.details });
    return true;
  }

  end(): void {
    if (this.finished) return;
    this.finished = true;
    this.stream.finishFromServer({ code: grpc.status.OK, details: "" });
  }
}

/** The agent's end of one stream. */
class SimAgentCall implements AgentCall {
  readonly listeners = new Listeners();
  done = false;

  constructor(private readonly stream: AgentStreamPair) {}

  on(event: string, listener: Listener): this {
    this.listeners.add(event, listener);
    return this;
  }

  write(message: AgentMessage): boolean {
    if (this.done) return false;
    this.stream.toGateway(message);
    return true;
  }

  end(): void {
    if (this.done) return;
    this.stream.halfClose();
  }

  cancel(): void {
    if (this.done) return;
    this.stream.cancelFromClient();
  }

  /** Delivers the call's final status once. */
  status(status: { code: grpc.status; details: string }): void {
    if (this.done) return;
    this.done = true;
    if (status.code !== grpc.status.OK) {
      const error = Object.assign(new Error(`${status.code} ${grpc.status[status.code]}: ${status.details}`), status);
      this.listeners.fire("error", error);
    }
    this.listeners.fire("status", { ...status, metadata: new grpc.Metadata() });
  }
}

/** One Connect call: a connection and its two ends. */
export class AgentStreamPair {
  readonly connection: Connection;
  readonly agent: SimAgentCall;
  private gateway: SimGatewayCall | null = null;

  constructor(
    network: Network,
    agentEndpoint: Endpoint,
    readonly hostId: string,
    replicaNode: string,
    accept: (call: GatewayCall) => void,
    private readonly observer: ChannelObserver,
  ) {
    this.agent = new SimAgentCall(this);
    this.connection = new Connection(network, agentEndpoint, replicaNode, keepaliveMs.agent, `agent ${hostId}->${replicaNode}`, () => {
      this.gateway = new SimGatewayCall(this);
      accept(this.gateway);
    });
    this.connection.onBreak("client", (reason) => this.agent.status({ code: grpc.status.UNAVAILABLE, details: reason }));
    this.connection.onBreak("server", () => {
      const gateway = this.gateway;
      if (gateway === null || gateway.finished) return;
      gateway.finished = true;
      gateway.listeners.fire("cancelled");
    });
  }

  toGateway(message: AgentMessage): void {
    const bytes = codecs().agentMessage.encode(message);
    this.connection.send("client", `agent ${this.hostId} ${Object.keys(message)[0] ?? "message"}`, () => {
      if (this.gateway === null || this.gateway.finished) return;
      this.gateway.listeners.fire("data", codecs().agentMessage.decode(bytes) as AgentMessage__Output);
    });
  }

  toAgent(message: ControlMessage): void {
    this.deliverToAgent(message, true);
  }

  /** Writes a message as the replica's side would, bypassing the loss script (scenario injections). */
  injectToAgent(message: ControlMessage): void {
    this.deliverToAgent(message, false);
  }

  private deliverToAgent(message: ControlMessage, scripted: boolean): void {
    if (scripted && this.observer.beforeControlMessage?.(this.hostId, message) === false) {
      // The message is lost with the connection (an ack in flight when the stream died).
      this.connection.break("connection lost with a message in flight", 0);
      return;
    }
    const bytes = codecs().controlMessage.encode(message);
    this.connection.send("server", `to ${this.hostId} ${Object.keys(message)[0] ?? "message"}`, () => {
      if (this.agent.done) return;
      const decoded = codecs().controlMessage.decode(bytes);
      this.observer.controlMessageDelivered?.(this.hostId, decoded);
      this.agent.listeners.fire("data", decoded);
    });
  }

  halfClose(): void {
    this.connection.send("client", `agent ${this.hostId} end`, () => {
      if (this.gateway === null || this.gateway.finished) return;
      this.gateway.listeners.fire("end");
    });
  }

  cancelFromClient(): void {
    this.agent.status({ code: grpc.status.CANCELLED, details: "Cancelled on client" });
    this.connection.send("client", `agent ${this.hostId} cancel`, () => {
      const gateway = this.gateway;
      if (gateway !== null && !gateway.finished) {
        gateway.finished = true;
        gateway.listeners.fire("cancelled");
      }
      this.connection.close();
    });
  }

  finishFromServer(status: { code: grpc.status; details: string }): void {
    this.connection.send("server", `to ${this.hostId} status`, () => {
      this.agent.status(status);
      this.connection.close();
    });
  }

  /** Breaks the stream now (a network fault): both sides hear of it. */
  breakNow(reason: string): void {
    this.connection.break(reason, 0);
  }

  /** The agent connection handed to ControlPlaneLink. */
  asAgentConnection(): AgentConnection {
    return { call: this.agent, close: () => undefined };
  }
}
