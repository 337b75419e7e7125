// Lets an agent connect to any replica (DESIGN §3, §4). Its events already
// reach the log through the follower's forwarded proposals; this relays the
// rest, in memory only:
// - a follower streams the presence and heartbeats of its agents to the leader,
//   which keeps them as remote sessions (liveness is the primary's, not the log's);
// - the primary's commands to such an agent go to that follower, which hands
//   them to the agent's stream.
// The presence stream follows the leader: when leadership moves it is reopened
// to the new leader with every agent connected here.
import type { AgentPresenceUpdate, AgentPresenceUpdate__Output } from "../../common/generated/vigil/v1/AgentPresenceUpdate.js";
import type { Command, Command__Output } from "../../common/generated/vigil/v1/Command.js";
import type { Cancel, Clock, Timers } from "../../common/env.js";
import { errorMessage } from "../../common/errors.js";
import type { Logger } from "../../common/logging.js";
import type { RelayHandlers } from "../replication/grpc-transport.js";
import type { ReplicatedLog } from "../replication/log.js";
import { replicaId, type ReplicaId } from "../replication/raft-types.js";
import type { AgentSession, SessionChange, SessionRegistry } from "./sessions.js";

/** A follower's presence stream to the leader, as the relay writes it. */
export interface PresenceStream {
  write(update: AgentPresenceUpdate): unknown;
  end(): unknown;
}

/**
 * What the relay needs from the network between replicas: grpc-transport.ts in production, a
 * simulated network in the deterministic simulator (test/sim).
 */
export interface RelayTransport {
  attachRelay(relay: RelayHandlers): void;
  /** Follower: opens the presence stream to `leader`; `onEnd` runs when it ends for any reason. */
  openPresenceStream(leader: ReplicaId, onEnd: () => void): PresenceStream | null;
  /** Leader: hands `command` to follower `via` for the agent of `hostId`. */
  relayCommand(via: ReplicaId, hostId: string, command: Command, deadlineMs: number): Promise<void>;
}

export interface AgentRelayOptions {
  replicaId: string;
  clusterId(): string;
  sessions: SessionRegistry;
  transport: RelayTransport;
  log: ReplicatedLog;
  clock: Clock;
  timers: Timers;
  logger: Logger;
}

/** How often the presence stream is checked against the current leader. */
const leaderCheckIntervalMs = 100;
const relayDeadlineMs = 5_000;

export type RelayedPresenceAction = "remove" | "touch" | "replace" | "ignore";

/**
 * What the leader does with follower `from`'s word about an agent (pure). A follower speaks only
 * for the session it relayed: its disconnect removes that one and no other, a keepalive of the
 * same boot touches it, and a connect replaces whatever the leader had, a local stream too (the
 * agent speaks on one stream at a time: it has moved). If that claim was stale (a follower coming
 * out of a stall), the agent's next keepalive on the leader's stream puts that stream back
 * (SessionRegistry.touch).
 */
export function relayedPresenceAction(existing: Pick<AgentSession, "via" | "bootId"> | undefined, from: string, update: Pick<AgentPresenceUpdate__Output, "connected" | "bootId">): RelayedPresenceAction {
  if (!update.connected) return existing?.via === from ? "remove" : "ignore";
  if (existing !== undefined && existing.via === from && existing.bootId === update.bootId) return "touch";
  return "replace";
}

export class AgentRelay implements RelayHandlers {
  private presence: { leader: string; stream: PresenceStream } | null = null;
  private cancelCheck: Cancel | null = null;
  private stopped = false;

  constructor(private readonly options: AgentRelayOptions) {}

  start(): void {
    this.options.transport.attachRelay(this);
    this.options.sessions.onChange((change) => this.localChange(change));
    const check = () => {
      this.followLeader();
      if (!this.stopped) this.cancelCheck = this.options.timers.after(leaderCheckIntervalMs, check);
    };
    check();
  }

  stop(): void {
    this.stopped = true;
    this.cancelCheck?.();
    this.presence?.stream.end();
    this.presence = null;
  }

  // -- follower side ------------------------------------------------------------------------------

  private followLeader(): void {
    const { log, sessions } = this.options;
    const leader = log.status().leaderId;
    if (log.isLeader() || leader === null || leader === this.options.replicaId) {
      this.closePresence();
      return;
    }
    // Not leading: agents relayed to us by others are no longer ours to track.
    for (const session of sessions.all()) if (session.via !== null) sessions.remove(session);
    if (this.presence?.leader === leader) return;
    this.closePresence();
    const stream = this.options.transport.openPresenceStream(replicaId(leader), () => {
      if (this.presence?.stream === stream) this.presence = null;
    });
    if (stream === null) return;
    this.presence = { leader, stream };
    for (const session of sessions.local()) this.write(session, true);
    this.options.logger.info({ leader, agents: sessions.local().length }, "relaying agent presence to the leader");
  }

  private closePresence(): void {
    this.presence?.stream.end();
    this.presence = null;
  }

  private localChange(change: SessionChange): void {
    if (change.session.via !== null) return;
    if (this.presence === null) this.followLeader();
    this.write(change.session, change.kind !== "disconnected");
  }

  private write(session: AgentSession, connected: boolean): void {
    this.presence?.stream.write({
      clusterId: this.options.clusterId(),
      from: this.options.replicaId,
      hostId: session.hostId,
      bootId: session.bootId,
      connected,
      stats: session.stats,
    });
  }

  onRelayCommand(hostId: string, command: Command__Output): { delivered: boolean; error: string } {
    const session = this.options.sessions.get(hostId);
    if (session === undefined || session.via !== null) return { delivered: false, error: `host ${hostId} is not connected to replica ${this.options.replicaId}` };
    session.send(command);
    return { delivered: true, error: "" };
  }

  // -- leader side --------------------------------------------------------------------------------

  onAgentPresence(from: string, update: AgentPresenceUpdate__Output): void {
    const { sessions, clock, log } = this.options;
    if (!log.isLeader()) return;
    const existing = sessions.get(update.hostId);
    switch (relayedPresenceAction(existing, from, update)) {
      case "remove":
        if (existing !== undefined) sessions.remove(existing);
        return;
      case "touch":
        if (existing !== undefined) sessions.touch(existing, clock.nowMs(), update.stats);
        return;
      case "replace":
        sessions.put(this.remoteSession(from, update));
        return;
      case "ignore":
        return;
    }
  }

  onPresenceClosed(from: string): void {
    this.options.sessions.removeVia(from);
  }

  private remoteSession(via: string, update: AgentPresenceUpdate__Output): AgentSession {
    const { transport, logger, clock } = this.options;
    const now = clock.nowMs();
    return {
      hostId: update.hostId,
      bootId: update.bootId,
      sessionId: "",
      via,
      connectedAtMs: now,
      lastHeartbeatMs: now,
      stats: update.stats,
      send: (command) => {
        transport.relayCommand(replicaId(via), update.hostId, command, relayDeadlineMs).catch((error: unknown) => {
          // The dispatcher's own bound reports the command as unanswered; this says why.
          logger.warn({ host: update.hostId, via, command: command.commandId, err: errorMessage(error) }, "relaying a command failed");
        });
      },
      close: () => undefined,
    };
  }
}
