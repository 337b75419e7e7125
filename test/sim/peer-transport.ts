// The simulated network between replicas, behind the same interfaces as grpc-transport.ts
// (PeerTransport for RaftReplica, RelayTransport for AgentRelay).
// - Raft messages travel as datagrams, so the seed's drops, duplicates and reordering reach the
//   core; each is encoded into peer.proto and validated on arrival like the real stream's.
// - Everything else rides one channel (a Connection) per peer, as on one HTTP/2 connection:
//   forwarded proposals, snapshots, the presence stream and relayed commands. When the channel
//   breaks, its calls fail, the sender hears the peer is unreachable, and the receiver hears the
//   inbound stream closed (a follower that loses its leader pre-votes at once).
import type { AgentPresenceUpdate, AgentPresenceUpdate__Output } from "../../common/generated/vigil/v1/AgentPresenceUpdate.js";
import type { Command } from "../../common/generated/vigil/v1/Command.js";
import type { Logger } from "../../common/logging.js";
import type { PresenceStream, RelayTransport } from "../../controlplane/primary/agent-relay.js";
import type { RelayHandlers, TransportHandlers } from "../../controlplane/replication/grpc-transport.js";
import { messageFromWire, messageToWire } from "../../controlplane/replication/peer-wire.js";
import type { PeerTransport } from "../../controlplane/replication/raft-replica.js";
import { MessageType, replicaId, type InstallSnapshotMessage, type Message, type ReplicaId } from "../../controlplane/replication/raft-types.js";
import { Connection, type Endpoint } from "./connection.js";
import { keepaliveMs, type Network } from "./network.js";
import { codecs, roundTrip } from "./wire.js";

const proposeDeadlineMs = 10_000;
const snapshotDeadlineMs = 120_000;

export class PeerCallError extends Error {
  override name = "PeerCallError";
}

export interface SimPeerTransportOptions {
  network: Network;
  self: Endpoint;
  clusterId(): string;
  logger: Logger;
  /** The transport of the process now running at `node`, if any. */
  transportAt(node: string): SimPeerTransport | undefined;
  /** A snapshot arrived here and goes to the core (for the log). */
  onSnapshotReceived?(message: InstallSnapshotMessage): void;
}

interface PendingCall {
  resolve(value: unknown): void;
  reject(error: Error): void;
  cancelDeadline(): void;
}

/** This replica's outbound channel to one peer. */
class Channel {
  readonly connection: Connection;
  raftAnnounced = false;
  presence: { onEnd: () => void; ended: boolean } | null = null;
  readonly calls = new Map<number, PendingCall>();

  constructor(connection: Connection) {
    this.connection = connection;
  }
}

/** What the server side of a channel knows about its client. */
interface Inbound {
  raftFrom: string | null;
  presenceFrom: string | null;
}

export class SimPeerTransport implements PeerTransport, RelayTransport {
  private handlers: TransportHandlers | null = null;
  private relay: RelayHandlers | null = null;
  private readonly channels = new Map<string, Channel>();
  private nextCallId = 1;
  private closed = false;

  constructor(private readonly options: SimPeerTransportOptions) {}

  attach(handlers: TransportHandlers): void {
    this.handlers = handlers;
  }

  attachRelay(relay: RelayHandlers): void {
    this.relay = relay;
  }

  private get node(): string {
    return this.options.self.node;
  }

  // ---- client side ----

  private channel(peer: string): Channel {
    const existing = this.channels.get(peer);
    if (existing !== undefined && existing.connection.state !== "closed") return existing;
    const connection = new Connection(this.options.network, this.options.self, peer, keepaliveMs.peer, `peer ${this.node}->${peer}`, (accepted) =>
      this.options.transportAt(peer)?.acceptChannel(accepted),
    );
    const channel = new Channel(connection);
    connection.onBreak("client", (reason) => this.channelBroke(peer, channel, reason));
    this.channels.set(peer, channel);
    return channel;
  }

  private channelBroke(peer: string, channel: Channel, reason: string): void {
    if (this.channels.get(peer) === channel) this.channels.delete(peer);
    for (const call of channel.calls.values()) {
      call.cancelDeadline();
      call.reject(new PeerCallError(`UNAVAILABLE: ${reason}`));
    }
    channel.calls.clear();
    if (channel.presence !== null && !channel.presence.ended) {
      channel.presence.ended = true;
      channel.presence.onEnd();
    }
    if (!this.closed) this.handlers?.onUnreachable(replicaId(peer));
  }

