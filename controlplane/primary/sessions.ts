// The agents connected to the cluster as this replica knows them, in memory
// only: connection and heartbeat facts are not replicated per beat (DESIGN §4).
// A session is local (the agent's stream ends here) or, on the leader, remote:
// the agent is connected to follower `via`, which relays its heartbeats here
// and the primary's commands to it.
import type { Command } from "../../common/generated/vigil/v1/Command.js";
import type { HostStats__Output } from "../../common/generated/vigil/v1/HostStats.js";

export interface AgentSession {
  hostId: string;
  bootId: string;
  sessionId: string;
  /** null for a local stream; the replica id the agent is connected to otherwise. */
  via: string | null;
  connectedAtMs: number;
  lastHeartbeatMs: number;
  stats: HostStats__Output | null;
  send(command: Command): void;
  /** Ends the stream with a status, e.g. when a newer session of the same boot replaces it. */
  close(reason: string): void;
}

export type SessionChange = { kind: "connected" | "heartbeat" | "disconnected"; session: AgentSession };

export class SessionRegistry {
  private readonly sessions = new Map<string, AgentSession>();
  private readonly listeners = new Set<(change: SessionChange) => void>();

  get(hostId: string): AgentSession | undefined {
    return this.sessions.get(hostId);
  }

  onChange(listener: (change: SessionChange) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private emit(change: SessionChange): void {
    for (const listener of this.listeners) listener(change);
  }

  /** Registers a session; returns the one it replaced (an agent reconnect, or a move between replicas). */
  put(session: AgentSession): AgentSession | undefined {
    const previous = this.sessions.get(session.hostId);
    this.sessions.set(session.hostId, session);
    this.emit({ kind: "connected", session });
    return previous;
  }

  /**
   * A keepalive arrived for `session`. The agent speaks on one stream at a time, so a keepalive on
   * an open local stream that a relayed session displaced (or whose relayed stand-in was then
   * removed) proves the relayed word stale: the local stream is current again. Chaos seed 2: a
   * follower out of a 5 s stall relayed a stream it had not yet seen end, then its end, after the
   * agent had reconnected to the leader; with no session left, the connected agent was declared
   * dead. A closed stream never calls this, and a local stream replaced by a newer local one is
   * closed by the gateway.
   */
  touch(session: AgentSession, atMs: number, stats: HostStats__Output | null): void {
    session.lastHeartbeatMs = atMs;
    session.stats = stats ?? session.stats;
    const current = this.sessions.get(session.hostId);
    if (current === session) this.emit({ kind: "heartbeat", session });
    else if (session.via === null && (current === undefined || current.via !== null)) this.put(session);
  }

  /** Removes `session` only if it is still the current one for its host. */
  remove(session: AgentSession): void {
    if (this.sessions.get(session.hostId) !== session) return;
    this.sessions.delete(session.hostId);
    this.emit({ kind: "disconnected", session });
  }

  /** Removes every remote session relayed by replica `via` (its relay stream ended). */
  removeVia(via: string): void {
    for (const session of [...this.sessions.values()]) if (session.via === via) this.remove(session);
  }

  all(): AgentSession[] {
    return [...this.sessions.values()].sort((a, b) => a.hostId.localeCompare(b.hostId));
  }

  local(): AgentSession[] {
    return this.all().filter((session) => session.via === null);
  }

  closeAll(reason: string): void {
    for (const session of this.local()) session.close(reason);
    this.sessions.clear();
  }
}
