// Proves the identity scheme and the authorization decisions without a network: principals from
// certificate names, the access each method needs, host and replica binding of messages, and
// per-principal token buckets.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import * as grpc from "@grpc/grpc-js";
import { CallGate, agentDebugAccess, holds, vigildAccess } from "../../common/authorization.js";
import { parseRoleMap, principalOf, subjectAltNames, type Principal } from "../../common/identity.js";
import { RateLimiter } from "../../common/rate-limit.js";

const cert = (san: string, subject: { CN?: string; OU?: string | string[] } = {}) => ({ subjectaltname: san, subject });
const generous = { calls: { perSecond: 1_000, burst: 1_000 }, agentConnects: { perSecond: 1_000, burst: 1_000 } };

describe("identity from a certificate", () => {
  it("reads hosts, replicas and roles from vigil:// URIs", () => {
    assert.deepEqual(principalOf(cert("DNS:h1, URI:vigil://host/h1, IP Address:127.0.0.1"), new Map()), { kind: "agent", host: "h1", name: "host h1" });
    assert.deepEqual(principalOf(cert("URI:vigil://replica/cp2"), new Map()), { kind: "replica", replica: "cp2", name: "replica cp2" });
    assert.deepEqual(principalOf(cert("URI:vigil://role/reader", { CN: "rita" }), new Map()), { kind: "user", role: "reader", name: "user rita (reader)" });
  });

  it("maps subject OUs to roles for an existing PKI, the strongest role winning", () => {
    const roles = parseRoleMap("ops=operator, audit=reader");
    assert.equal((principalOf(cert("", { CN: "ann", OU: ["audit", "ops"] }), roles) as { role: string }).role, "operator");
    assert.equal((principalOf(cert("", { CN: "al", OU: "audit" }), roles) as { role: string }).role, "reader");
    assert.throws(() => parseRoleMap("ops=admin"), /role must be reader or operator/);
  });

  it("refuses certificates naming no identity or several", () => {
    assert.equal(principalOf(cert("DNS:example.net", { CN: "x" }), new Map()).kind, "unknown");
    assert.equal(principalOf(cert("URI:vigil://host/h1, URI:vigil://replica/cp1"), new Map()).kind, "unknown");
    assert.equal(principalOf(cert("URI:vigil://host/bad host!"), new Map()).kind, "unknown");
    assert.equal(principalOf(cert("URI:vigil://role/admin"), new Map()).kind, "unknown");
  });

  it("does not let a quoted SAN value smuggle in a second entry", () => {
    const san = 'URI:"vigil://x, URI:vigil://host/h9", DNS:a';
    assert.deepEqual(subjectAltNames(san), [{ type: "URI", value: "vigil://x, URI:vigil://host/h9" }, { type: "DNS", value: "a" }]);
    assert.equal(principalOf(cert(san), new Map()).kind, "unknown");
  });
});