  send(messages: readonly Message[]): void {
    if (this.closed) return;
    for (const message of messages) {
      if (message.type === MessageType.installSnapshot) this.sendSnapshot(message);
      else this.sendDatagram(message);
    }
  }

  private sendDatagram(message: Exclude<Message, InstallSnapshotMessage>): void {
    const channel = this.channel(message.to);
    if (!channel.raftAnnounced) {
      // The receiver attributes the stream to us once a valid message arrived on it (grpc-transport.ts).
      channel.raftAnnounced = true;
      channel.connection.send("client", `peer ${this.node}->${message.to} stream`, () => this.options.transportAt(message.to)?.inboundOf(channel.connection, (inbound) => (inbound.raftFrom = this.node)));
    }
    const decode = roundTrip(codecs().peerEnvelope, { clusterId: this.options.clusterId(), from: this.node, to: message.to, message: messageToWire(message) });
    this.options.network.datagram(this.node, message.to, `raft ${message.type} ${this.node}->${message.to}`, () => this.options.transportAt(message.to)?.receiveRaft(decode()));
  }

  private sendSnapshot(message: InstallSnapshotMessage): void {
    const copy: InstallSnapshotMessage = { ...message, snapshot: { metadata: message.snapshot.metadata, data: new Uint8Array(message.snapshot.data) } };
    this.call<boolean>(message.to, snapshotDeadlineMs, `snapshot ${this.node}->${message.to}`, (server) => Promise.resolve(server.receiveSnapshot(copy))).then(
      (accepted) => this.handlers?.onSnapshotSent(message.to, accepted),
      (error: unknown) => {
        this.options.logger.warn({ peer: message.to, err: (error as Error).message }, "snapshot not installed");
        this.handlers?.onSnapshotSent(message.to, false);
      },
    );
  }

  propose(leader: ReplicaId, command: Uint8Array): Promise<{ index: number; term: number }> {
    const bytes = Buffer.from(command);
    return this.call(leader, proposeDeadlineMs, `propose ${this.node}->${leader}`, (server) => server.receivePropose(bytes));
  }

  relayCommand(via: ReplicaId, hostId: string, command: Command, deadlineMs: number): Promise<void> {
    const decode = roundTrip(codecs().relayedCommand, { clusterId: this.options.clusterId(), hostId, command });
    return this.call<{ delivered: boolean; error: string }>(via, deadlineMs, `relay ${this.node}->${via} ${hostId}`, (server) => Promise.resolve(server.receiveRelayedCommand(decode()))).then((result) => {
      if (!result.delivered) throw new PeerCallError(result.error || "not delivered");
    });
  }

  openPresenceStream(leader: ReplicaId, onEnd: () => void): PresenceStream | null {
    if (this.closed) return null;
    const channel = this.channel(leader);
    if (channel.presence !== null && !channel.presence.ended) {
      // One presence stream per channel at a time: the relay ends the old one before opening.
      channel.presence.ended = true;
      channel.presence.onEnd();
    }
    const presence = { onEnd, ended: false };
    channel.presence = presence;
    const connection = channel.connection;
    return {
      write: (update: AgentPresenceUpdate) => {
        if (presence.ended) return;
        const decode = roundTrip(codecs().presenceUpdate, update);
        connection.send("client", `presence ${this.node}->${leader}`, () => this.options.transportAt(leader)?.receivePresence(connection, decode()));
      },
      end: () => {
        if (presence.ended) return;
        presence.ended = true;
        connection.send("client", `presence end ${this.node}->${leader}`, () => this.options.transportAt(leader)?.presenceEnded(connection));
        // The call's callback runs once the server has answered the half-close.
        const latencyMs = 2 * this.options.network.latencyMs();
        this.options.network.scheduler.after(latencyMs, this.options.self.slot, "presence closed", () => onEnd(), this.options.self.incarnation);
      },
    };
  }

