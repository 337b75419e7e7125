// Carries Raft messages between replicas over peer.proto (DESIGN §3).
// - Each replica keeps one outbound Stream per peer; a stream that cannot keep
//   up drops messages (Raft retransmits) and reports the peer unreachable, so
//   memory stays bounded.
// - Snapshots go out in chunks over InstallSnapshot and are installed only when
//   complete and matching their SHA-256.
// - When the inbound stream from a peer closes, the owner hears of it at once:
//   a follower that loses its leader can pre-vote without waiting a timeout.
import { createHash } from "node:crypto";
import Database from "better-sqlite3";
import { replicatedTables } from "../state/schema.js";
import * as grpc from "@grpc/grpc-js";
import type { PeerEnvelope__Output } from "../../common/generated/vigil/v1/PeerEnvelope.js";
import type { PeerEnvelope } from "../../common/generated/vigil/v1/PeerEnvelope.js";
import type { AgentPresenceUpdate, AgentPresenceUpdate__Output } from "../../common/generated/vigil/v1/AgentPresenceUpdate.js";
import type { Command, Command__Output } from "../../common/generated/vigil/v1/Command.js";
import type { PeerServiceClient, PeerServiceHandlers } from "../../common/generated/vigil/v1/PeerService.js";
import type { SnapshotChunk__Output } from "../../common/generated/vigil/v1/SnapshotChunk.js";
import { errorMessage } from "../../common/errors.js";
import type { Logger } from "../../common/logging.js";
import { clientConstructor } from "../../common/proto.js";
import { parseForwardedCommand } from "../state/commands.js";
import { PeerMessageError, messageFromWire, messageToWire } from "./peer-wire.js";
import { MessageType, replicaId, type InstallSnapshotMessage, type Message, type ReplicaId } from "./raft-types.js";

export const snapshotChunkBytes = 1024 * 1024;

/**
 * Why `image` is not a state image a replica can install, or null. Checked before the core sees
 * it: installing happens inside the apply path, where a failure stops the replica.
 */