describe("who may call what", () => {
  const agent: Principal = { kind: "agent", host: "h1", name: "host h1" };
  const replica: Principal = { kind: "replica", replica: "cp1", name: "replica cp1" };
  const reader: Principal = { kind: "user", role: "reader", name: "user r (reader)" };
  const operator: Principal = { kind: "user", role: "operator", name: "user o (operator)" };

  it("gives readers the read methods only, operators everything public, agents their stream, replicas the peers", () => {
    const table: [string, Principal, boolean][] = [
      ["/vigil.v1.VmService/List", reader, true],
      ["/vigil.v1.ClusterService/ListEvents", reader, true],
      ["/vigil.v1.VmService/Migrate", reader, false],
      ["/vigil.v1.HostService/ConfirmFenced", reader, false],
      ["/vigil.v1.VmService/Stop", operator, true],
      ["/vigil.v1.VmService/Stop", agent, false],
      ["/vigil.v1.VmService/Stop", replica, true],
      ["/vigil.v1.AgentGateway/Connect", agent, true],
      ["/vigil.v1.AgentGateway/Connect", operator, false],
      ["/vigil.v1.AgentGateway/Connect", replica, false],
      ["/vigil.v1.PeerService/Propose", replica, true],
      ["/vigil.v1.PeerService/Propose", agent, false],
      ["/vigil.v1.PeerService/Hello", operator, false],
      ["/grpc.health.v1.Health/Check", agent, true],
      ["/vigil.v1.HostService/SomethingNew", reader, false],
    ];
    for (const [path, principal, allowed] of table) assert.equal(holds(principal, vigildAccess(path)), allowed, `${principal.name} ${path}`);
    assert.equal(agentDebugAccess("/grpc.reflection.v1.ServerReflection/ServerReflectionInfo"), "any");
  });

  it("refuses with PERMISSION_DENIED naming the principal and the method", () => {
    const refusal = new CallGate(vigildAccess, generous).admitCall("/vigil.v1.VmService/Migrate", reader, 0);
    assert.equal(refusal?.code, grpc.status.PERMISSION_DENIED);
    assert.equal(refusal?.details, "user r (reader) may not call /vigil.v1.VmService/Migrate: it needs the operator role");
  });

  it("binds an agent's hello to its certificate's host and a replica's messages to its id", () => {
    const gate = new CallGate(vigildAccess, generous);
    assert.equal(gate.admitMessage("/vigil.v1.AgentGateway/Connect", agent, { body: "hello", hello: { hostId: "h1" } }, 0), null);
    assert.equal(gate.admitMessage("/vigil.v1.AgentGateway/Connect", agent, { body: "hello", hello: { hostId: "h2" } }, 0)?.code, grpc.status.PERMISSION_DENIED);
    assert.equal(gate.admitMessage("/vigil.v1.AgentGateway/Connect", agent, { body: "heartbeat" }, 0), null);
    assert.equal(gate.admitMessage("/vigil.v1.PeerService/Stream", replica, { from: "cp1" }, 0), null);
    assert.equal(gate.admitMessage("/vigil.v1.PeerService/Stream", replica, { from: "cp2" }, 0)?.code, grpc.status.PERMISSION_DENIED);
  });

  it("limits each principal's calls and each host's stream opens separately, never a replica's", () => {
    const gate = new CallGate(vigildAccess, { calls: { perSecond: 1, burst: 2 }, agentConnects: { perSecond: 1, burst: 1 } });
    const codes = [0, 0, 0].map(() => gate.admitCall("/vigil.v1.VmService/List", reader, 0)?.code ?? grpc.status.OK);
    assert.deepEqual(codes, [grpc.status.OK, grpc.status.OK, grpc.status.RESOURCE_EXHAUSTED]);
    assert.equal(gate.admitCall("/vigil.v1.VmService/List", operator, 0), null, "another user has its own bucket");
    assert.equal(gate.admitCall("/vigil.v1.VmService/List", reader, 1_000), null, "a token comes back after a second");
    for (let call = 0; call < 10; call += 1) assert.equal(gate.admitCall("/vigil.v1.PeerService/Propose", replica, 0), null);
    const hello = (hostId: string) => ({ body: "hello", hello: { hostId } });
    const insecure: Principal = { kind: "insecure", name: "insecure client" };
    assert.equal(gate.admitMessage("/vigil.v1.AgentGateway/Connect", insecure, hello("h1"), 0), null);
    assert.equal(gate.admitMessage("/vigil.v1.AgentGateway/Connect", insecure, hello("h1"), 0)?.code, grpc.status.RESOURCE_EXHAUSTED);
    assert.equal(gate.admitMessage("/vigil.v1.AgentGateway/Connect", insecure, hello("h2"), 0), null, "one host's storm does not starve another");
  });

  it("keeps its buckets bounded", () => {
    const limiter = new RateLimiter({ perSecond: 1, burst: 1 });
    for (let key = 0; key < 100_010; key += 1) limiter.take(`k${key}`, 0);
    assert.equal(limiter.take("k100009", 0), false, "a recent key keeps its empty bucket");
  });
});
