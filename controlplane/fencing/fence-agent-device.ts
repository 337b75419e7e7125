// A FenceDevice (controlplane/primary/fence-device.ts) that drives a ClusterLabs fence agent such as
// fence_ipmilan or fence_redfish. powerOff runs `action=off` and then `action=status`, and reports
// "off" only when the status call confirms it (exit 2); a call that fails, times out or is not
// confirmed is tried again, at most `retries` more times, so one powerOff is bounded by
// (1 + retries) × (2 × timeout + retry delay).
//
// Secrets (a BMC password) live in files named by the configuration, are read at each fence (so a
// rotated password needs no restart), are passed only on the agent's stdin, and are redacted from
// the captured output before it reaches a detail or a log.
import { readFile } from "node:fs/promises";
import type { Timers } from "../../common/env.js";
import { errorMessage } from "../../common/errors.js";
import type { Logger } from "../../common/logging.js";
import type { FenceDevice, PowerOffOutcome, PowerStatus } from "../primary/fence-device.js";
import type { AgentCallResult, AgentCallRunner } from "./agent-process.js";

/** Exit codes of the `status` action (FenceAgentAPI): 0 on, 2 off, anything else unknown. */
const statusExitOn = 0;
const statusExitOff = 2;
const redacted = "[redacted]";

export interface FenceAgentSettings {
  hostId: string;
  /** Absolute path of the fence-agent executable. */
  agentPath: string;
  /** Options passed as `key=value` lines (ip, username, lanplus, port, ...); never secrets. */
  options: Readonly<Record<string, string>>;
  /** Option name => file whose content (trailing line break removed) is that option's value. */
  secretFiles: Readonly<Record<string, string>>;
  /** Bound on one call of the agent. */
  timeoutMs: number;
  /** Further tries of a failed or unconfirmed call within one powerOff or powerStatus. */
  retries: number;
  retryDelayMs: number;
}

type CallVerdict = { kind: "ok" } | { kind: "status"; status: PowerStatus } | { kind: "failed"; timedOut: boolean };