export function snapshotImageProblem(image: Buffer): string | null {
  if (image.byteLength === 0) return "snapshot image is empty";
  let database: Database.Database | null = null;
  try {
    // An image of a WAL-mode file says so in its header (bytes 18 and 19 = 2); an in-memory copy
    // cannot be opened that way, so check a copy marked as a rollback-journal database.
    const copy = Buffer.from(image);
    if (copy.byteLength > 19 && copy[18] === 2 && copy[19] === 2) copy.fill(1, 18, 20);
    database = new Database(copy, { readonly: true });
    const tables = new Set((database.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").all() as { name: string }[]).map((row) => row.name));
    const missing = replicatedTables.filter((table) => !tables.has(table));
    return missing.length === 0 ? null : `snapshot image lacks tables ${missing.join(", ")}`;
  } catch (error) {
    return `snapshot image is not a database: ${errorMessage(error)}`;
  } finally {
    database?.close();
  }
}
/** Outbound messages buffered per peer stream before new ones are dropped. */
const streamBufferedMessagesMax = 4096;
const proposeDeadlineMs = 10_000;
/**
 * Keepalive of peer channels. It only finds connections that died without a close (a host gone);
 * failover never waits for it (a killed process closes its sockets, and a silent leader is found
 * by the election timeout). Its timeout is a setTimeout that runs before the ping's ack is read,
 * so it must outlast an event-loop stall: at 1 s, stalls of 1–2 s on a loaded machine tore down
 * healthy channels, and a follower whose inbound stream from the leader closed pre-voted at once
 * (bench/churn.ts: 7 teardowns and 4 such pre-votes in 60 s at load 22).
 */
export const peerKeepalive = { "grpc.keepalive_time_ms": 5_000, "grpc.keepalive_timeout_ms": 10_000 } as const;

export interface TransportHandlers {
  /** A message from a peer, already validated. */
  onMessage(message: Message): void;
  /** The inbound stream from `peer` ended (its process died, or it restarted). */
  onInboundClosed(peer: ReplicaId): void;
  /** A follower forwards a client's write: resolves once committed and applied here. */
  onPropose(command: Uint8Array): Promise<{ index: number; term: number }>;
  onSnapshotSent(peer: ReplicaId, succeeded: boolean): void;
  onUnreachable(peer: ReplicaId): void;
}

/** What the agent relay needs from the transport (agent-relay.ts). */
export interface RelayHandlers {
  /** Leader: an update about an agent connected to follower `from`. */
  onAgentPresence(from: string, update: AgentPresenceUpdate__Output): void;
  /** Leader: follower `from`'s presence stream ended; its agents are no longer reachable through it. */
  onPresenceClosed(from: string): void;
  /** Follower: deliver a primary's command to a locally connected agent. */
  onRelayCommand(hostId: string, command: Command__Output): { delivered: boolean; error: string };
}

export interface TransportOptions {
  replicaId: ReplicaId;
  /** Set once the data dir is opened (setClusterId); envelopes of any other cluster are refused. */
  clusterId: string;
  credentials: grpc.ChannelCredentials;
  logger: Logger;
  /** The current address book (replicated, so it follows membership changes). */
  address(peer: ReplicaId): string | undefined;
  /** Whether `peer` may talk to us: a voter, or a replica being added. */
  isKnownPeer(peer: string): boolean;
}

interface Outbound {
  address: string;
  client: PeerServiceClient;
  stream: grpc.ClientWritableStream<PeerEnvelope> | null;
  buffered: number;
}

export class GrpcPeerTransport {
  private readonly outbound = new Map<ReplicaId, Outbound>();
  private readonly PeerClient = clientConstructor("PeerService");
  private handlers: TransportHandlers | null = null;
  private relay: RelayHandlers | null = null;
  private closed = false;

  constructor(private readonly options: TransportOptions) {}

  setClusterId(clusterId: string): void {
    this.options.clusterId = clusterId;
  }

  attach(handlers: TransportHandlers): void {
    this.handlers = handlers;
  }

  attachRelay(relay: RelayHandlers): void {
    this.relay = relay;
  }

  /** Follower: opens the presence stream to `leader`; `onEnd` runs when it ends for any reason. */
  openPresenceStream(leader: ReplicaId, onEnd: () => void): grpc.ClientWritableStream<AgentPresenceUpdate> | null {
    const outbound = this.connection(leader);
    if (outbound === null) return null;
    const stream = outbound.client.AgentPresence(() => onEnd());
    stream.on("error", () => undefined);
    return stream;
  }

  /** Leader: hands `command` to follower `via` for the agent of `hostId`. */
  relayCommand(via: ReplicaId, hostId: string, command: Command, deadlineMs: number): Promise<void> {
    const outbound = this.connection(via);
    if (outbound === null) return Promise.reject(new Error(`no address for replica ${via}`));
    return new Promise((resolve, reject) =>
      outbound.client.RelayCommand({ clusterId: this.options.clusterId, hostId, command }, { deadline: Date.now() + deadlineMs }, (error, result) => {
        if (error !== null) reject(error);
        else if (result?.delivered !== true) reject(new Error(result?.error || "not delivered"));
        else resolve();
      }),
    );
  }

  send(messages: readonly Message[]): void {
    for (const message of messages) {
      if (message.type === MessageType.installSnapshot) this.sendSnapshot(message);
      else this.sendStreamed(message);
    }
  }

  private connection(peer: ReplicaId): Outbound | null {
    const address = this.options.address(peer);
    if (address === undefined) return null;
    let outbound = this.outbound.get(peer);
    if (outbound !== undefined && outbound.address !== address) {
      outbound.client.close();
      outbound = undefined;
    }
    if (outbound === undefined) {
      const client = new this.PeerClient(address, this.options.credentials, {
        ...peerKeepalive,
        "grpc.max_receive_message_length": 64 * 1024 * 1024,
        "grpc.max_send_message_length": 64 * 1024 * 1024,
        // Reconnect quickly after a peer restarts: failover time depends on it.
        "grpc.initial_reconnect_backoff_ms": 100,
        "grpc.max_reconnect_backoff_ms": 1_000,
      }) as unknown as PeerServiceClient;
      outbound = { address, client, stream: null, buffered: 0 };
      this.outbound.set(peer, outbound);
    }
    return outbound;
  }

  private openStream(peer: ReplicaId, outbound: Outbound): grpc.ClientWritableStream<PeerEnvelope> {
    const stream = outbound.client.Stream((error) => {
      if (outbound.stream === stream) outbound.stream = null;
      if (error !== null && !this.closed) {
        this.options.logger.debug({ peer, err: error.message }, "peer stream ended");
        this.handlers?.onUnreachable(peer);
      }
    });
    stream.on("error", () => undefined);
    outbound.stream = stream;
    outbound.buffered = 0;
    return stream;
  }

  private sendStreamed(message: Exclude<Message, InstallSnapshotMessage>): void {
    const outbound = this.connection(message.to);
    if (outbound === null) return this.handlers?.onUnreachable(message.to);
    const stream = outbound.stream ?? this.openStream(message.to, outbound);
    if (stream.writableLength > 0 && outbound.buffered >= streamBufferedMessagesMax) {
      // The peer is not draining: drop rather than grow without bound; Raft resends.
      return this.handlers?.onUnreachable(message.to);
    }
    const envelope: PeerEnvelope = { clusterId: this.options.clusterId, from: this.options.replicaId, to: message.to, message: messageToWire(message) };
    outbound.buffered = stream.write(envelope) ? 0 : outbound.buffered + 1;
  }

  private sendSnapshot(message: InstallSnapshotMessage): void {
    const outbound = this.connection(message.to);
    if (outbound === null) return this.handlers?.onSnapshotSent(message.to, false);
    const { metadata, data } = message.snapshot;
    const sha256 = createHash("sha256").update(data).digest("hex");
    const call = outbound.client.InstallSnapshot({ deadline: Date.now() + 120_000 }, (error, result) => {
      const succeeded = error === null && result?.accepted === true;
      if (!succeeded) this.options.logger.warn({ peer: message.to, err: error?.message ?? result?.error }, "snapshot not installed");
      this.handlers?.onSnapshotSent(message.to, succeeded);
    });
    for (let offset = 0; offset === 0 || offset < data.byteLength; offset += snapshotChunkBytes) {
      const end = Math.min(offset + snapshotChunkBytes, data.byteLength);
      call.write({
        clusterId: this.options.clusterId,
        from: this.options.replicaId,
        to: message.to,
        term: message.term,
        index: metadata.index,
        snapshotTerm: metadata.term,
        voters: [...metadata.confState.voters],
        offset,
        data: Buffer.from(data.buffer, data.byteOffset + offset, end - offset),
        last: end >= data.byteLength,
        sha256: end >= data.byteLength ? sha256 : "",
        totalBytes: data.byteLength,
      });
      if (end >= data.byteLength) break;
    }
    call.end();
  }

  /** Asks the replica at `address` which cluster it belongs to (used by `vigild --join`). */
  static askClusterId(address: string, credentials: grpc.ChannelCredentials, deadlineMs: number): Promise<string> {
    const Client = clientConstructor("PeerService");
    const client = new Client(address, credentials) as unknown as PeerServiceClient;
    return new Promise((resolve, reject) =>
      client.Hello({ clusterId: "", replicaId: "" }, { deadline: Date.now() + deadlineMs }, (error, response) => {
        client.close();
        if (error !== null || response === undefined || response.clusterId === "") reject(error ?? new Error(`${address} named no cluster`));
        else resolve(response.clusterId);
      }),
    );
  }

  /** Forwards an encoded command to `leader`; resolves with where it committed. */
  propose(leader: ReplicaId, command: Uint8Array): Promise<{ index: number; term: number }> {
    const outbound = this.connection(leader);
    if (outbound === null) return Promise.reject(new Error(`no address for leader ${leader}`));
    return new Promise((resolve, reject) => {
      outbound.client.Propose({ clusterId: this.options.clusterId, command: Buffer.from(command) }, { deadline: Date.now() + proposeDeadlineMs }, (error, response) => {
        if (error !== null || response === undefined) reject(error ?? new Error("empty propose response"));
        else resolve({ index: response.index, term: response.term });
      });
    });
  }

  close(): void {
    this.closed = true;
    for (const outbound of this.outbound.values()) {
      outbound.stream?.end();
      outbound.client.close();
    }
    this.outbound.clear();
  }

  /** Server side of PeerService. */
  serviceHandlers(): PeerServiceHandlers {
    return {
      Hello: (call, callback) => callback(null, { clusterId: this.options.clusterId, replicaId: this.options.replicaId }),
      Stream: (call, callback) => this.receiveStream(call, callback),
      AgentPresence: (call, callback) => this.receivePresence(call, callback),
      RelayCommand: (call, callback) => {
        if (call.request.clusterId !== this.options.clusterId) {
          return callback({ code: grpc.status.PERMISSION_DENIED, details: `cluster id ${call.request.clusterId.slice(0, 80)} is not this cluster (${this.options.clusterId})` });
        }
        if (this.relay === null || call.request.command === null) return callback(null, { delivered: false, error: "relay not ready" });
        callback(null, this.relay.onRelayCommand(call.request.hostId, call.request.command));
      },
      InstallSnapshot: (call, callback) => this.receiveSnapshot(call, callback),
      Propose: (call, callback) => {
        if (call.request.clusterId !== this.options.clusterId) {
          return callback({ code: grpc.status.PERMISSION_DENIED, details: `cluster id ${call.request.clusterId} is not this cluster (${this.options.clusterId})` });
        }
        const handlers = this.handlers;
        if (handlers === null) return callback({ code: grpc.status.UNAVAILABLE, details: "replica is starting" });
        try {
          parseForwardedCommand(call.request.command);
        } catch (error) {
          return callback({ code: grpc.status.INVALID_ARGUMENT, details: errorMessage(error) });
        }
        handlers.onPropose(call.request.command).then(
          (position) => callback(null, position),
          (error: unknown) => callback({ code: grpc.status.UNAVAILABLE, details: errorMessage(error) }),
        );
      },
    };
  }

  /** Why an envelope is refused, or null: another cluster, a stranger, or a message for someone else. */
  private envelopeProblem(clusterId: string, from: string, to: string): string | null {
    if (clusterId !== this.options.clusterId) return `cluster id ${clusterId.slice(0, 80)} is not this cluster (${this.options.clusterId})`;
    if (to !== this.options.replicaId) return `message for ${to.slice(0, 80)} reached ${this.options.replicaId}`;
    if (!this.options.isKnownPeer(from)) return `replica ${from.slice(0, 80)} is not a member of this cluster`;
    return null;
  }

  private receiveStream(call: grpc.ServerReadableStream<PeerEnvelope__Output, object>, callback: grpc.sendUnaryData<object>): void {
    let from: string | null = null;
    let finished = false;
    const finish = (status: grpc.ServiceError | null) => {
      if (finished) return;
      finished = true;
      if (from !== null) this.handlers?.onInboundClosed(replicaId(from));
      callback(status, status === null ? {} : undefined);
    };
    call.on("data", (envelope: PeerEnvelope__Output) => {
      if (finished) return;
      const problem = this.envelopeProblem(envelope.clusterId, envelope.from, envelope.to);
      if (problem !== null || envelope.message === null) {
        this.options.logger.warn({ from: envelope.from }, `peer message refused: ${problem ?? "no message"}`);
        return finish({ code: grpc.status.PERMISSION_DENIED, details: problem ?? "envelope has no message", name: "PeerRefused", message: problem ?? "" } as grpc.ServiceError);
      }
      try {
        const message = messageFromWire(envelope.message, envelope.from, envelope.to);
        // The stream counts as this peer's (and its end as the peer going away) only once it has
        // carried a valid message: a bogus stream naming the leader must not trigger a pre-vote.
        from = envelope.from;
        this.handlers?.onMessage(message);
      } catch (error) {
        const details = error instanceof PeerMessageError ? error.message : `bad peer message: ${errorMessage(error)}`;
        finish({ code: grpc.status.INVALID_ARGUMENT, details, name: "PeerRefused", message: details } as grpc.ServiceError);
      }
    });
    call.on("end", () => finish(null));
    call.on("error", () => finish(null));
  }

  private receivePresence(call: grpc.ServerReadableStream<AgentPresenceUpdate__Output, object>, callback: grpc.sendUnaryData<object>): void {
    let from: string | null = null;
    let finished = false;
    const finish = (status: grpc.ServiceError | null) => {
      if (finished) return;
      finished = true;
      if (from !== null) this.relay?.onPresenceClosed(from);
      callback(status, status === null ? {} : undefined);
    };
    call.on("data", (update: AgentPresenceUpdate__Output) => {
      if (finished) return;
      const problem = this.envelopeProblem(update.clusterId, update.from, this.options.replicaId);
      if (problem !== null) return finish({ code: grpc.status.PERMISSION_DENIED, details: problem, name: "PeerRefused", message: problem } as grpc.ServiceError);
      from = update.from;
      this.relay?.onAgentPresence(update.from, update);
    });
    call.on("end", () => finish(null));
    call.on("error", () => finish(null));
  }

  private receiveSnapshot(call: grpc.ServerReadableStream<SnapshotChunk__Output, object>, callback: grpc.sendUnaryData<{ accepted: boolean; error: string }>): void {
    const chunks: Buffer[] = [];
    let received = 0;
    let first: SnapshotChunk__Output | null = null;
    let done = false;
    const refuse = (reason: string) => {
      if (done) return;
      done = true;
      this.options.logger.warn(`snapshot refused: ${reason}`);
      callback(null, { accepted: false, error: reason });
    };
    call.on("data", (chunk: SnapshotChunk__Output) => {
      if (done) return;
      const problem = this.envelopeProblem(chunk.clusterId, chunk.from, chunk.to);
      if (problem !== null) return refuse(problem);
      first ??= chunk;
      if (chunk.offset !== received || chunk.index !== first.index || chunk.term !== first.term) return refuse(`chunk at offset ${chunk.offset} does not follow ${received} of snapshot ${first.index}`);
      if (received + chunk.data.byteLength > chunk.totalBytes) return refuse("snapshot is larger than announced");
      chunks.push(chunk.data);
      received += chunk.data.byteLength;
      if (!chunk.last) return;
      const data = Buffer.concat(chunks);
      if (data.byteLength !== chunk.totalBytes) return refuse(`snapshot has ${data.byteLength} bytes, announced ${chunk.totalBytes}`);
      if (createHash("sha256").update(data).digest("hex") !== chunk.sha256) return refuse("snapshot checksum does not match");
      const imageProblem = snapshotImageProblem(data);
      if (imageProblem !== null) return refuse(imageProblem);
      done = true;
      callback(null, { accepted: true, error: "" });
      this.handlers?.onMessage({
        type: MessageType.installSnapshot,
        from: replicaId(chunk.from),
        to: replicaId(chunk.to),
        term: chunk.term,
        snapshot: { metadata: { index: chunk.index, term: chunk.snapshotTerm, confState: { voters: chunk.voters.map(replicaId).sort() } }, data: new Uint8Array(data) },
      });
    });
    call.on("end", () => refuse(first === null ? "empty snapshot stream" : "snapshot stream ended before its last chunk"));
    call.on("error", () => refuse("snapshot stream broke"));
  }
}
