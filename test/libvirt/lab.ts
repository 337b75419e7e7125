// Finds the two-daemon libvirt lab (scripts/lab/up.sh) for tests that need real libvirtd + QEMU.
//
// Policy (issue 3): as root, make sure the lab runs by calling up.sh (idempotent, ~0.3 s when up);
// not root and CI unset: skip with a visible reason; in CI (CI=true) never skip: fail instead.
import { execFileSync, spawn, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync } from "node:fs";
import type { LibvirtConnection } from "../../agent/libvirt/index.js";
import { fileURLToPath } from "node:url";

export interface LabEnvironment {
  host1Uri: string;
  host2Uri: string;
  migrationUri: string;
  host1Uuid: string;
  host2Uuid: string;
  imagesDirectory: string;
  labDirectory: string;
}

export type LabLookup = { lab: LabEnvironment; skipReason: null } | { lab: null; skipReason: string };

const repositoryRoot = fileURLToPath(new URL("../../../", import.meta.url));
const labScripts = `${repositoryRoot}scripts/lab`;
/** The lab's fence agent (FenceAgentAPI): powers a lab daemon and its guests off and on. */
export const fenceVigilLabPath = `${labScripts}/fence_vigil_lab`;
/** up.sh may install ~35 Debian packages on a fresh machine before starting the daemons. */
const upTimeoutMs = 10 * 60_000;

/** Another test run (another worker, another checkout) may use the same lab; one at a time. */
const labTestsLockWaitMs = 10 * 60_000;

function labTestsLockPath(): string {
  return `${labDirectory()}.tests.lock`;
}

function labDirectory(): string {
  return process.env["VIGIL_LAB_DIR"] ?? "/run/vigil-lab";
}

/** Parses the `export KEY='value'` lines of the lab's env file. */
export function parseEnvFile(text: string): Record<string, string> {
  const values: Record<string, string> = {};
  for (const line of text.split("\n")) {
    const match = /^(?:export\s+)?([A-Z0-9_]+)='([^']*)'$/.exec(line.trim());
    if (match !== null) values[match[1]!] = match[2]!;
  }
  return values;
}

function readLab(): LabEnvironment | null {
  const envPath = `${labDirectory()}/env`;
  if (!existsSync(envPath)) return null;
  const values = parseEnvFile(readFileSync(envPath, "utf8"));
  const required = (key: string): string => {
    const value = values[key];
    if (value === undefined) throw new Error(`${envPath} lacks ${key}`);
    return value;
  };
  return {
    host1Uri: required("VIGIL_LAB_HOST1_URI"),
    host2Uri: required("VIGIL_LAB_HOST2_URI"),
    migrationUri: required("VIGIL_LAB_MIGRATION_URI"),
    host1Uuid: required("VIGIL_LAB_HOST1_UUID"),
    host2Uuid: required("VIGIL_LAB_HOST2_UUID"),
    imagesDirectory: required("VIGIL_LAB_IMAGES"),
    labDirectory: required("VIGIL_LAB_DIR"),
  };
}

function runLabScript(script: string, args: string[] = []): void {
  const result = spawnSync("bash", [`${labScripts}/${script}`, ...args], {
    encoding: "utf8",
    timeout: upTimeoutMs,
    stdio: ["ignore", "pipe", "pipe"],
  });
  if (result.status !== 0) {
    throw new Error(`scripts/lab/${script} failed (status ${result.status}): ${result.stderr}${result.error ?? ""}`);
  }
}

/**
 * runLabScript while holding the lab tests' lock (holdLabTestsLock), waiting for it with a bound.
 * `--close`: the script does not inherit the lock's descriptor, or the daemons it starts would hold
 * the lock for as long as they run.
 */
function runLabScriptLocked(script: string): void {
  const waitSeconds = String(Math.ceil(labTestsLockWaitMs / 1000));
  const result = spawnSync("flock", ["--close", "--timeout", waitSeconds, labTestsLockPath(), "bash", `${labScripts}/${script}`], {
    encoding: "utf8",
    timeout: labTestsLockWaitMs + upTimeoutMs,
    stdio: ["ignore", "pipe", "pipe"],
  });
  if (result.status !== 0) {
    throw new Error(`scripts/lab/${script} under ${labTestsLockPath()} failed (status ${result.status}): ${result.stderr}${result.error ?? ""}`);
  }
}

