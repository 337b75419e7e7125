// Shared by the packaging tests: where the built packages are, and running a
// command with a bound on its time.
import { spawnSync } from "node:child_process";
import { existsSync, readdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

/** The checkout's root (dist/test/packaging/support.js -> ../../..). */
export const repositoryRoot = join(dirname(fileURLToPath(import.meta.url)), "..", "..", "..");

/**
 * The directory of built packages, or a reason to skip. The package tests run
 * from packaging/test.sh, which installs their tools and builds the packages
 * first; `npm test` skips them. Once VIGIL_PACKAGES_DIR is set nothing is
 * skipped: a missing tool fails the test.
 */
export function packagesDirectory(): { directory: string; skip: false } | { directory: null; skip: string } {
  const directory = process.env.VIGIL_PACKAGES_DIR;
  if (directory === undefined || directory === "") return { directory: null, skip: "no built packages: run packaging/test.sh (VIGIL_PACKAGES_DIR unset)" };
  if (!existsSync(directory)) return { directory: null, skip: `VIGIL_PACKAGES_DIR ${directory} does not exist` };
  return { directory, skip: false };
}

/** The one file in `directory` whose name matches `pattern`. */
export function packageFile(directory: string, pattern: RegExp): string {
  const matches = readdirSync(directory).filter((name) => pattern.test(name));
  if (matches.length !== 1) throw new Error(`expected one package matching ${pattern} in ${directory}, found ${matches.length}: ${matches.join(", ")}`);
  return join(directory, matches[0]!);
}

export interface CommandResult {
  status: number | null;
  stdout: string;
  stderr: string;
  durationMs: number;
}

/** Runs a command to completion, killed after `timeoutMs`; never throws on a non-zero exit. */
export function run(command: string, args: string[], options: { timeoutMs?: number; input?: string; env?: NodeJS.ProcessEnv; cwd?: string } = {}): CommandResult {
  const started = performance.now();
  const result = spawnSync(command, args, {
    encoding: "utf8",
    timeout: options.timeoutMs ?? 120_000,
    input: options.input,
    env: options.env ?? process.env,
    cwd: options.cwd,
    maxBuffer: 64 * 1024 * 1024,
  });
  if (result.error !== undefined && (result.error as NodeJS.ErrnoException).code !== "ETIMEDOUT") throw result.error;
  return { status: result.status, stdout: result.stdout ?? "", stderr: result.stderr ?? "", durationMs: performance.now() - started };
}

/** Like run(), but a non-zero exit is an error that shows the command's output. */
export function runOk(command: string, args: string[], options: Parameters<typeof run>[2] = {}): CommandResult {
  const result = run(command, args, options);
  if (result.status !== 0) {
    throw new Error(`${command} ${args.join(" ")} exited with ${result.status}:\n${result.stdout.slice(-3000)}\n${result.stderr.slice(-3000)}`);
  }
  return result;
}