  /** A unary call on the channel to `peer`: the handler runs at the peer; the answer comes back in order. */
  private call<Result>(peer: string, deadlineMs: number, label: string, handle: (server: SimPeerTransport) => Promise<Result>): Promise<Result> {
    if (this.closed) return Promise.reject(new PeerCallError("UNAVAILABLE: the transport is closed"));
    const channel = this.channel(peer);
    const id = this.nextCallId++;
    return new Promise<Result>((resolve, reject) => {
      const cancelDeadline = this.options.network.scheduler.after(
        deadlineMs,
        this.options.self.slot,
        `${label} deadline`,
        () => {
          if (!channel.calls.delete(id)) return;
          reject(new PeerCallError(`DEADLINE_EXCEEDED: ${label} got no answer within ${deadlineMs} ms`));
        },
        this.options.self.incarnation,
      );
      channel.calls.set(id, { resolve: resolve as (value: unknown) => void, reject, cancelDeadline });
      const connection = channel.connection;
      connection.send("client", label, () => {
        const server = this.options.transportAt(peer);
        if (server === undefined) return;
        const answer = (outcome: { value: Result } | { error: string }) =>
          connection.send("server", `${label} answer`, () => {
            const pending = channel.calls.get(id);
            if (pending === undefined) return;
            channel.calls.delete(id);
            pending.cancelDeadline();
            if ("value" in outcome) pending.resolve(outcome.value);
            else pending.reject(new PeerCallError(outcome.error));
          });
        handle(server).then(
          (value) => answer({ value }),
          (error: unknown) => answer({ error: `UNAVAILABLE: ${(error as Error).message}` }),
        );
      });
    });
  }

  close(): void {
    this.closed = true;
    for (const channel of this.channels.values()) channel.connection.closeFrom("client", "the peer closed the connection");
    this.channels.clear();
  }

  // ---- server side ----

  private readonly inbound = new WeakMap<Connection, Inbound>();

  acceptChannel(connection: Connection): void {
    const inbound: Inbound = { raftFrom: null, presenceFrom: null };
    this.inbound.set(connection, inbound);
    connection.onBreak("server", () => {
      if (inbound.presenceFrom !== null) this.relay?.onPresenceClosed(inbound.presenceFrom);
      if (inbound.raftFrom !== null) this.handlers?.onInboundClosed(replicaId(inbound.raftFrom));
    });
  }

  inboundOf(connection: Connection, update: (inbound: Inbound) => void): void {
    const inbound = this.inbound.get(connection);
    if (inbound !== undefined) update(inbound);
  }

  receiveRaft(envelope: ReturnType<ReturnType<typeof codecs>["peerEnvelope"]["decode"]>): void {
    if (this.handlers === null || envelope.message === null) return;
    if (envelope.clusterId !== this.options.clusterId() || envelope.to !== this.node) {
      this.options.logger.warn({ from: envelope.from }, "peer message refused: not for this replica");
      return;
    }
    let message: Message;
    try {
      message = messageFromWire(envelope.message, envelope.from, envelope.to);
    } catch (error) {
      this.options.logger.warn({ from: envelope.from, err: (error as Error).message }, "peer message refused");
      return;
    }
    this.handlers.onMessage(message);
  }

  receiveSnapshot(message: InstallSnapshotMessage): boolean {
    if (this.handlers === null) return false;
    this.options.onSnapshotReceived?.(message);
    this.handlers.onMessage(message);
    return true;
  }

  receivePropose(command: Buffer): Promise<{ index: number; term: number }> {
    if (this.handlers === null) return Promise.reject(new PeerCallError("replica is starting"));
    return this.handlers.onPropose(command);
  }

  receiveRelayedCommand(relayed: ReturnType<ReturnType<typeof codecs>["relayedCommand"]["decode"]>): { delivered: boolean; error: string } {
    if (this.relay === null || relayed.command === null) return { delivered: false, error: "relay not ready" };
    return this.relay.onRelayCommand(relayed.hostId, relayed.command);
  }

  receivePresence(connection: Connection, update: AgentPresenceUpdate__Output): void {
    const inbound = this.inbound.get(connection);
    if (inbound === undefined) return;
    inbound.presenceFrom = update.from;
    this.relay?.onAgentPresence(update.from, update);
  }

  presenceEnded(connection: Connection): void {
    const inbound = this.inbound.get(connection);
    if (inbound === undefined || inbound.presenceFrom === null) return;
    const from = inbound.presenceFrom;
    inbound.presenceFrom = null;
    this.relay?.onPresenceClosed(from);
  }
}
