// Turns vigilctl's argv into a typed CliCommand, or help text, or a one-line usage error.
// Pure: no I/O and no clock; the environment arrives as a parameter. Every usage problem
// is found here, before any RPC is made, so that bad usage always exits 2.
//
// Flags may appear anywhere (before the noun, between words, after the arguments). node's
// parseArgs runs non-strict over the whole argv with every known flag declared, and the
// tokens it returns are then checked against the command that the positionals name.
import { parseArgs } from "node:util";
import type { Role } from "../../common/identity.js";
import type { TlsFiles } from "../../common/tls.js";
import { completionScript } from "./completion.js";
import { UsageError } from "./errors.js";
import {
  type CommandKind,
  type FlagName,
  type FlagUse,
  type OutputFormat,
  type RestartPolicy,
  type Selector,
  type VerbSpec,
  flagTypes,
  globalFlags,
  isFlagName,
  nounSummaries,
  onOff,
  outputFormats,
  restartPolicies,
  selectors,
  usageLine,
  verbSpecs,
  wordsAfter,
} from "./grammar.js";
import { caDaysDefault, certificateDaysDefault, issueProblem, type CertificateKind, type IssueRequest } from "./pki.js";
import { groupHelp, groupUsage, topHelp, verbHelp } from "./usage.js";
import {
  type Since,
  defaultEndpoint,
  maxRestartsMax,
  parseDurationMs,
  parseEndpointList,
  parseInteger,
  parseNameList,
  parseShutdownTimeoutSeconds,
  parseSince,
  priorityMagnitudeMax,
  shutdownTimeoutSecondsMax,
  uint32Max,
} from "./values.js";

export interface GlobalOptions {
  endpoints: string[];
  output: OutputFormat;
  /** Deadline of each call; some commands allow longer (see commands.ts). */
  timeoutMs: number;
  /** mTLS files; absent: plaintext (servers started with --insecure). */
  tls?: TlsFiles;
}

export const defaultTimeoutMs = 30_000;
/** A deadline beyond a day is a typo, not a plan. */
export const timeoutMsMax = 86_400_000;
export const defaultWaitTimeoutMs = 30 * 60_000;
/** `--wait` never waits longer than a week. */
export const waitTimeoutMsMax = 7 * 86_400_000;

/** `--wait` on migrate, flush and unflush: poll the job until it ends or this much time passes. */
export interface WaitOptions {
  timeoutMs: number;
}

/** The policy fields of `vm set`; absent means unchanged. */
export interface VmPolicyChange {
  restart?: RestartPolicy;
  priority?: number;
  limit?: string[];
  selector?: Selector;
  autorestart?: boolean;
  maxRestarts?: number;
  migrationFallback?: boolean;
}

export type CliCommand =
  | { kind: "cluster.status" }
  | { kind: "cluster.maintenance"; on: boolean }
  /** `to` is "" when the server should pick the replica. */
  | { kind: "cluster.transfer-primary"; to: string }
  | { kind: "cluster.member.add"; id: string; address: string }
  | { kind: "cluster.member.remove"; id: string }
  | { kind: "host.list" }
  | { kind: "host.show"; host: string }
  | { kind: "host.flush"; host: string; wait: WaitOptions | null }
  | { kind: "host.unflush"; host: string; wait: WaitOptions | null }
  | { kind: "host.maintenance"; host: string; on: boolean }
  | { kind: "host.confirm-fenced"; host: string }
  | { kind: "host.remove"; host: string }
  /** `host` is "" for every host. */
  | { kind: "vm.list"; host: string }
  | { kind: "vm.show"; vm: string }
  /** `on` is "" when the server should pick the host. */
  | { kind: "vm.start"; vm: string; on: string }
  /** `timeoutS` is 0 for the server's default. */
  | { kind: "vm.shutdown"; vm: string; timeoutS: number }
  | { kind: "vm.stop"; vm: string }
  | { kind: "vm.migrate"; vm: string; to: string; forceLive: boolean; wait: WaitOptions | null }
  | { kind: "vm.set"; vm: string; policy: VmPolicyChange }
  /** `vm` and `host` are "" for no filter. */
  | { kind: "job.list"; vm: string; host: string }
  | { kind: "job.show"; id: string }
  | { kind: "job.cancel"; id: string }
  /** `limit` is 0 for the server's default. */
  | { kind: "events"; follow: boolean; host: string; vm: string; since: Since | null; limit: number }
  /** `key` is "" for every setting. */
  | { kind: "config.get"; key: string }
  | { kind: "config.set"; key: string; value: string }
  | { kind: "pki.init"; dir: string; days: number }
  | { kind: "pki.issue"; request: IssueRequest };

