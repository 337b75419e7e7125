// One process's transport security, assembled once from its options: mTLS credentials for
// the port it serves and the connections it makes, and the authorization interceptor, or
// plaintext with a warning under --insecure (development only).
import * as grpc from "@grpc/grpc-js";
import { authorizationInterceptor, CallGate, defaultCallLimits, type Access, type CallLimits } from "./authorization.js";
import type { Clock } from "./env.js";
import { UsageError, errorMessage } from "./errors.js";
import { parseRoleMap, type RoleMap } from "./identity.js";
import type { Logger } from "./logging.js";
import type { OptionSpec, OptionValues } from "./options.js";
import { positiveNumber } from "./rate-limit.js";
import { CertificateFiles, reloadIntervalMs, tlsFilesFromOptions } from "./tls.js";

/** Settings only vigild has: roles of user certificates and the per-principal limits. */
export const vigildSecurityOptionSpecs: Record<string, OptionSpec> = {
  "tls-roles": { type: "string", description: "map subject OUs to roles, OU=reader|operator,... (besides vigil://role/ URIs)", configKey: "tlsRoles", defaultValue: "" },
  "call-rate": { type: "string", description: "calls per second one user or agent may make, sustained", configKey: "callRate", defaultValue: String(defaultCallLimits.calls.perSecond) },
  "call-burst": { type: "string", description: "calls one user or agent may make at once", configKey: "callBurst", defaultValue: String(defaultCallLimits.calls.burst) },
  "connect-rate": { type: "string", description: "agent streams per second one host may open, sustained", configKey: "connectRate", defaultValue: String(defaultCallLimits.agentConnects.perSecond) },
  "connect-burst": { type: "string", description: "agent streams one host may open at once", configKey: "connectBurst", defaultValue: String(defaultCallLimits.agentConnects.burst) },
};

export interface Security {
  /** True under --insecure. */
  readonly insecure: boolean;
  serverCredentials(): grpc.ServerCredentials;
  /** For dialing a vigild replica (peers, the leader, the control plane). */
  replicaChannelCredentials(): grpc.ChannelCredentials;
  /** The interceptor enforcing `access` on a server of this process. */
  interceptor(access: (path: string) => Access): grpc.ServerInterceptor;
  stop(): void;
}

function limitsFromOptions(values: OptionValues): CallLimits {
  const number = (flag: string, fallback: number) => {
    const text = values[flag];
    if (typeof text !== "string") return fallback;
    try {
      return positiveNumber(text, `--${flag}`);
    } catch (error) {
      throw new UsageError(errorMessage(error));
    }
  };
  return {
    calls: { perSecond: number("call-rate", defaultCallLimits.calls.perSecond), burst: number("call-burst", defaultCallLimits.calls.burst) },
    agentConnects: { perSecond: number("connect-rate", defaultCallLimits.agentConnects.perSecond), burst: number("connect-burst", defaultCallLimits.agentConnects.burst) },
  };
}

/** Reads TLS files and limits from `values` (tlsOptionSpecs, and vigildSecurityOptionSpecs where present). */
export function securityFromOptions(values: OptionValues, options: { clock: Clock; logger: Logger; what: string }): Security {
  const { clock, logger } = options;
  const files = tlsFilesFromOptions(values);
  const limits = limitsFromOptions(values);
  let roleMap: RoleMap;
  try {
    roleMap = parseRoleMap(String(values["tls-roles"] ?? ""));
  } catch (error) {
    throw new UsageError(`--tls-roles: ${errorMessage(error)}`);
  }
  if (files === null) {
    logger.warn(`${options.what} without TLS (--insecure): for development only; anyone who reaches the port can act on the cluster`);
    return {
      insecure: true,
      serverCredentials: () => grpc.ServerCredentials.createInsecure(),
      replicaChannelCredentials: () => grpc.credentials.createInsecure(),
      interceptor: (access) => authorizationInterceptor({ gate: new CallGate(access, limits), roleMap: null, clock, logger }),
      stop: () => undefined,
    };
  }
  const intervalMs = reloadIntervalMs(values);
  const certificates = new CertificateFiles(files, logger);
  certificates.start(intervalMs);
  // One credentials object each: every handshake asks it for the latest material.
  const serverCredentials = certificates.serverCredentials();
  const channelCredentials = certificates.replicaChannelCredentials();
  return {
    insecure: false,
    serverCredentials: () => serverCredentials,
    replicaChannelCredentials: () => channelCredentials,
    interceptor: (access) => authorizationInterceptor({ gate: new CallGate(access, limits), roleMap, clock, logger }),
    stop: () => certificates.stop(),
  };
}
