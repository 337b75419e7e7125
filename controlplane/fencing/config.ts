// vigild's `fencing` configuration (its YAML file): how each host is fenced (DESIGN §5). Validated
// once at start-up, so a typo stops vigild with the file, the key and the reason (exit 2) instead
// of failing a fence at 3 a.m. Every replica must carry the same section: whichever is primary fences.
//
//   fencing:
//     default: manual                  # manual | self | a mapping like a host's entry
//     hosts:
//       kvm1:
//         method: fence-agent
//         agent: /usr/sbin/fence_ipmilan
//         options: { ip: 10.0.0.11, username: admin, lanplus: 1 }
//         secretFiles: { password: /etc/vigil/secrets/kvm1-ipmi }
//         timeout: 30                  # seconds per agent call
//         retries: 1                   # further tries within one fence attempt
//         retryDelay: 2                # seconds between tries
//       kvm2: self
//
// `{host}` in an option value becomes the host's id, so one default entry can serve every host of
// a shared device (a PDU, a hypervisor's fence agent).
import { accessSync, constants, statSync } from "node:fs";
import { isAbsolute } from "node:path";
import type { Clock, Timers } from "../../common/env.js";
import { ConfigError, errorMessage } from "../../common/errors.js";
import type { Logger } from "../../common/logging.js";
import { isMapping } from "../../common/options.js";
import { hostIdProblem } from "../../common/validate.js";
import type { FenceMethod, FenceMethods } from "../primary/fence-device.js";
import { processAgentCallRunner, type AgentCallRunner } from "./agent-process.js";
import { FenceAgentDevice, type FenceAgentSettings } from "./fence-agent-device.js";

export const fencingDefaults = {
  method: "manual",
  timeoutSeconds: 30,
  retries: 1,
  retryDelaySeconds: 2,
} as const;
const retriesMax = 10;
const timeoutSecondsMax = 600;
const fenceMethodKinds = ["fence-agent", "self", "manual"] as const;
type FenceMethodKind = (typeof fenceMethodKinds)[number];
/** Options vigil itself sets on every call: `action` (and its deprecated alias `option`). */
const reservedOptions = new Set(["action", "option"]);
const optionNamePattern = /^[A-Za-z0-9_][A-Za-z0-9_.-]*$/;

/** One validated entry; a fence-agent entry's options may still hold `{host}`. */
type MethodEntry = { kind: "self" } | { kind: "manual" } | { kind: "fence-agent"; settings: Omit<FenceAgentSettings, "hostId"> };

export interface FencingContext {
  /** Named in errors; null when the section came from no file (tests). */
  configFile: string | null;
  clock: Clock;
  timers: Timers;
  logger: Logger;
  /** How agent calls run; child processes by default. */
  run?: AgentCallRunner;
}

export interface ConfiguredFenceMethods extends FenceMethods {
  /** One line for the start-up log: the default and each configured host's method. */
  summary(): string;
}