export type ParseResult =
  | { kind: "run"; globals: GlobalOptions; command: CliCommand }
  | { kind: "help"; text: string }
  | { kind: "completion"; script: string }
  | { kind: "usage-error"; message: string };

export interface ParseEnvironment {
  VIGIL_ENDPOINTS?: string | undefined;
  VIGIL_TLS_CA?: string | undefined;
  VIGIL_TLS_CERT?: string | undefined;
  VIGIL_TLS_KEY?: string | undefined;
}

export function parseCommandLine(argv: readonly string[], environment: ParseEnvironment): ParseResult {
  try {
    return parseOrThrow(argv, environment);
  } catch (error) {
    if (error instanceof UsageError) return { kind: "usage-error", message: error.message };
    throw error;
  }
}

/** One flag as it appeared on the command line. */
interface FlagToken {
  name: string;
  rawName: string;
  value: string | undefined;
  inlineValue: boolean;
}

type FlagValues = ReadonlyMap<FlagName, string | true>;

function parseOrThrow(argv: readonly string[], environment: ParseEnvironment): ParseResult {
  const { positionals, tokens } = parseArgs({
    args: [...argv],
    options: flagTypes,
    allowPositionals: true,
    strict: false,
    tokens: true,
  });
  const flagTokens: FlagToken[] = [];
  for (const token of tokens) {
    if (token.kind !== "option") continue;
    flagTokens.push({ name: token.name, rawName: token.rawName, value: token.value, inlineValue: token.inlineValue === true });
  }
  const helpWanted = flagTokens.some((token) => token.name === "help");
  const [first, ...rest] = positionals;
  if (first === undefined) {
    if (helpWanted) return { kind: "help", text: topHelp() };
    throw new UsageError(`missing command; usage: vigilctl [flags] NOUN VERB ... (nouns: ${nounList()}; see vigilctl help)`);
  }
  if (first === "help") return { kind: "help", text: helpFor(rest) };
  if (first === "completion") return completion(rest, flagTokens);
  const target = resolve(positionals);
  if (target.kind === "group") {
    if (helpWanted || target.helpWord) return { kind: "help", text: groupHelp(target.prefix) };
    throw new UsageError(`missing command; usage: ${groupUsage(target.prefix)}`);
  }
  if (helpWanted) return { kind: "help", text: verbHelp(target.spec) };
  const command = target.spec.path.join(" ");
  const flags = checkFlags(flagTokens, [...globalFlags, ...target.spec.flags], { command, usage: usageLine(target.spec) });
  checkArgs(target.spec, target.args);
  const globals = parseGlobals(flags, environment);
  return { kind: "run", globals, command: buildCommand(target.spec, target.args, flags) };
}

function nounList(): string {
  return nounSummaries.map(([noun]) => noun).join(", ");
}

type Target =
  | { kind: "spec"; spec: VerbSpec; args: string[] }
  /** The words stop at a noun or group (or say "help" there): `prefix` names it. */
  | { kind: "group"; prefix: string[]; helpWord: boolean };

function resolve(positionals: readonly string[]): Target {
  const prefix: string[] = [];
  for (let index = 0; ; index += 1) {
    const spec = verbSpecs.find((candidate) => samePath(candidate.path, prefix));
    if (spec !== undefined) return { kind: "spec", spec, args: positionals.slice(index) };
    const word = positionals[index];
    if (word === undefined) return { kind: "group", prefix, helpWord: false };
    if (word === "help" && index > 0) return { kind: "group", prefix, helpWord: true };
    if (!wordsAfter(prefix).includes(word)) throw unknownWord(prefix, word);
    prefix.push(word);
  }
}

