// Who is calling, from the client certificate the TLS handshake verified (README "Security").
//
// Identity scheme (subject alternative names of type URI):
// 1. `vigil://host/<host-id>`     an agent; it may speak only for that host.
// 2. `vigil://replica/<id>`       a control-plane replica; peer RPCs and forwarded calls.
// 3. `vigil://role/<reader|operator>`  a CLI/API user; the subject CN names the user.
// An existing PKI that cannot add URIs may map subject OUs to roles instead (`tlsRoles`,
// e.g. "vigil-admins=operator,vigil-audit=reader").
// A certificate that names two identities (a host and a replica, two hosts) is refused as
// ambiguous rather than guessed. Pure: no I/O.
import { hostIdProblem } from "./validate.js";

export const roles = ["reader", "operator"] as const;
export type Role = (typeof roles)[number];

export type Principal =
  | { kind: "agent"; host: string; name: string }
  | { kind: "replica"; replica: string; name: string }
  | { kind: "user"; role: Role; name: string }
  /** Verified by the CA but naming no vigil identity, or naming several. */
  | { kind: "unknown"; name: string; why: string }
  /** `--insecure`: no certificate at all; every call is allowed (development only). */
  | { kind: "insecure"; name: string };

/** The parts of a peer certificate identity needs (node's tls.PeerCertificate has them). */
export interface CertificateNames {
  subject?: { CN?: string | string[]; OU?: string | string[] } | undefined;
  subjectaltname?: string | undefined;
}

/** Subject OU -> role, from the `tlsRoles` setting. */
export type RoleMap = ReadonlyMap<string, Role>;

const identityUriPattern = /^vigil:\/\/(host|replica|role)\/([^/?#]+)$/;

/** Parses "ou=role,ou=role"; throws a sentence naming the bad item. */
export function parseRoleMap(text: string): RoleMap {
  const map = new Map<string, Role>();
  for (const item of text.split(",").map((part) => part.trim()).filter(Boolean)) {
    const separator = item.lastIndexOf("=");
    const unit = item.slice(0, separator).trim();
    const role = item.slice(separator + 1).trim();
    if (separator <= 0 || unit === "") throw new Error(`"${item}" is not OU=role`);
    if (!(roles as readonly string[]).includes(role)) throw new Error(`"${item}": role must be ${roles.join(" or ")}`);
    map.set(unit, role as Role);
  }
  return map;
}

/**
 * The entries of node's `subjectaltname` string ("DNS:a, URI:vigil://host/h1, IP Address:1.2.3.4").
 * Node quotes a value holding a comma or quote as a JSON string, so the split honours quotes:
 * a crafted SAN cannot smuggle a second entry inside one value.
 */
export function subjectAltNames(text: string): { type: string; value: string }[] {
  const entries: { type: string; value: string }[] = [];
  let position = 0;
  while (position < text.length) {
    const colon = text.indexOf(":", position);
    if (colon < 0) break;
    const type = text.slice(position, colon);
    let value: string;
    let end: number;
    if (text[colon + 1] === '"') {
      end = colon + 2;
      while (end < text.length && text[end] !== '"') end += text[end] === "\\" ? 2 : 1;
      end += 1;
      try {
        value = JSON.parse(text.slice(colon + 1, end)) as string;
      } catch {
        value = "";
      }
    } else {
      end = text.indexOf(", ", colon + 1);
      if (end < 0) end = text.length;
      value = text.slice(colon + 1, end);
    }
    entries.push({ type, value });
    position = text.startsWith(", ", end) ? end + 2 : end + 1;
  }
  return entries;
}

function firstOf(value: string | string[] | undefined): string {
  return Array.isArray(value) ? (value[0] ?? "") : (value ?? "");
}

function allOf(value: string | string[] | undefined): string[] {
  return Array.isArray(value) ? value : value === undefined ? [] : [value];
}

/** The principal a verified certificate names (see the scheme above). */
export function principalOf(certificate: CertificateNames, roleMap: RoleMap): Principal {
  const commonName = firstOf(certificate.subject?.CN);
  const claims: Principal[] = [];
  for (const entry of subjectAltNames(certificate.subjectaltname ?? "")) {
    if (entry.type !== "URI") continue;
    const match = identityUriPattern.exec(entry.value);
    if (match === null) continue;
    const [, kind, value] = match as unknown as [string, string, string];
    if (kind === "host" && hostIdProblem(value) === null) claims.push({ kind: "agent", host: value, name: `host ${value}` });
    else if (kind === "replica" && hostIdProblem(value) === null) claims.push({ kind: "replica", replica: value, name: `replica ${value}` });
    else if (kind === "role" && (roles as readonly string[]).includes(value)) claims.push({ kind: "user", role: value as Role, name: `user ${commonName || "(no CN)"} (${value})` });
  }
  for (const unit of allOf(certificate.subject?.OU)) {
    const role = roleMap.get(unit);
    if (role !== undefined) claims.push({ kind: "user", role, name: `user ${commonName || "(no CN)"} (${role} by OU ${unit})` });
  }
  const label = commonName === "" ? "a certificate without CN" : `certificate CN=${commonName}`;
  if (claims.length === 0) return { kind: "unknown", name: label, why: "it names no vigil identity (vigil://host/, vigil://replica/ or vigil://role/ URI, or a mapped OU)" };
  const users = claims.filter((claim) => claim.kind === "user") as Extract<Principal, { kind: "user" }>[];
  // Several roles for one user: the strongest applies (an operator is also a reader).
  if (users.length === claims.length) return users.find((claim) => claim.role === "operator") ?? users[0]!;
  if (claims.length > 1) return { kind: "unknown", name: label, why: `it names ${claims.length} identities (${claims.map((claim) => claim.name).join(", ")})` };
  return claims[0]!;
}

/** The key a principal's rate limits are kept under: one bucket per host, replica or user. */
export function principalKey(principal: Principal): string {
  switch (principal.kind) {
    case "agent":
      return `host/${principal.host}`;
    case "replica":
      return `replica/${principal.replica}`;
    default:
      return principal.name;
  }
}
