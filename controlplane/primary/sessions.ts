// The agents connected to this replica, in memory only: connection and
// heartbeat facts are not replicated per beat (DESIGN §4).
import type { Command } from "../../common/generated/vigil/v1/Command.js";
import type { HostStats__Output } from "../../common/generated/vigil/v1/HostStats.js";

export interface AgentSession {
  hostId: string;
  bootId: string;
  sessionId: string;
  connectedAtMs: number;
  lastHeartbeatMs: number;
  stats: HostStats__Output | null;
  send(command: Command): void;
  /** Ends the stream with a status, e.g. when a newer session of the same boot replaces it. */
  close(reason: string): void;
}

export class SessionRegistry {
  private readonly sessions = new Map<string, AgentSession>();

  get(hostId: string): AgentSession | undefined {
    return this.sessions.get(hostId);
  }

  /** Registers a session; returns the one it replaced (same host, same boot: an agent reconnect). */
  put(session: AgentSession): AgentSession | undefined {
    const previous = this.sessions.get(session.hostId);
    this.sessions.set(session.hostId, session);
    return previous;
  }

  /** Removes `session` only if it is still the current one for its host. */
  remove(session: AgentSession): void {
    if (this.sessions.get(session.hostId) === session) this.sessions.delete(session.hostId);
  }

  all(): AgentSession[] {
    return [...this.sessions.values()].sort((a, b) => a.hostId.localeCompare(b.hostId));
  }

  closeAll(reason: string): void {
    for (const session of this.sessions.values()) session.close(reason);
    this.sessions.clear();
  }
}