function samePath(path: readonly string[], prefix: readonly string[]): boolean {
  return path.length === prefix.length && path.every((word, index) => prefix[index] === word);
}

function unknownWord(prefix: readonly string[], word: string): UsageError {
  if (prefix.length === 0) return new UsageError(`unknown command "${word}" (nouns: ${nounList()}; see vigilctl help)`);
  return new UsageError(`unknown ${prefix.join(" ")} command "${word}"; usage: ${groupUsage(prefix)}`);
}

function helpFor(words: readonly string[]): string {
  if (words.length === 0) return topHelp();
  const target = resolve(words);
  if (target.kind === "group") return groupHelp(target.prefix);
  if (target.args.length > 0) throw new UsageError(`usage: vigilctl help [NOUN [VERB]]`);
  return verbHelp(target.spec);
}

function completion(words: readonly string[], flagTokens: readonly FlagToken[]): ParseResult {
  checkFlags(flagTokens, globalFlags, { command: "completion", usage: "vigilctl completion bash" });
  if (words.length !== 1 || words[0] !== "bash") throw new UsageError("usage: vigilctl completion bash");
  return { kind: "completion", script: completionScript() };
}

/** Checks every flag against the command (e.g. "vm start") that allows `allowed`; returns their values. */
function checkFlags(tokens: readonly FlagToken[], allowed: readonly FlagUse[], where: { command: string; usage: string }): FlagValues {
  const { command, usage } = where;
  const values = new Map<FlagName, string | true>();
  for (const token of tokens) {
    if (!isFlagName(token.name)) throw new UsageError(`unknown flag ${token.rawName}; usage: ${usage}`);
    const name = token.name;
    if (!allowed.some((flag) => flag.name === name)) {
      throw new UsageError(`flag --${name} does not apply to ${command}; usage: ${usage}`);
    }
    if (values.has(name)) throw new UsageError(`flag --${name} given twice`);
    values.set(name, flagValue(token, name, usage));
  }
  return values;
}

function flagValue(token: FlagToken, name: FlagName, usage: string): string | true {
  if (flagTypes[name].type === "boolean") {
    if (token.value !== undefined) throw new UsageError(`flag --${name} takes no value; usage: ${usage}`);
    return true;
  }
  // Non-strict parsing lets "--to --wait" take "--wait" as the value; that is a missing value.
  const missing = token.value === undefined || (!token.inlineValue && token.value.startsWith("--"));
  if (missing) throw new UsageError(`flag --${name} needs a value; usage: ${usage}`);
  return token.value ?? "";
}

function checkArgs(spec: VerbSpec, args: readonly string[]): void {
  const required = spec.args.filter((arg) => arg.optional !== true);
  const usage = usageLine(spec);
  if (args.length < required.length) {
    const missing = required[args.length]?.name ?? "an argument";
    throw new UsageError(`missing ${missing}; usage: ${usage}`);
  }
  if (args.length > spec.args.length) {
    throw new UsageError(`unexpected argument "${args[spec.args.length] ?? ""}"; usage: ${usage}`);
  }
  spec.args.forEach((arg, index) => {
    const value = args[index];
    if (value === undefined) return;
    if (value.trim() === "") throw new UsageError(`${arg.name} must not be empty; usage: ${usage}`);
    if (arg.choices !== undefined && !arg.choices.includes(value)) {
      throw new UsageError(`expected ${arg.choices.join(" or ")}, got "${value}"; usage: ${usage}`);
    }
  });
}

function parseGlobals(flags: FlagValues, environment: ParseEnvironment): GlobalOptions {
  const endpointText = text(flags, "endpoints") ?? nonEmpty(environment.VIGIL_ENDPOINTS) ?? defaultEndpoint;
  const endpointList = parseEndpointList(endpointText);
  if ("bad" in endpointList) {
    const source = flags.has("endpoints") ? "--endpoints" : "VIGIL_ENDPOINTS";
    throw new UsageError(`${source}: "${endpointList.bad}" is not an endpoint (host:port, comma-separated)`);
  }
  const output = choice(flags, "output", outputFormats) ?? "table";
  const timeoutMs = integer(flags, "timeout-ms", { min: 1, max: timeoutMsMax }) ?? defaultTimeoutMs;
  const tls = tlsFiles(flags, environment);
  return tls === null ? { endpoints: endpointList.endpoints, output, timeoutMs } : { endpoints: endpointList.endpoints, output, timeoutMs, tls };
}

