// A Debian 12 system booted with a real systemd as PID 1 (LAB.md: mmdebstrap
// + systemd-nspawn -b), for the .deb lifecycle test. Private network (only
// loopback), so ports inside never meet the host's. Every wait is bounded.
import { spawn, type ChildProcess } from "node:child_process";
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, renameSync, rmSync } from "node:fs";
import { join } from "node:path";
import { waitFor } from "../support/wait.js";
import { run, runOk, type CommandResult } from "./support.js";

/** What the container needs besides minbase: systemd itself, libvirt0 for the agent, curl for metrics, man-db for `systemd-analyze verify` of Documentation=. */
const rootfsPackages = ["systemd", "systemd-sysv", "dbus", "libvirt0", "curl", "man-db"];
const mirror = process.env.VIGIL_DEBIAN_MIRROR ?? "http://deb.debian.org/debian";
const bootTimeoutMs = 120_000;
const shutdownTimeoutMs = 60_000;

/** A minbase bookworm tarball, built once per package list and cached in `cacheDirectory` (about 80 s to build). */
export function ensureRootfs(cacheDirectory: string): { tarball: string; builtMs: number | null } {
  const key = rootfsPackages.join("-");
  const tarball = join(cacheDirectory, `rootfs-bookworm-${key}.tar`);
  if (existsSync(tarball)) return { tarball, builtMs: null };
  mkdirSync(cacheDirectory, { recursive: true });
  const partial = `${tarball}.partial.tar`;
  // stdin is not a terminal here: without a mirror argument mmdebstrap would read sources from it.
  const built = runOk("mmdebstrap", ["--variant=minbase", `--include=${rootfsPackages.join(",")}`, "bookworm", partial, mirror], { timeoutMs: 900_000 });
  renameSync(partial, tarball);
  return { tarball, builtMs: built.durationMs };
}

export class BootedContainer {
  private constructor(
    readonly root: string,
    private readonly nspawn: ChildProcess,
    readonly initPid: number,
  ) {}

  /** Extracts `tarball` into `root`, lets `prepare` add files, and boots it; resolves once systemd reports the system up. */
  static async boot(options: { tarball: string; root: string; name: string; logPath: string; prepare(root: string): void }): Promise<BootedContainer> {
    mkdirSync(options.root, { recursive: true });
    runOk("tar", ["-xf", options.tarball, "-C", options.root], { timeoutMs: 300_000 });
    options.prepare(options.root);
    const log = openSync(options.logPath, "w");
    // --register=no --keep-unit: the host has no systemd or machined to register with.
    const nspawn = spawn(
      "systemd-nspawn",
      ["-D", options.root, "-b", "--private-network", "--register=no", "--keep-unit", `--machine=${options.name}`, "--console=passive", "-q"],
      { stdio: ["ignore", log, log] },
    );
    closeSync(log);
    const initPid = await waitFor(
      () => {
        if (nspawn.exitCode !== null) throw new Error(`systemd-nspawn exited with ${nspawn.exitCode}: ${readFileSync(options.logPath, "utf8").slice(-2000)}`);
        const children = readFileSync(`/proc/${nspawn.pid}/task/${nspawn.pid}/children`, "utf8").trim();
        return children === "" ? undefined : Number(children.split(" ")[0]);
      },
      { timeoutMs: 30_000, what: "the container's init process" },
    );
    const container = new BootedContainer(options.root, nspawn, initPid);
    await waitFor(
      () => {
        // "degraded" still boots far enough for these tests; which unit failed is in the log below.
        const state = container.exec(["systemctl", "is-system-running", "--wait"], { timeoutMs: bootTimeoutMs }).stdout.trim();
        return state === "running" || state === "degraded" ? state : undefined;
      },
      { timeoutMs: bootTimeoutMs, what: `the container to boot (log: ${options.logPath})` },
    );
    return container;
  }

  /** Runs a command inside, in all of the container's namespaces, with a clean environment. */
  exec(command: string[], options: { timeoutMs?: number; input?: string } = {}): CommandResult {
    return run("nsenter", ["-t", String(this.initPid), "-a", "env", "-i", "PATH=/usr/sbin:/usr/bin:/sbin:/bin", "LANG=C.UTF-8", ...command], options);
  }

  execOk(command: string[], options: { timeoutMs?: number; input?: string } = {}): CommandResult {
    const result = this.exec(command, options);
    if (result.status !== 0) throw new Error(`${command.join(" ")} exited with ${result.status}:\n${result.stdout.slice(-3000)}\n${result.stderr.slice(-3000)}`);
    return result;
  }

  /** `systemctl show -p ...` as a record. */
  show(unit: string, properties: string[]): Record<string, string> {
    const output = this.execOk(["systemctl", "show", unit, ...properties.flatMap((property) => ["-p", property])]).stdout;
    return Object.fromEntries(output.trim().split("\n").map((line) => [line.slice(0, line.indexOf("=")), line.slice(line.indexOf("=") + 1)]));
  }

  /** Powers the container off (SIGTERM to systemd-nspawn asks its init to shut down), then deletes its root. */
  async shutdown(): Promise<void> {
    if (this.nspawn.exitCode === null) {
      this.nspawn.kill("SIGTERM");
      try {
        await waitFor(() => this.nspawn.exitCode !== null || this.nspawn.signalCode !== null, { timeoutMs: shutdownTimeoutMs, what: "the container to power off" });
      } catch (error) {
        // Killing the init process ends every process of the container's PID namespace.
        process.kill(this.initPid, "SIGKILL");
        this.nspawn.kill("SIGKILL");
        throw error;
      } finally {
        rmSync(this.root, { recursive: true, force: true });
      }
    }
    rmSync(this.root, { recursive: true, force: true });
  }
}
