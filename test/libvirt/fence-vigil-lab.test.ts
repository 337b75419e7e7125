// Proves scripts/lab/fence_vigil_lab against the real lab: status on (exit 0); made to fail (fail=1,
// fail_file) it exits 1 and touches nothing; off kills the daemon's QEMU and stops its libvirtd, and
// status then exits 2; on starts the daemon again with the guest shut off; the device also answers
// through vigil's own fence-agent runner. Holds the lab tests lock; leaves both daemons running.
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { randomUUID } from "node:crypto";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { after, before, describe, test } from "node:test";
import { systemClock, systemTimers } from "../../common/env.js";
import { silentLogger } from "../../common/logging.js";
import { processAgentCallRunner } from "../../controlplane/fencing/agent-process.js";
import { FenceAgentDevice } from "../../controlplane/fencing/fence-agent-device.js";
import { temporaryDirectory } from "../support/processes.js";
import { qemuDomainXml } from "./domain-xml.js";
import { fenceVigilLabPath, holdLabTestsLock, labDaemonPid, locateLab, restartLabDaemon, type LabEnvironment } from "./lab.js";
import { waitFor } from "./wait-for.js";

const lookup = locateLab();
const fenceVigilLab = fenceVigilLabPath;

function fence(lines: string[]): { code: number | null; stdout: string; stderr: string } {
  const result = spawnSync(fenceVigilLab, [], { input: `${lines.join("\n")}\n`, encoding: "utf8", timeout: 120_000 });
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}

function virsh(uri: string, args: string[]): string {
  return execFileSync("virsh", ["-q", "-c", uri, ...args], { encoding: "utf8", timeout: 60_000 }).trim();
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe("fence_vigil_lab on the real lab", { skip: lookup.skipReason ?? false }, () => {
  const lab = lookup.lab as LabEnvironment;
  const directory = temporaryDirectory("fence-lab");
  const name = `vigil-fence-${randomUUID().slice(0, 8)}`;
  const uuid = randomUUID();
  let releaseLab: (() => Promise<void>) | undefined;

  before(async () => {
    releaseLab = await holdLabTestsLock();
    writeFileSync(`${directory.path}/domain.xml`, qemuDomainXml({ name, uuid }));
    virsh(lab.host1Uri, ["define", `${directory.path}/domain.xml`]);
    virsh(lab.host1Uri, ["start", name]);
  });

  after(async () => {
    // Leave both daemons running and healthy, and the guest gone.
    if (spawnSync(fenceVigilLab, ["-o", "status", "-n", "host1"]).status !== 0) restartLabDaemon("host1");
    spawnSync("virsh", ["-q", "-c", lab.host1Uri, "destroy", name]);
    spawnSync("virsh", ["-q", "-c", lab.host1Uri, "undefine", name]);
    directory.remove();
    await releaseLab?.();
  });

  test("answers status on, metadata and list", () => {
    assert.equal(fence(["action=status", "port=host1"]).code, 0);
    assert.equal(fence(["action=monitor", "port=host2"]).code, 0);
    const metadata = fence(["action=metadata"]);
    assert.equal(metadata.code, 0);
    assert.match(metadata.stdout, /<resource-agent name="fence_vigil_lab"[\s\S]*<action name="off"\/>/);
    assert.deepEqual(fence(["action=list"]).stdout.trim().split("\n"), ["host1", "host2"]);
    const bad = fence(["action=status", "port=host9"]);
    assert.equal(bad.code, 1, "a bad port is a failure (1), never 'off' (2)");
  });

  test("made to fail, it exits 1 and touches nothing", () => {
    const qemuPid = Number(readFileSync(`${lab.labDirectory}/host1/run/qemu/${name}.pid`, "utf8"));
    const libvirtdPid = labDaemonPid(lab, "host1");
    const failOnDemand = fence(["action=off", "port=host1", "fail=1"]);
    assert.equal(failOnDemand.code, 1);
    assert.match(failOnDemand.stderr, /failing on demand/);
    const failFile = `${directory.path}/fail-fence`;
    writeFileSync(failFile, "");
    assert.equal(fence(["action=off", "port=host1", `fail_file=${failFile}`]).code, 1);
    assert.equal(fence(["action=status", "port=host1", `fail_file=${failFile}`]).code, 1);
    assert.ok(alive(qemuPid) && alive(libvirtdPid), "QEMU and libvirtd untouched");
    assert.equal(virsh(lab.host1Uri, ["domstate", name]), "running");
  });

  test("off kills the guest's QEMU and stops libvirtd; status says off; on brings the daemon back with the guest shut off", async () => {
    const qemuPid = Number(readFileSync(`${lab.labDirectory}/host1/run/qemu/${name}.pid`, "utf8"));
    const libvirtdPid = labDaemonPid(lab, "host1");
    const off = fence(["# vigil passes nodename and the configured options", "action=off", "nodename=h1", "port=host1", `fail_file=${directory.path}/absent`]);
    assert.equal(off.code, 0, off.stderr);
    assert.ok(!alive(qemuPid), "the guest's QEMU is dead");
    assert.ok(!alive(libvirtdPid), "libvirtd is stopped");
    assert.equal(fence(["action=status", "port=host1"]).code, 2);
    assert.equal(fence(["action=status", "port=host2"]).code, 0, "host2 untouched");
    const on = fence(["action=on", "port=host1"]);
    assert.equal(on.code, 0, on.stderr);
    assert.equal(fence(["action=status", "port=host1"]).code, 0);
    await waitFor(() => virsh(lab.host1Uri, ["domstate", name]) === "shut off", { timeoutMs: 30_000, what: `${name} shut off after the power cut` });
    assert.ok(!existsSync(`${lab.labDirectory}/host1/run/qemu/${name}.pid`));
  });

  test("vigil's fence-agent runner fences host1 through it and reads the status back", async () => {
    virsh(lab.host1Uri, ["start", name]);
    const device = new FenceAgentDevice(
      { hostId: "h1", agentPath: fenceVigilLab, options: { port: "host1" }, secretFiles: {}, timeoutMs: 60_000, retries: 0, retryDelayMs: 0 },
      { run: processAgentCallRunner(systemClock, systemTimers), timers: systemTimers, logger: silentLogger() },
    );
    assert.equal((await device.powerStatus()).status, "on");
    const result = await device.powerOff();
    assert.equal(result.outcome, "off", result.detail);
    assert.match(result.detail, /status \(try 1\): exit 2/);
    assert.equal(fence(["action=on", "port=host1"]).code, 0);
  });
});
