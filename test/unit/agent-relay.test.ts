// Which session the leader keeps for an agent when followers relay presence
// (controlplane/primary/agent-relay.ts, sessions.ts).
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { relayedPresenceAction } from "../../controlplane/primary/agent-relay.js";
import { SessionRegistry, type AgentSession, type SessionChange } from "../../controlplane/primary/sessions.js";

function session(via: string | null, bootId = "boot-1"): AgentSession {
  return { hostId: "h1", bootId, sessionId: via ?? "local", via, connectedAtMs: 0, lastHeartbeatMs: 0, stats: null, send: () => undefined, close: () => undefined };
}

describe("relayed agent presence on the leader", () => {
  it("lets a follower speak only for the session it relayed", () => {
    const viaCp1 = session("cp1");
    assert.equal(relayedPresenceAction(viaCp1, "cp1", { connected: false, bootId: "boot-1" }), "remove");
    assert.equal(relayedPresenceAction(viaCp1, "cp3", { connected: false, bootId: "boot-1" }), "ignore");
    assert.equal(relayedPresenceAction(session(null), "cp1", { connected: false, bootId: "boot-1" }), "ignore");
    assert.equal(relayedPresenceAction(undefined, "cp3", { connected: false, bootId: "boot-1" }), "ignore");
    assert.equal(relayedPresenceAction(viaCp1, "cp1", { connected: true, bootId: "boot-1" }), "touch");
    assert.equal(relayedPresenceAction(viaCp1, "cp1", { connected: true, bootId: "boot-2" }), "replace");
    assert.equal(relayedPresenceAction(viaCp1, "cp3", { connected: true, bootId: "boot-1" }), "replace");
    assert.equal(relayedPresenceAction(session(null), "cp3", { connected: true, bootId: "boot-1" }), "replace");
  });

  it("puts a local stream back when its agent speaks after a stale relayed claim displaced it (chaos seed 2)", () => {
    const registry = new SessionRegistry();
    const changes: string[] = [];
    registry.onChange((change: SessionChange) => changes.push(`${change.kind}:${change.session.via ?? "local"}`));
    const direct = session(null);
    registry.put(direct);
    // A follower out of a stall relays the agent's old stream to it, then that stream's end.
    const stale = session("cp1");
    registry.put(stale);
    registry.remove(stale);
    assert.equal(registry.get("h1"), undefined);
    // The agent's next keepalive on the leader's own stream makes it current again.
    registry.touch(direct, 5_000, null);
    assert.equal(registry.get("h1"), direct);
    assert.equal(direct.lastHeartbeatMs, 5_000);
    registry.touch(direct, 6_000, null);
    assert.deepEqual(changes, ["connected:local", "connected:cp1", "disconnected:cp1", "connected:local", "heartbeat:local"]);
  });

  it("takes a displaced local stream back from a live relayed session too, and never from a newer local one", () => {
    const registry = new SessionRegistry();
    const direct = session(null);
    registry.put(direct);
    registry.put(session("cp1"));
    registry.touch(direct, 1_000, null);
    assert.equal(registry.get("h1"), direct);
    const newer = session(null);
    registry.put(newer);
    registry.touch(direct, 2_000, null);
    assert.equal(registry.get("h1"), newer, "an older local stream of the host does not displace the newer one");
  });
});
