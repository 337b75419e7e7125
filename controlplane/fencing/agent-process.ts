// Runs one ClusterLabs fence-agent call (doc/FenceAgentAPI.md of ClusterLabs/fence-agents): the
// arguments go to the agent's stdin as `key=value` lines, the exit code is the answer. The call is
// bounded: at the timeout the agent's whole process group is killed (a fence agent often runs
// ipmitool, curl or ssh as children), and its output is kept only up to a bound.
import { spawn } from "node:child_process";
import type { Clock, Timers } from "../../common/env.js";
import { errorMessage } from "../../common/errors.js";

/** Bytes kept of each of stdout and stderr (the tail: agents print their verdict last). */
export const capturedOutputBytesMax = 4096;
/** After the group is killed, how long the pipes may stay open (a grandchild that left the group). */
const pipeDrainAfterExitMs = 500;

export interface AgentCallRequest {
  agentPath: string;
  /** Lines written to stdin, in order, without their newline. Values never contain a line break. */
  stdinLines: string[];
  timeoutMs: number;
}

export interface AgentCallResult {
  /** The exit code; null when the agent was killed (timeout or signal) or could not start. */
  exitCode: number | null;
  signal: string | null;
  timedOut: boolean;
  /** Set when the executable could not be started at all (ENOENT, EACCES). */
  startError: string | null;
  stdout: string;
  stderr: string;
  durationMs: number;
}

/** Runs a fence-agent executable; how a call is run is swappable for tests of the device's logic. */
export type AgentCallRunner = (request: AgentCallRequest) => Promise<AgentCallResult>;

/** Keeps the last `capturedOutputBytesMax` bytes of a stream. */
class BoundedTail {
  private chunks: Buffer[] = [];
  private bytes = 0;
  private dropped = false;

  add(chunk: Buffer): void {
    this.chunks.push(chunk);
    this.bytes += chunk.length;
    while (this.bytes > capturedOutputBytesMax && this.chunks.length > 1) {
      this.bytes -= this.chunks.shift()!.length;
      this.dropped = true;
    }
  }

  text(): string {
    let buffer = Buffer.concat(this.chunks);
    if (buffer.length > capturedOutputBytesMax) {
      buffer = buffer.subarray(buffer.length - capturedOutputBytesMax);
      this.dropped = true;
    }
    const text = buffer.toString("utf8").trim();
    return this.dropped ? `…${text}` : text;
  }
}

/** The production runner: a child process in its own process group. */
export function processAgentCallRunner(clock: Clock, timers: Timers): AgentCallRunner {
  return (request) =>
    new Promise((resolve) => {
      const startedMs = clock.monotonicMs();
      const stdout = new BoundedTail();
      const stderr = new BoundedTail();
      let timedOut = false;
      let startError: string | null = null;
      let exit: { code: number | null; signal: string | null } | null = null;
      let settled = false;
      // detached: the agent leads a new process group, so the timeout can kill its children too.
      const child = spawn(request.agentPath, [], { detached: true, stdio: ["pipe", "pipe", "pipe"] });
      const killGroup = () => {
        try {
          if (child.pid !== undefined) process.kill(-child.pid, "SIGKILL");
        } catch {
          // Already gone.
        }
      };
      let cancelDrain: (() => void) | null = null;
      const settle = () => {
        if (settled) return;
        settled = true;
        cancelTimeout();
        cancelDrain?.();
        resolve({
          exitCode: exit?.code ?? null,
          signal: exit?.signal ?? null,
          timedOut,
          startError,
          stdout: stdout.text(),
          stderr: stderr.text(),
          durationMs: Math.round(clock.monotonicMs() - startedMs),
        });
      };
      const cancelTimeout = timers.after(request.timeoutMs, () => {
        timedOut = true;
        killGroup();
        // A killed agent whose grandchild escaped the group may keep the pipes open: do not wait for them.
        cancelDrain = timers.after(pipeDrainAfterExitMs, settle);
      });
      child.stdout.on("data", (chunk: Buffer) => stdout.add(chunk));
      child.stderr.on("data", (chunk: Buffer) => stderr.add(chunk));
      child.on("error", (error) => {
        startError = errorMessage(error);
        settle();
      });
      child.on("exit", (code, signal) => {
        exit = { code, signal };
        // Children the agent left behind must not outlive the call.
        killGroup();
        cancelDrain ??= timers.after(pipeDrainAfterExitMs, settle);
      });
      child.on("close", settle);
      // An agent that exits without reading stdin makes the write fail with EPIPE: not our error.
      child.stdin.on("error", () => undefined);
      child.stdin.end(request.stdinLines.map((line) => `${line}\n`).join(""));
    });
}
