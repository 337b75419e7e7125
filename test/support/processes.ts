// Real vigild, vigil-agent and vigilctl processes for integration tests, on
// loopback with temporary directories. Every wait is bounded.
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { waitFor } from "./wait.js";

export const distRoot = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
export const vigildPath = join(distRoot, "controlplane", "main.js");
export const agentPath = join(distRoot, "agent", "main.js");
export const vigilctlPath = join(distRoot, "controlplane", "cli", "vigilctl.js");

export interface RunningProcess {
  name: string;
  child: ChildProcess;
  output(): string;
  /** Resolves with the exit code once the process has exited. */
  exited: Promise<number | null>;
}

export function startProcess(name: string, script: string, args: string[], env: Record<string, string> = {}): RunningProcess {
  const child = spawn(process.execPath, [script, ...args], { env: { ...process.env, VIGIL_LOG_LEVEL: "info", ...env }, stdio: ["ignore", "pipe", "pipe"] });
  let output = "";
  child.stdout!.on("data", (chunk: Buffer) => (output += chunk.toString()));
  child.stderr!.on("data", (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
  return { name, child, output: () => output, exited };
}

/** Sends SIGTERM and waits (bounded) for exit; returns the exit code. */
export async function stopProcess(running: RunningProcess, timeoutMs = 15_000): Promise<number | null> {
  if (running.child.exitCode !== null) return running.child.exitCode;
  running.child.kill("SIGTERM");
  const timeout = new Promise<"timeout">((resolve) => setTimeout(() => resolve("timeout"), timeoutMs).unref());
  const result = await Promise.race([running.exited, timeout]);
  if (result === "timeout") {
    running.child.kill("SIGKILL");
    throw new Error(`${running.name} did not stop within ${timeoutMs} ms after SIGTERM:\n${running.output().slice(-2000)}`);
  }
  return result;
}

export function killProcess(running: RunningProcess): Promise<number | null> {
  running.child.kill("SIGKILL");
  return running.exited;
}

export function temporaryDirectory(prefix: string): { path: string; remove(): void } {
  const path = mkdtempSync(join(tmpdir(), `vigil-${prefix}-`));
  return { path, remove: () => rmSync(path, { recursive: true, force: true }) };
}

export interface Vigild extends RunningProcess {
  address: string;
}

/** PEM files of one certificate and its CA (test/support/pki.ts makes them). */
export interface TlsFiles {
  ca: string;
  cert: string;
  key: string;
}

/** `--insecure` by default, so that tests without certificates stay as they were; the TLS flags otherwise. */
export function securityArgs(tls: TlsFiles | undefined): string[] {
  return tls === undefined ? ["--insecure"] : ["--tls-ca", tls.ca, "--tls-cert", tls.cert, "--tls-key", tls.key];
}

/** Starts vigild on an OS-chosen port and waits until it logs that it is ready. */
export async function startVigild(options: { id?: string; dataDir: string; extraArgs?: string[]; tls?: TlsFiles }): Promise<Vigild> {
  const running = startProcess(`vigild ${options.id ?? "cp1"}`, vigildPath, [
    ...securityArgs(options.tls),
    "--id",
    options.id ?? "cp1",
    "--listen",
    "127.0.0.1:0",
    "--data-dir",
    options.dataDir,
    ...(options.extraArgs ?? []),
  ]);
  const port = await waitFor(
    () => {
      if (running.child.exitCode !== null) throw new Error(`vigild exited with ${running.child.exitCode}:\n${running.output()}`);
      const match = /"port":(\d+)[^\n]*"msg":"vigild ready"/.exec(running.output());
      return match?.[1];
    },
    { timeoutMs: 20_000, what: "vigild to be ready" },
  );
  return { ...running, address: `127.0.0.1:${port}` };
}

export function startAgent(options: { hostId: string; controlPlane: string; stateDir: string; libvirtUri?: string; env?: Record<string, string>; extraArgs?: string[]; tls?: TlsFiles }): RunningProcess {
  return startProcess(
    `agent ${options.hostId}`,
    agentPath,
    [
      ...securityArgs(options.tls),
      "--host-id",
      options.hostId,
      "--control-plane",
      options.controlPlane,
      "--libvirt-uri",
      options.libvirtUri ?? "test:///default",
      "--state-dir",
      options.stateDir,
      ...(options.extraArgs ?? []),
    ],
    options.env,
  );
}

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs vigilctl synchronously against `endpoint` (plaintext, or with a user's TLS files). */
export function vigilctl(endpoint: string, args: string[], options: { tls?: TlsFiles } = {}): CliResult {
  const tlsArgs = options.tls === undefined ? [] : ["--tls-ca", options.tls.ca, "--tls-cert", options.tls.cert, "--tls-key", options.tls.key];
  const result = spawnSync(process.execPath, [vigilctlPath, "--endpoints", endpoint, ...tlsArgs, ...args], { encoding: "utf8", timeout: 60_000 });
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}

/** Runs `vigilctl -o json ...` and parses its output, failing with stderr when it exits non-zero. */
export function vigilctlJson<T>(endpoint: string, args: string[], options: { tls?: TlsFiles } = {}): T {
  const result = vigilctl(endpoint, ["-o", "json", ...args], options);
  if (result.code !== 0) throw new Error(`vigilctl ${args.join(" ")} exited ${result.code}: ${result.stderr.trim()}`);
  return JSON.parse(result.stdout) as T;
}
