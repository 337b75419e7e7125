// Who may call what, enforced in one place per server: a grpc-js server interceptor that every
// call passes before its handler runs (README "Security").
// 1. Each method has an access level (`Access`); the caller's principal (identity.ts) must hold
//    it, else PERMISSION_DENIED naming the principal and the method, logged.
// 2. Messages that name their sender are bound to the certificate: an agent's Hello names the
//    host of its certificate, a replica's peer messages name that replica.
// 3. Token buckets per principal refuse floods with RESOURCE_EXHAUSTED: every call of a user or
//    agent, and agent stream opens per host (a reconnect storm). Replicas are not limited: they
//    carry the cluster's own traffic.
// `CallGate` decides (pure, time passed in); `authorizationInterceptor` is the grpc-js adapter.
import * as grpc from "@grpc/grpc-js";
import type { PeerCertificate } from "node:tls";
import type { Clock } from "./env.js";
import { principalKey, principalOf, type Principal, type RoleMap } from "./identity.js";
import type { Logger } from "./logging.js";
import { RateLimiter, type RateLimit } from "./rate-limit.js";

/** What a method requires. */
export type Access = "any" | "agent" | "replica" | "reader" | "operator";

/** The public read-only methods: a `reader` may call these and nothing else. */
export const readerMethods: ReadonlySet<string> = new Set([
  "/vigil.v1.ClusterService/Status",
  "/vigil.v1.ClusterService/GetConfig",
  "/vigil.v1.ClusterService/ListEvents",
  "/vigil.v1.HostService/List",
  "/vigil.v1.HostService/Get",
  "/vigil.v1.VmService/List",
  "/vigil.v1.VmService/Get",
  "/vigil.v1.JobService/List",
  "/vigil.v1.JobService/Get",
]);

/** Health and reflection: any principal with a certificate of the cluster's CA. */
function isIntrospection(path: string): boolean {
  return path.startsWith("/grpc.health.v1.Health/") || path.startsWith("/grpc.reflection.");
}

/** vigild's port: agents stream, replicas peer, users read or operate. Anything new is operator-only. */
export function vigildAccess(path: string): Access {
  if (isIntrospection(path)) return "any";
  if (path.startsWith("/vigil.v1.AgentGateway/")) return "agent";
  if (path.startsWith("/vigil.v1.PeerService/")) return "replica";
  return readerMethods.has(path) ? "reader" : "operator";
}

/** The agent's debug port serves only health and reflection. */
export function agentDebugAccess(path: string): Access {
  return isIntrospection(path) ? "any" : "operator";
}

export function holds(principal: Principal, access: Access): boolean {
  switch (principal.kind) {
    case "insecure":
      return true;
    case "unknown":
      return access === "any";
    case "agent":
      return access === "any" || access === "agent";
    // A replica forwards its clients' calls to the leader: it may call every public method.
    case "replica":
      return access !== "agent";
    case "user":
      return access === "any" || access === "reader" || (access === "operator" && principal.role === "operator");
  }
}

export interface Refusal {
  code: grpc.status;
  details: string;
}

export interface CallLimits {
  /** Every call of one principal (user or agent). */
  calls: RateLimit;
  /** AgentGateway.Connect streams opened per host. */
  agentConnects: RateLimit;
}

export const defaultCallLimits: CallLimits = {
  calls: { perSecond: 100, burst: 400 },
  agentConnects: { perSecond: 1, burst: 20 },
};

const connectPath = "/vigil.v1.AgentGateway/Connect";
const throttledKeysMax = 10_000;
const sendersByPath: ReadonlyMap<string, "from"> = new Map([
  ["/vigil.v1.PeerService/Stream", "from"],
  ["/vigil.v1.PeerService/InstallSnapshot", "from"],
  ["/vigil.v1.PeerService/AgentPresence", "from"],
]);

function accessWords(access: Access): string {
  switch (access) {
    case "any":
      return "a certificate of this cluster";
    case "agent":
      return "an agent certificate (vigil://host/ID)";
    case "replica":
      return "a replica certificate (vigil://replica/ID)";
    case "reader":
      return "the reader or operator role";
    case "operator":
      return "the operator role";
  }
}

/** The pure decisions: may this principal make this call, may it send this message. */
export class CallGate {
  private readonly calls: RateLimiter;
  private readonly connects: RateLimiter;
  /** Keys refused since their last admitted call: a flood is logged once, not per call. */
  private readonly throttled = new Set<string>();

  constructor(
    private readonly access: (path: string) => Access,
    limits: CallLimits,
  ) {
    this.calls = new RateLimiter(limits.calls);
    this.connects = new RateLimiter(limits.agentConnects);
  }