/** Validates vigild's `fencing` section (undefined: every host is fenced manually). Throws ConfigError. */
export function fenceMethodsFromConfig(section: unknown, context: FencingContext): ConfiguredFenceMethods {
  const file = context.configFile ?? "(fencing settings)";
  const fail = (key: string, reason: string): never => {
    throw new ConfigError(file, key, reason);
  };
  const root = section === undefined || section === null ? {} : section;
  if (!isMapping(root)) return fail("fencing", "must be a mapping with `default` and `hosts`");
  refuseUnknownKeys(root, ["default", "hosts"], "fencing", fail);
  const defaultEntry = parseEntry(root.default ?? fencingDefaults.method, "fencing.default", fail);
  const hostEntries = new Map<string, MethodEntry>();
  const hosts = root.hosts ?? {};
  if (!isMapping(hosts)) return fail("fencing.hosts", "must be a mapping of host id to its fencing");
  for (const [hostId, value] of Object.entries(hosts)) {
    const problem = hostIdProblem(hostId);
    if (problem !== null) fail(`fencing.hosts.${hostId}`, `host id ${problem}`);
    hostEntries.set(hostId, parseEntry(value, `fencing.hosts.${hostId}`, fail));
  }
  const run = context.run ?? processAgentCallRunner(context.clock, context.timers);
  const devices = new Map<string, FenceMethod>();
  const methodFor = (hostId: string): FenceMethod => {
    const known = devices.get(hostId);
    if (known !== undefined) return known;
    const entry = hostEntries.get(hostId) ?? defaultEntry;
    const method: FenceMethod =
      entry.kind === "fence-agent"
        ? { kind: "fence-agent", device: new FenceAgentDevice({ ...entry.settings, hostId, options: substituteHost(entry.settings.options, hostId) }, { run, timers: context.timers, logger: context.logger.child({ component: "fence-agent" }) }) }
        : { kind: entry.kind };
    devices.set(hostId, method);
    return method;
  };
  const describeEntry = (entry: MethodEntry) => (entry.kind === "fence-agent" ? `fence-agent ${entry.settings.agentPath}` : entry.kind);
  return {
    methodFor,
    summary: () => [`default ${describeEntry(defaultEntry)}`, ...[...hostEntries].sort(([a], [b]) => a.localeCompare(b)).map(([hostId, entry]) => `${hostId} ${describeEntry(entry)}`)].join(", "),
  };
}

type Fail = (key: string, reason: string) => never;

function refuseUnknownKeys(mapping: Record<string, unknown>, known: string[], at: string, fail: Fail): void {
  for (const key of Object.keys(mapping)) {
    if (!known.includes(key)) fail(`${at}.${key}`, `unknown setting (known: ${known.join(", ")})`);
  }
}

/** An entry is a method name (`self`, `manual`) or a mapping with `method` and its settings. */
function parseEntry(value: unknown, at: string, fail: Fail): MethodEntry {
  const entry = typeof value === "string" ? { method: value } : value;
  if (!isMapping(entry)) return fail(at, `must be a method name (${fenceMethodKinds.join(", ")}) or a mapping with \`method\``);
  const method = entry.method;
  if (typeof method !== "string" || !(fenceMethodKinds as readonly string[]).includes(method)) {
    return fail(`${at}.method`, `must be one of ${fenceMethodKinds.join(", ")}, got ${JSON.stringify(method ?? null)}`);
  }
  const kind = method as FenceMethodKind;
  if (kind !== "fence-agent") {
    refuseUnknownKeys(entry, ["method"], at, fail);
    return { kind };
  }
  refuseUnknownKeys(entry, ["method", "agent", "options", "secretFiles", "timeout", "retries", "retryDelay"], at, fail);
  const agentPath = executablePath(entry.agent, `${at}.agent`, fail);
  const options = parseOptions(entry.options, `${at}.options`, fail);
  const secretFiles = parseSecretFiles(entry.secretFiles, `${at}.secretFiles`, fail);
  for (const option of Object.keys(secretFiles)) {
    if (option in options) fail(`${at}.secretFiles.${option}`, `option ${option} is also set in ${at}.options; give it in one place`);
  }
  const timeoutSeconds = numberSetting(entry.timeout, fencingDefaults.timeoutSeconds, `${at}.timeout`, fail, { min: 0, max: timeoutSecondsMax, exclusiveMin: true });
  const retries = numberSetting(entry.retries, fencingDefaults.retries, `${at}.retries`, fail, { min: 0, max: retriesMax, integer: true });
  const retryDelaySeconds = numberSetting(entry.retryDelay, fencingDefaults.retryDelaySeconds, `${at}.retryDelay`, fail, { min: 0, max: timeoutSecondsMax });
  return {
    kind,
    settings: { agentPath, options, secretFiles, timeoutMs: Math.round(timeoutSeconds * 1000), retries, retryDelayMs: Math.round(retryDelaySeconds * 1000) },
  };
}