/** The three mTLS files from flags or VIGIL_TLS_*; all or none. */
function tlsFiles(flags: FlagValues, environment: ParseEnvironment): TlsFiles | null {
  const ca = text(flags, "tls-ca") ?? nonEmpty(environment.VIGIL_TLS_CA);
  const cert = text(flags, "tls-cert") ?? nonEmpty(environment.VIGIL_TLS_CERT);
  const key = text(flags, "tls-key") ?? nonEmpty(environment.VIGIL_TLS_KEY);
  if (ca === undefined && cert === undefined && key === undefined) return null;
  if (ca === undefined || cert === undefined || key === undefined) {
    throw new UsageError("mTLS needs all of --tls-ca, --tls-cert and --tls-key (or VIGIL_TLS_CA, VIGIL_TLS_CERT, VIGIL_TLS_KEY)");
  }
  return { ca, cert, key };
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value.trim() === "" ? undefined : value;
}

function text(flags: FlagValues, name: FlagName): string | undefined {
  const value = flags.get(name);
  return typeof value === "string" ? value : undefined;
}

/** A flag naming something (a host, a replica): present means non-empty. */
function identifier(flags: FlagValues, flag: FlagName): string {
  const value = text(flags, flag);
  if (value === undefined) return "";
  if (value.trim() === "") throw new UsageError(`flag --${flag} needs a value`);
  return value.trim();
}

function enabled(flags: FlagValues, name: FlagName): boolean {
  return flags.get(name) === true;
}

function choice<T extends string>(flags: FlagValues, name: FlagName, choices: readonly T[]): T | undefined {
  const value = text(flags, name);
  if (value === undefined) return undefined;
  const found = choices.find((candidate) => candidate === value);
  if (found === undefined) throw new UsageError(`bad --${name} "${value}": expected ${choices.join(", ")}`);
  return found;
}

function integer(flags: FlagValues, name: FlagName, bounds: { min: number; max: number }): number | undefined {
  const value = text(flags, name);
  if (value === undefined) return undefined;
  const parsed = parseInteger(value, bounds);
  if (parsed === null) throw new UsageError(`bad --${name} "${value}": expected an integer from ${bounds.min} to ${bounds.max}`);
  return parsed;
}

function waitOptions(flags: FlagValues): WaitOptions | null {
  const timeoutText = text(flags, "wait-timeout");
  if (!enabled(flags, "wait")) {
    if (timeoutText !== undefined) throw new UsageError("flag --wait-timeout needs --wait");
    return null;
  }
  if (timeoutText === undefined) return { timeoutMs: defaultWaitTimeoutMs };
  const timeoutMs = parseDurationMs(timeoutText);
  if (timeoutMs === null || timeoutMs <= 0 || timeoutMs > waitTimeoutMsMax) {
    throw new UsageError(`bad --wait-timeout "${timeoutText}": expected a duration like 90s, 30m or 2h (at most 7d)`);
  }
  return { timeoutMs };
}