  admitCall(path: string, principal: Principal, nowMs: number): Refusal | null {
    const access = this.access(path);
    if (!holds(principal, access)) {
      const why = principal.kind === "unknown" ? `: ${principal.why}` : "";
      return { code: grpc.status.PERMISSION_DENIED, details: `${principal.name} may not call ${path}: it needs ${accessWords(access)}${why}` };
    }
    if (principal.kind === "replica" || principal.kind === "insecure") return null;
    return this.limited(this.calls, principalKey(principal), nowMs, `${principal.name} made too many calls`);
  }

  /** Checks a message that names its sender; also limits agent stream opens per host. */
  admitMessage(path: string, principal: Principal, message: unknown, nowMs: number): Refusal | null {
    if (path === connectPath) {
      const hello = (message as { body?: string; hello?: { hostId?: string } | null }).body === "hello" ? (message as { hello: { hostId?: string } | null }).hello : null;
      if (hello === null) return null;
      const hostId = hello.hostId ?? "";
      if (principal.kind !== "insecure" && (principal.kind !== "agent" || principal.host !== hostId)) {
        return { code: grpc.status.PERMISSION_DENIED, details: `${principal.name} may not connect as host "${hostId.slice(0, 80)}"` };
      }
      return this.limited(this.connects, `connect/${hostId.slice(0, 80)}`, nowMs, `host ${hostId.slice(0, 80)} reconnected too often`);
    }
    const field = sendersByPath.get(path);
    if (field === undefined || principal.kind !== "replica") return null;
    const sender = String((message as Record<string, unknown>)[field] ?? "");
    if (sender === principal.replica) return null;
    return { code: grpc.status.PERMISSION_DENIED, details: `${principal.name} may not send messages from replica "${sender.slice(0, 80)}"` };
  }

  private limited(limiter: RateLimiter, key: string, nowMs: number, what: string): Refusal | null {
    if (limiter.take(key, nowMs)) {
      this.throttled.delete(key);
      return null;
    }
    const retryS = limiter.retryAfterSeconds(key, nowMs);
    return { code: grpc.status.RESOURCE_EXHAUSTED, details: `${what} (at most ${limiter.limit.perSecond}/s, bursts of ${limiter.limit.burst}); retry in ${retryS} s` };
  }

  /** True the first time `key` is refused in a row: the caller logs only then. */
  firstRefusal(key: string): boolean {
    if (this.throttled.has(key)) return false;
    // Bounded: forgetting who is throttled costs one more log line each, nothing else.
    if (this.throttled.size >= throttledKeysMax) this.throttled.clear();
    this.throttled.add(key);
    return true;
  }
}

export interface AuthorizationOptions {
  gate: CallGate;
  /** null with --insecure: every caller is the insecure principal. */
  roleMap: RoleMap | null;
  clock: Clock;
  logger: Logger;
}

/** The principal of a call from what the TLS handshake verified. */
export function callPrincipal(certificate: PeerCertificate | undefined, roleMap: RoleMap | null, peer: string): Principal {
  if (roleMap === null) return { kind: "insecure", name: `insecure client ${peer}` };
  if (certificate === undefined) return { kind: "unknown", name: `client ${peer} without a verified certificate`, why: "no certificate" };
  return principalOf(certificate, roleMap);
}

/** The grpc-js adapter: refuses a call before its handler sees it, or a message before the handler reads it. */
export function authorizationInterceptor(options: AuthorizationOptions): grpc.ServerInterceptor {
  const { gate, roleMap, clock, logger } = options;
  const refuse = (call: grpc.ServerInterceptingCallInterface, path: string, principal: Principal, refusal: Refusal) => {
    const key = `${principalKey(principal)} ${grpc.status[refusal.code]}`;
    if (refusal.code !== grpc.status.RESOURCE_EXHAUSTED || gate.firstRefusal(key)) {
      logger.warn({ principal: principal.name, method: path, code: grpc.status[refusal.code] }, `call refused: ${refusal.details}`);
    }
    call.sendStatus(refusal);
  };
  return (method, call) => {
    const path = method.path;
    let principal: Principal | null = null;
    return new grpc.ServerInterceptingCall(call, {
      start: (next) =>
        next({
          onReceiveMetadata: (metadata, nextMetadata) => {
            principal = callPrincipal(call.getAuthContext().sslPeerCertificate, roleMap, call.getPeer());
            const refusal = gate.admitCall(path, principal, clock.monotonicMs());
            if (refusal !== null) return refuse(call, path, principal, refusal);
            nextMetadata(metadata);
          },
          onReceiveMessage: (message, nextMessage) => {
            if (principal === null) return;
            const refusal = gate.admitMessage(path, principal, message, clock.monotonicMs());
            if (refusal !== null) return refuse(call, path, principal, refusal);
            nextMessage(message);
          },
        }),
    });
  };
}