export class FenceAgentDevice implements FenceDevice {
  readonly hostId: string;
  /** One operation at a time per device: a BMC or PDU driven by two agents at once answers unreliably. */
  private queue: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly settings: FenceAgentSettings,
    private readonly environment: { run: AgentCallRunner; timers: Timers; logger: Logger },
  ) {
    this.hostId = settings.hostId;
  }

  powerOff(): Promise<{ outcome: PowerOffOutcome; detail: string }> {
    return this.serialized(() => this.runPowerOff());
  }

  powerStatus(): Promise<{ status: PowerStatus; detail: string }> {
    return this.serialized(() => this.runPowerStatus());
  }

  private serialized<T>(operation: () => Promise<T>): Promise<T> {
    const result = this.queue.then(operation, operation);
    this.queue = result.catch(() => undefined);
    return result;
  }

  private async runPowerOff(): Promise<{ outcome: PowerOffOutcome; detail: string }> {
    const details: string[] = [];
    let lastTimedOut = false;
    for (let attempt = 1; attempt <= 1 + this.settings.retries; attempt++) {
      if (attempt > 1) await this.pause();
      const off = await this.call("off", attempt, details);
      if (off.kind !== "ok") {
        lastTimedOut = off.kind === "failed" && off.timedOut;
        continue;
      }
      const status = await this.call("status", attempt, details);
      if (status.kind === "status" && status.status === "off") return { outcome: "off", detail: details.join("; ") };
      lastTimedOut = status.kind === "failed" && status.timedOut;
    }
    return { outcome: lastTimedOut ? "timeout" : "failed", detail: `power off not confirmed after ${1 + this.settings.retries} tries: ${details.join("; ")}` };
  }

  private async runPowerStatus(): Promise<{ status: PowerStatus; detail: string }> {
    const details: string[] = [];
    for (let attempt = 1; attempt <= 1 + this.settings.retries; attempt++) {
      if (attempt > 1) await this.pause();
      const verdict = await this.call("status", attempt, details);
      if (verdict.kind === "status" && verdict.status !== "unknown") return { status: verdict.status, detail: details.join("; ") };
    }
    return { status: "unknown", detail: details.join("; ") };
  }

  private pause(): Promise<void> {
    return new Promise((resolve) => this.environment.timers.after(this.settings.retryDelayMs, resolve));
  }

  /** One agent call; appends a one-line, secret-free account of it to `details`. */
  private async call(action: "off" | "status", attempt: number, details: string[]): Promise<CallVerdict> {
    const { logger } = this.environment;
    const secrets = await this.readSecrets();
    if ("problem" in secrets) {
      details.push(`${action}: ${secrets.problem}`);
      logger.warn({ host: this.hostId, action, attempt }, `fence agent not run: ${secrets.problem}`);
      return { kind: "failed", timedOut: false };
    }
    const stdinLines = [`action=${action}`, `nodename=${this.hostId}`];
    for (const [key, value] of Object.entries(this.settings.options)) stdinLines.push(`${key}=${value}`);
    for (const [key, value] of secrets.values) stdinLines.push(`${key}=${value}`);
    const result = await this.environment.run({ agentPath: this.settings.agentPath, stdinLines, timeoutMs: this.settings.timeoutMs });
    const verdict = judge(action, result);
    const account = `${action} (try ${attempt}): ${describe(result, [...secrets.values.values()])}`;
    details.push(account);
    const level = verdict.kind === "failed" || (action === "status" && verdict.kind === "status" && verdict.status !== "off") ? "warn" : "info";
    logger[level]({ host: this.hostId, action, attempt, exitCode: result.exitCode, timedOut: result.timedOut, durationMs: result.durationMs }, `fence agent ${account}`);
    return verdict;
  }

  private async readSecrets(): Promise<{ values: Map<string, string> } | { problem: string }> {
    const values = new Map<string, string>();
    for (const [option, file] of Object.entries(this.settings.secretFiles)) {
      let text: string;
      try {
        text = await readFile(file, "utf8");
      } catch (error) {
        return { problem: `secret file ${file} for option ${option} is unreadable (${errorMessage(error)})` };
      }
      const value = text.replace(/\r?\n$/, "");
      if (value.length === 0) return { problem: `secret file ${file} for option ${option} is empty` };
      // A line break would end the line early and smuggle further options into the agent's stdin.
      if (/[\r\n]/.test(value)) return { problem: `secret file ${file} for option ${option} holds more than one line` };
      values.set(option, value);
    }
    return { values };
  }
}

function judge(action: "off" | "status", result: AgentCallResult): CallVerdict {
  if (result.timedOut || result.exitCode === null) return { kind: "failed", timedOut: result.timedOut };
  if (action === "off") return result.exitCode === 0 ? { kind: "ok" } : { kind: "failed", timedOut: false };
  if (result.exitCode === statusExitOff) return { kind: "status", status: "off" };
  if (result.exitCode === statusExitOn) return { kind: "status", status: "on" };
  return { kind: "status", status: "unknown" };
}

/** One line: how the call ended and what the agent printed, with every secret value redacted. */
function describe(result: AgentCallResult, secretValues: string[]): string {
  const ending =
    result.startError !== null
      ? `could not start (${result.startError})`
      : result.timedOut
        ? `timed out after ${result.durationMs} ms, process group killed`
        : result.exitCode === null
          ? `killed by ${result.signal ?? "a signal"} after ${result.durationMs} ms`
          : `exit ${result.exitCode} in ${result.durationMs} ms`;
  const output = [result.stdout && `stdout: ${oneLine(result.stdout)}`, result.stderr && `stderr: ${oneLine(result.stderr)}`].filter(Boolean).join(", ");
  return redact(output === "" ? ending : `${ending}, ${output}`, secretValues);
}

function oneLine(text: string): string {
  return text.replace(/\s*\n\s*/g, " | ");
}

function redact(text: string, secretValues: string[]): string {
  let safe = text;
  for (const secret of secretValues) safe = safe.split(secret).join(redacted);
  return safe;
}