export function locateLab(): LabLookup {
  const isRoot = process.getuid?.() === 0;
  const inCi = process.env["CI"] === "true";
  if (isRoot) {
    // Under the lab tests' lock: up.sh starts any daemon that is down, and another test file may
    // hold the lab with a daemon down on purpose (a fenced host1, a stopped libvirtd).
    runLabScriptLocked("up.sh");
    const lab = readLab();
    if (lab === null) throw new Error("scripts/lab/up.sh succeeded but wrote no env file");
    return { lab, skipReason: null };
  }
  const lab = readLab();
  if (lab !== null) return { lab, skipReason: null };
  if (inCi) throw new Error("CI=true: the libvirt lab tests must run, but this is not root and no lab is up");
  return { lab: null, skipReason: "needs the libvirt lab: run as root (starts scripts/lab/up.sh) or start the lab first" };
}

/**
 * The pid of a lab daemon's libvirtd, validated: a test signals it, and a bad value (0, -1) would
 * signal the test's own process group instead.
 */
export function labDaemonPid(lab: LabEnvironment, host: "host1" | "host2"): number {
  const text = readFileSync(`${lab.labDirectory}/${host}/libvirtd.pid`, "utf8").trim();
  const pid = Number(text);
  if (!Number.isInteger(pid) || pid <= 1) throw new Error(`${host}: libvirtd.pid holds "${text}", not a pid`);
  return pid;
}

/** Restarts one lab daemon's libvirtd (scripts/lab/restart-daemon.sh). */
export function restartLabDaemon(host: "host1" | "host2"): void {
  runLabScript("restart-daemon.sh", [host]);
}

/** Stops one lab daemon's libvirtd, leaving its QEMU guests running (scripts/lab/daemon.sh stop). */
export function stopLabDaemon(host: "host1" | "host2"): void {
  runLabScript("daemon.sh", ["stop", host]);
}

/** Starts a stopped lab daemon's libvirtd and waits until it answers (scripts/lab/daemon.sh start). */
export function startLabDaemon(host: "host1" | "host2"): void {
  runLabScript("daemon.sh", ["start", host]);
}

/** Creates base.qcow2 and top.qcow2 (backed by base) with `topDataMiB` MiB written into top. */
export function createQcow2Chain(directory: string, topDataMiB: number): { base: string; top: string } {
  mkdirSync(directory, { recursive: true });
  const base = `${directory}/base.qcow2`;
  const top = `${directory}/top.qcow2`;
  execFileSync("qemu-img", ["create", "-q", "-f", "qcow2", base, "64M"]);
  execFileSync("qemu-io", ["-c", "write -P 0x11 0 4M", base], { stdio: "ignore" });
  execFileSync("qemu-img", ["create", "-q", "-f", "qcow2", "-b", base, "-F", "qcow2", top]);
  if (topDataMiB > 0) execFileSync("qemu-io", ["-c", `write -P 0xab 4M ${topDataMiB}M`, top], { stdio: "ignore" });
  return { base, top };
}

/** Destroys and undefines a domain if it exists; errors of a half-gone domain are ignored. */
export async function removeDomain(connection: LibvirtConnection, uuid: string): Promise<void> {
  const domain = await connection.lookupDomain(uuid);
  if (domain === null) return;
  if (domain.state !== "shutoff") await connection.destroyDomain(uuid).catch(() => undefined);
  if (domain.persistent) await connection.undefineDomain(uuid).catch(() => undefined);
}


/**
 * Holds an exclusive lock on the lab for this test run, across processes: `flock` on
 * $VIGIL_LAB_DIR.tests.lock, kept by a child that holds it until its stdin closes (so a crashed test
 * process releases it too). Resolves with the release function once the lock is held.
 */
export function holdLabTestsLock(): Promise<() => Promise<void>> {
  const lockPath = labTestsLockPath();
  const waitSeconds = String(Math.ceil(labTestsLockWaitMs / 1000));
  const holder = spawn("flock", ["--timeout", waitSeconds, lockPath, "-c", "echo locked; exec cat >/dev/null"], {
    stdio: ["pipe", "pipe", "inherit"],
  });
  const exited = new Promise<void>((resolve) => holder.once("exit", () => resolve()));
  const release = async (): Promise<void> => {
    holder.stdin.end();
    await exited;
  };
  return new Promise((resolve, reject) => {
    holder.stdout.once("data", () => resolve(release));
    holder.once("exit", (code) => reject(new Error(`could not lock ${lockPath} within ${waitSeconds} s (flock exit ${code})`)));
  });
}