function buildCommand(spec: VerbSpec, args: readonly string[], flags: FlagValues): CliCommand {
  const first = args[0]?.trim() ?? "";
  const second = args[1]?.trim() ?? "";
  const kind: CommandKind = spec.kind;
  switch (kind) {
    case "cluster.status":
    case "host.list":
      return { kind };
    case "job.list":
      return { kind, vm: identifier(flags, "vm"), host: identifier(flags, "host") };
    case "cluster.maintenance":
      return { kind, on: first === "on" };
    case "cluster.transfer-primary":
      return { kind, to: identifier(flags, "to") };
    case "cluster.member.add":
      return { kind, id: first, address: second };
    case "cluster.member.remove":
      return { kind, id: first };
    case "host.show":
    case "host.confirm-fenced":
    case "host.remove":
      return { kind, host: first };
    case "host.flush":
    case "host.unflush":
      return { kind, host: first, wait: waitOptions(flags) };
    case "host.maintenance":
      return { kind, host: first, on: second === "on" };
    case "vm.list":
      return { kind, host: identifier(flags, "host") };
    case "vm.show":
    case "vm.stop":
      return { kind, vm: first };
    case "vm.start":
      return { kind, vm: first, on: identifier(flags, "on") };
    case "vm.shutdown":
      return { kind, vm: first, timeoutS: shutdownTimeout(flags) };
    case "vm.migrate":
      return { kind, vm: first, to: identifier(flags, "to"), forceLive: enabled(flags, "force-live"), wait: waitOptions(flags) };
    case "vm.set":
      return { kind, vm: first, policy: policyChange(flags, usageLine(spec)) };
    case "job.show":
    case "job.cancel":
      return { kind, id: first };
    case "events":
      return eventsCommand(flags);
    case "config.get":
      return { kind, key: first };
    case "config.set":
      return { kind, key: first, value: args[1] ?? "" };
    case "pki.init":
      return { kind, dir: text(flags, "dir") ?? "vigil-pki", days: integer(flags, "days", { min: 1, max: 36_500 }) ?? caDaysDefault };
    case "pki.issue":
      return { kind, request: issueRequest(first as CertificateKind, second, flags) };
  }
}

function issueRequest(kind: CertificateKind, name: string, flags: FlagValues): IssueRequest {
  const role = choice(flags, "role", ["reader", "operator"] as const satisfies readonly Role[]);
  const sans = text(flags, "san");
  const request: IssueRequest = {
    dir: text(flags, "dir") ?? "vigil-pki",
    kind,
    name,
    days: integer(flags, "days", { min: 1, max: 36_500 }) ?? certificateDaysDefault,
    sans: sans === undefined ? [] : parseNameList(sans),
  };
  if (role !== undefined) request.role = role;
  const problem = issueProblem(request);
  if (problem !== null) throw new UsageError(problem);
  return request;
}

function shutdownTimeout(flags: FlagValues): number {
  const value = text(flags, "timeout");
  if (value === undefined) return 0;
  const seconds = parseShutdownTimeoutSeconds(value);
  if (seconds === null) {
    throw new UsageError(`bad --timeout "${value}": expected seconds (1 to ${shutdownTimeoutSecondsMax}) or a duration like 2m`);
  }
  return seconds;
}

function policyChange(flags: FlagValues, usage: string): VmPolicyChange {
  const policy: VmPolicyChange = {};
  const restart = choice(flags, "restart", restartPolicies);
  if (restart !== undefined) policy.restart = restart;
  const priority = integer(flags, "priority", { min: -priorityMagnitudeMax, max: priorityMagnitudeMax });
  if (priority !== undefined) policy.priority = priority;
  const limit = text(flags, "limit");
  if (limit !== undefined) policy.limit = parseNameList(limit);
  const selector = choice(flags, "selector", selectors);
  if (selector !== undefined) policy.selector = selector;
  const autorestart = choice(flags, "autorestart", onOff);
  if (autorestart !== undefined) policy.autorestart = autorestart === "on";
  const maxRestarts = integer(flags, "max-restarts", { min: 0, max: maxRestartsMax });
  if (maxRestarts !== undefined) policy.maxRestarts = maxRestarts;
  const migrationFallback = choice(flags, "migration-fallback", onOff);
  if (migrationFallback !== undefined) policy.migrationFallback = migrationFallback === "on";
  if (Object.keys(policy).length === 0) throw new UsageError(`nothing to change; usage: ${usage}`);
  return policy;
}

function eventsCommand(flags: FlagValues): CliCommand {
  const sinceText = text(flags, "since");
  let since: Since | null = null;
  if (sinceText !== undefined) {
    since = parseSince(sinceText);
    if (since === null) throw new UsageError(`bad --since "${sinceText}": expected an ISO time (2025-03-01T12:00:00Z) or a duration like 10m`);
  }
  const limit = integer(flags, "limit", { min: 1, max: uint32Max }) ?? 0;
  return { kind: "events", follow: enabled(flags, "follow"), host: identifier(flags, "host"), vm: identifier(flags, "vm"), since, limit };
}
