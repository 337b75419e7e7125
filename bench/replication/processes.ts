// Child processes of the benchmark (vigild, etcd, the load client): started on loopback with
// their output in a log file, killed with SIGKILL on purpose (failover) or at the end, and always
// killed when the benchmark exits, also on failure. CPU time is read from /proc.
import { spawn, type ChildProcess } from "node:child_process";
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";

export interface ServerProcess {
  readonly name: string;
  readonly child: ChildProcess;
  readonly logPath: string;
  /** Resolves once the process has exited (by any signal or code). */
  readonly exited: Promise<void>;
}

const living = new Set<ChildProcess>();
let exitHookInstalled = false;

/** Kills every child still running: the benchmark never leaves a server behind. */
export function killAllChildren(): void {
  for (const child of living) {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
  }
  living.clear();
}

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on("exit", killAllChildren);
  for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"] as const) {
    process.on(signal, () => {
      killAllChildren();
      process.exit(130);
    });
  }
}

/** Makes `child` one of the processes killed when the benchmark exits. */
export function trackChild(child: ChildProcess): void {
  installExitHook();
  living.add(child);
  child.on("exit", () => living.delete(child));
}

export function isRunning(server: ServerProcess | null): server is ServerProcess {
  return server !== null && server.child.exitCode === null && server.child.signalCode === null;
}

/** Starts `command args` with stdout and stderr appended to `logPath`. */
export function startServer(name: string, command: string, args: readonly string[], logPath: string, env: Record<string, string> = {}): ServerProcess {
  installExitHook();
  const logFd = openSync(logPath, "a");
  const child = spawn(command, args, { stdio: ["ignore", logFd, logFd], env: { ...process.env, ...env } });
  closeSync(logFd);
  living.add(child);
  const exited = new Promise<void>((resolve) => {
    child.on("exit", () => {
      living.delete(child);
      resolve();
    });
    child.on("error", () => {
      living.delete(child);
      resolve();
    });
  });
  return { name, child, logPath, exited };
}

/** SIGKILL and wait (bounded) for the exit to be reaped. */
export async function killServer(server: ServerProcess, timeoutMs = 5_000): Promise<void> {
  if (!isRunning(server)) return;
  server.child.kill("SIGKILL");
  await withTimeout(server.exited, timeoutMs, `${server.name} to exit after SIGKILL`);
}

/** SIGTERM, then SIGKILL if it has not exited within `graceMs`. */
export async function stopServer(server: ServerProcess, graceMs = 5_000): Promise<void> {
  if (!isRunning(server)) return;
  server.child.kill("SIGTERM");
  const stopped = await Promise.race([server.exited.then(() => true), sleep(graceMs).then(() => false)]);
  if (!stopped) await killServer(server);
}

export function logTail(server: ServerProcess, characters = 2_000): string {
  try {
    return readFileSync(server.logPath, "utf8").slice(-characters);
  } catch {
    return "";
  }
}

const clockTicksPerSecond = 100; // USER_HZ on Linux

/** User + system CPU time of a process in milliseconds (0 once it is gone). */
export function cpuTimeMs(pid: number | undefined): number {
  if (pid === undefined) return 0;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // The command name may contain spaces; fields are counted after its closing parenthesis.
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    const userTicks = Number(fields[11]);
    const systemTicks = Number(fields[12]);
    return ((userTicks + systemTicks) * 1000) / clockTicksPerSecond;
  } catch {
    return 0;
  }
}

/**
 * Bytes a process has caused to be written to storage (/proc/PID/io write_bytes: page-cache pages
 * dirtied by its writes, the WAL and database pages included); 0 once it is gone.
 */
export function diskWriteBytes(pid: number | undefined): number {
  if (pid === undefined) return 0;
  try {
    const match = /^write_bytes: (\d+)$/m.exec(readFileSync(`/proc/${pid}/io`, "utf8"));
    return match === null ? 0 : Number(match[1]);
  } catch {
    return 0;
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

export class BenchTimeoutError extends Error {
  override name = "BenchTimeoutError";
}

export async function withTimeout<T>(promise: Promise<T>, timeoutMs: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new BenchTimeoutError(`timed out after ${timeoutMs} ms waiting for ${what}`)), timeoutMs);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Polls `probe` until it returns a value other than undefined, or fails after `timeoutMs`. */
export async function waitUntil<T>(probe: () => Promise<T | undefined> | T | undefined, options: { timeoutMs: number; intervalMs?: number; what: string }): Promise<T> {
  const deadline = performance.now() + options.timeoutMs;
  let lastError: unknown = null;
  for (;;) {
    try {
      const value = await probe();
      if (value !== undefined) return value;
    } catch (error) {
      lastError = error;
    }
    if (performance.now() > deadline) {
      const detail = lastError instanceof Error ? ` (last error: ${lastError.message})` : "";
      throw new BenchTimeoutError(`timed out after ${options.timeoutMs} ms waiting for ${options.what}${detail}`);
    }
    await sleep(options.intervalMs ?? 50);
  }
}

/** Ports free right now on 127.0.0.1 (the OS picks them; a tiny race with other users is accepted). */
export async function freePorts(count: number): Promise<number[]> {
  const servers = await Promise.all(
    Array.from({ length: count }, () => new Promise<ReturnType<typeof createServer>>((resolve, reject) => {
      const server = createServer();
      server.once("error", reject);
      server.listen(0, "127.0.0.1", () => resolve(server));
    })),
  );
  const ports = servers.map((server) => (server.address() as { port: number }).port);
  await Promise.all(servers.map((server) => new Promise((resolve) => server.close(resolve))));
  return ports;
}

export interface TemporaryDirectory {
  readonly path: string;
  remove(): void;
}

export function temporaryDirectory(prefix: string): TemporaryDirectory {
  const path = mkdtempSync(join(tmpdir(), `vigil-bench-${prefix}-`));
  return { path, remove: () => rmSync(path, { recursive: true, force: true }) };
}
