// Parsers for the values operators type into flags: durations, integers, times, endpoints.
// Each returns null for text it does not accept, and args.ts turns that into a usage error.
// All of them are pure: `--since 10m` becomes "10 minutes ago" here and is resolved to a
// wall-clock time only when the command runs.

const millisecondsPerUnit: Readonly<Record<string, number>> = {
  ms: 1,
  s: 1_000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
};

/** "90s", "10m", "1h30m", "1.5h", "250ms" -> milliseconds. A bare number has no unit and is refused. */
export function parseDurationMs(text: string): number | null {
  const trimmed = text.trim();
  if (!/^(\d+(\.\d+)?(ms|s|m|h|d))+$/.test(trimmed)) return null;
  let totalMs = 0;
  for (const match of trimmed.matchAll(/(\d+(?:\.\d+)?)(ms|s|m|h|d)/g)) {
    const amount = Number(match[1]);
    const unitMs = millisecondsPerUnit[match[2] ?? ""];
    if (unitMs === undefined) return null;
    totalMs += amount * unitMs;
  }
  const rounded = Math.round(totalMs);
  return Number.isSafeInteger(rounded) ? rounded : null;
}

/** A base-10 integer within [min, max]; no signs other than a leading minus, no spaces, no exponents. */
export function parseInteger(text: string, bounds: { min: number; max: number }): number | null {
  if (!/^-?\d+$/.test(text)) return null;
  const value = Number(text);
  if (!Number.isSafeInteger(value)) return null;
  if (value < bounds.min || value > bounds.max) return null;
  return value;
}

export const uint32Max = 4_294_967_295;

/** The longest shutdown timeout vigild accepts (vm-service.ts: shutdownTimeoutMaxS). */
export const shutdownTimeoutSecondsMax = 3_600;
/** The priority range vigild accepts (vm-service.ts policyFromRequest). */
export const priorityMagnitudeMax = 1_000_000;
/** The most restarts vigild accepts for --max-restarts (vm-service.ts policyFromRequest). */
export const maxRestartsMax = 1_000;

/** `--timeout S` of vm shutdown: whole seconds ("120") or a duration ("2m"), rounded up to a second. */
export function parseShutdownTimeoutSeconds(text: string): number | null {
  const seconds = /^\d+$/.test(text) ? parseInteger(text, { min: 0, max: shutdownTimeoutSecondsMax }) : durationSeconds(text);
  if (seconds === null || seconds < 1 || seconds > shutdownTimeoutSecondsMax) return null;
  return seconds;
}

function durationSeconds(text: string): number | null {
  const durationMs = parseDurationMs(text);
  return durationMs === null ? null : Math.ceil(durationMs / 1_000);
}

/** When `events --since` starts: a fixed time, or a span before the moment the command runs. */
export type Since = { kind: "at"; atMs: number } | { kind: "ago"; agoMs: number };

/** "10m" (ten minutes ago) or an ISO 8601 date or time ("2025-03-01", "2025-03-01T12:00:00Z"). */
export function parseSince(text: string): Since | null {
  const agoMs = parseDurationMs(text);
  if (agoMs !== null) return { kind: "ago", agoMs };
  if (!/^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?)?$/.test(text.trim())) return null;
  const atMs = Date.parse(text.trim());
  if (!Number.isFinite(atMs) || atMs < 0) return null;
  return { kind: "at", atMs };
}

/** The unix-ms lower bound to send, given the moment the command runs. Never negative. */
export function resolveSinceMs(since: Since | null, nowMs: number): number {
  if (since === null) return 0;
  if (since.kind === "at") return since.atMs;
  return Math.max(0, nowMs - since.agoMs);
}

/** The vigild port assumed when an endpoint names no port (DESIGN §11). */
export const defaultVigildPort = 7400;
export const defaultEndpoint = `127.0.0.1:${defaultVigildPort}`;

/**
 * One endpoint as grpc-js wants it: "host:port", "[v6]:port", or a scheme target such as
 * "dns:///cp.example:7400" or "unix:///run/vigil.sock". A bare host gets port 7400.
 */
export function parseEndpoint(text: string): string | null {
  const endpoint = text.trim();
  if (endpoint === "" || /\s/.test(endpoint)) return null;
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(endpoint) || endpoint.startsWith("unix:")) return endpoint;
  const bracketed = /^\[([0-9a-fA-F:.]+)\](?::(\d+))?$/.exec(endpoint);
  if (bracketed !== null) return withPort(`[${bracketed[1]}]`, bracketed[2]);
  const plain = /^([A-Za-z0-9._-]+)(?::(\d+))?$/.exec(endpoint);
  if (plain !== null) return withPort(plain[1] ?? "", plain[2]);
  return null;
}

function withPort(host: string, portText: string | undefined): string | null {
  if (portText === undefined) return `${host}:${defaultVigildPort}`;
  const port = parseInteger(portText, { min: 1, max: 65_535 });
  return port === null ? null : `${host}:${port}`;
}

/** "cp1:7400,cp2:7400" -> endpoints in order, or the first entry that is not one. */
export function parseEndpointList(text: string): { endpoints: string[] } | { bad: string } {
  const endpoints: string[] = [];
  for (const item of text.split(",")) {
    if (item.trim() === "") continue;
    const endpoint = parseEndpoint(item);
    if (endpoint === null) return { bad: item.trim() };
    if (!endpoints.includes(endpoint)) endpoints.push(endpoint);
  }
  return endpoints.length === 0 ? { bad: text } : { endpoints };
}

/** "h1, h2,,h3" -> ["h1", "h2", "h3"]; "" -> [] (for --limit, every host). */
export function parseNameList(text: string): string[] {
  const names: string[] = [];
  for (const item of text.split(",")) {
    const name = item.trim();
    if (name !== "" && !names.includes(name)) names.push(name);
  }
  return names;
}