function executablePath(value: unknown, at: string, fail: Fail): string {
  if (typeof value !== "string" || value === "") return fail(at, "is required: the fence agent's executable, e.g. /usr/sbin/fence_ipmilan");
  if (!isAbsolute(value)) return fail(at, `must be an absolute path, got "${value}"`);
  try {
    if (!statSync(value).isFile()) return fail(at, `${value} is not a file`);
    accessSync(value, constants.X_OK);
  } catch (error) {
    if (error instanceof ConfigError) throw error;
    return fail(at, `${value} is not an executable file (${errorMessage(error)})`);
  }
  return value;
}

/** A value goes on one stdin line: no line breaks (FenceAgentAPI). */
function lineValue(value: unknown, at: string, fail: Fail): string {
  if (typeof value !== "string" && typeof value !== "number" && typeof value !== "boolean") return fail(at, "must be a string, number or true/false");
  const text = String(value);
  if (/[\r\n]/.test(text)) fail(at, "must not contain a line break");
  return text;
}

function checkOptionName(name: string, key: string, fail: Fail): void {
  if (!optionNamePattern.test(name)) fail(key, "is not a fence-agent option name (letters, digits, '_', '-', '.')");
  if (reservedOptions.has(name)) fail(key, "is set by vigil on each call (off, then status)");
}

function parseOptions(value: unknown, at: string, fail: Fail): Record<string, string> {
  if (value === undefined || value === null) return {};
  if (!isMapping(value)) return fail(at, "must be a mapping of fence-agent option to value");
  const options: Record<string, string> = {};
  for (const [name, optionValue] of Object.entries(value)) {
    checkOptionName(name, `${at}.${name}`, fail);
    if (/passw(or)?d/i.test(name) && !/_script$/.test(name)) fail(`${at}.${name}`, `looks like a secret: put it in a file and name it under secretFiles (secretFiles: { ${name}: /etc/vigil/secrets/... })`);
    options[name] = lineValue(optionValue, `${at}.${name}`, fail);
  }
  return options;
}

function parseSecretFiles(value: unknown, at: string, fail: Fail): Record<string, string> {
  if (value === undefined || value === null) return {};
  if (!isMapping(value)) return fail(at, "must be a mapping of fence-agent option to the file holding its value");
  const files: Record<string, string> = {};
  for (const [name, path] of Object.entries(value)) {
    const key = `${at}.${name}`;
    checkOptionName(name, key, fail);
    if (typeof path !== "string" || !isAbsolute(path)) fail(key, "must be the absolute path of a file holding the secret");
    // Read again at each fence (rotation needs no restart); checked now so a typo shows at start.
    try {
      accessSync(path as string, constants.R_OK);
    } catch (error) {
      fail(key, `${String(path)} is not readable by vigild (${errorMessage(error)})`);
    }
    files[name] = path as string;
  }
  return files;
}

function numberSetting(value: unknown, fallback: number, at: string, fail: Fail, bounds: { min: number; max: number; integer?: boolean; exclusiveMin?: boolean }): number {
  if (value === undefined || value === null) return fallback;
  const number = typeof value === "number" ? value : typeof value === "string" && value.trim() !== "" ? Number(value) : Number.NaN;
  const belowMin = bounds.exclusiveMin === true ? number <= bounds.min : number < bounds.min;
  if (!Number.isFinite(number) || belowMin || number > bounds.max || (bounds.integer === true && !Number.isInteger(number))) {
    const what = bounds.integer === true ? "a whole number" : "a number of seconds";
    return fail(at, `must be ${what} ${bounds.exclusiveMin === true ? ">" : ">="} ${bounds.min} and <= ${bounds.max}, got ${JSON.stringify(value)}`);
  }
  return number;
}

function substituteHost(options: Readonly<Record<string, string>>, hostId: string): Record<string, string> {
  return Object.fromEntries(Object.entries(options).map(([name, value]) => [name, value.split("{host}").join(hostId)]));
}
