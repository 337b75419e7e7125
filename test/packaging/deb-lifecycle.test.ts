// Proves the .deb lifecycle under a real systemd (Debian 12 booted with systemd-nspawn): install starts vigild (Type=notify READY) and feeds the watchdog, the agent starts once configured, units verify cleanly, metrics answer over curl, bad config fails in one line without restarts, SIGKILL restarts, stop is clean, remove keeps config and state, purge deletes them.
import assert from "node:assert/strict";
import { copyFileSync, mkdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";
import { after, before, describe, it } from "node:test";
import { waitFor } from "../support/wait.js";
import { BootedContainer, ensureRootfs } from "./container.js";
import { packageFile, packagesDirectory, repositoryRoot } from "./support.js";

const unitTimeoutMs = 60_000;
const controlPlaneSeries = [
  "vigil_raft_term",
  "vigil_raft_commit_index",
  "vigil_raft_applied_index",
  "vigil_raft_commit_lag_entries",
  "vigil_raft_apply_lag_entries",
  "vigil_raft_leader_changes_total",
  "vigil_hosts",
  "vigil_fences_total",
  "vigil_ha_restarts_total",
  "vigil_migrations_total",
];
const agentSeries = ["vigil_agent_outbox_backlog_events", "vigil_agent_libvirt_connected", "vigil_agent_libvirt_reconnects_total"];

const packages = packagesDirectory();
const notRoot = process.getuid?.() !== 0 && "needs root (systemd-nspawn)";

describe(".deb lifecycle under systemd", { skip: packages.skip || notRoot }, () => {
  const directory = packages.directory!;
  const cacheDirectory = process.env.VIGIL_PACKAGE_WORK ?? join(repositoryRoot, "packaging", ".build");
  const debs = { controlplane: "", agent: "" };
  let container: BootedContainer;

  before(async () => {
    debs.controlplane = packageFile(directory, /^vigil-controlplane_.*\.deb$/);
    debs.agent = packageFile(directory, /^vigil-agent_.*\.deb$/);
    const rootfs = ensureRootfs(cacheDirectory);
    if (rootfs.builtMs !== null) console.log(`# built the bookworm rootfs in ${(rootfs.builtMs / 1000).toFixed(0)} s`);
    const name = `vigil-deb-${process.pid}`;
    container = await BootedContainer.boot({
      tarball: rootfs.tarball,
      root: join(tmpdir(), name),
      name,
      logPath: join(directory, "container-console.log"),
      prepare(root) {
        mkdirSync(join(root, "opt", "packages"), { recursive: true });
        for (const deb of Object.values(debs)) copyFileSync(deb, join(root, "opt", "packages", basename(deb)));
      },
    });
  });
  after(async () => {
    await container?.shutdown();
  });

  const inside = (path: string) => `/opt/packages/${basename(path)}`;
  const waitActive = (unit: string) =>
    waitFor(
      () => {
        const state = container.show(unit, ["ActiveState"]).ActiveState;
        if (state === "failed") throw new Error(`${unit} failed:\n${container.exec(["journalctl", "-u", unit, "-n", "30", "--no-pager"]).stdout}`);
        return state === "active";
      },
      { timeoutMs: unitTimeoutMs, what: `${unit} to be active` },
    );
  const typesServed = (port: number) => {
    const text = container.execOk(["curl", "-sf", `http://127.0.0.1:${port}/metrics`]).stdout;
    return new Set([...text.matchAll(/^# TYPE (\S+) /gm)].map((match) => match[1]!));
  };

  it("dpkg -i vigil-controlplane creates the vigil user and starts vigild, active only after READY", (t) => {
    const install = container.execOk(["dpkg", "-i", inside(debs.controlplane)], { timeoutMs: 300_000 });
    t.diagnostic(`dpkg -i vigil-controlplane: ${(install.durationMs / 1000).toFixed(1)} s (unpack, configure and start)`);
    assert.match(container.execOk(["id", "vigil"]).stdout, /uid=\d+\(vigil\)/);
    // The postinst's start job of a Type=notify unit returns only once READY=1 arrived.
    const state = container.show("vigild", ["ActiveState", "SubState", "StatusText", "User", "UnitFileState"]);
    assert.deepEqual(state, { ActiveState: "active", SubState: "running", StatusText: "serving on 127.0.0.1:7400", User: "vigil", UnitFileState: "enabled" });
    const status = JSON.parse(container.execOk(["vigilctl", "-o", "json", "cluster", "status"]).stdout) as { members: { id: string; role: string }[] };
    assert.deepEqual(status.members.map((member) => [member.id, member.role]), [["cp1", "leader"]]);
    assert.equal(container.execOk(["stat", "-c", "%U %a", "/var/lib/vigil/vigild"]).stdout.trim(), "vigil 750");
  });

  it("dpkg -i vigil-agent leaves the agent stopped until hostId is set, then it reports ready", async (t) => {
    const install = container.execOk(["dpkg", "-i", inside(debs.agent)], { timeoutMs: 300_000 });
    t.diagnostic(`dpkg -i vigil-agent: ${(install.durationMs / 1000).toFixed(1)} s`);
    assert.deepEqual(container.show("vigil-agent", ["ActiveState", "UnitFileState"]), { ActiveState: "inactive", UnitFileState: "disabled" });
    // An operator edits the conffile: this host's id, and libvirt's in-process test driver for the test.
    container.execOk(["sed", "-i", "-e", "s/^#hostId: kvm1$/hostId: h1/", "-e", "s|^#libvirtUri: qemu:///system$|libvirtUri: test:///default|", "/etc/vigil/agent.yaml"]);
    container.execOk(["systemctl", "enable", "--now", "vigil-agent"], { timeoutMs: unitTimeoutMs });
    await waitActive("vigil-agent");
    assert.match(container.show("vigil-agent", ["StatusText"]).StatusText, /^connected to test:\/\/\/default/);
    await waitFor(
      () => {
        const hosts = JSON.parse(container.execOk(["vigilctl", "-o", "json", "host", "list"]).stdout) as { id: string; alive: boolean }[];
        return hosts.some((host) => host.id === "h1" && host.alive);
      },
      { timeoutMs: unitTimeoutMs, what: "host h1 to be alive in vigilctl host list" },
    );
  });

  it("vigild feeds the systemd watchdog from its event loop (WatchdogSec=30s, a ping every 15 s)", async () => {
    const first = container.show("vigild", ["WatchdogUSec", "WatchdogTimestampMonotonic"]);
    assert.equal(first.WatchdogUSec, "30s");
    await waitFor(() => container.show("vigild", ["WatchdogTimestampMonotonic"]).WatchdogTimestampMonotonic !== first.WatchdogTimestampMonotonic, {
      timeoutMs: 40_000,
      intervalMs: 500,
      what: "a WATCHDOG=1 ping to move the unit's watchdog timestamp",
    });
  });

  it("both units pass systemd-analyze verify with nothing on stderr", () => {
    const verify = container.exec(["systemd-analyze", "verify", "vigild.service", "vigil-agent.service"]);
    assert.equal(verify.stderr, "");
    assert.equal(verify.status, 0);
  });

  it("curl on the metrics endpoints returns the named series", () => {
    const vigild = typesServed(9740);
    assert.deepEqual(controlPlaneSeries.filter((name) => !vigild.has(name)), []);
    const agent = typesServed(9741);
    assert.deepEqual(agentSeries.filter((name) => !agent.has(name)), []);
    assert.ok(vigild.has("process_cpu_user_seconds_total") && agent.has("nodejs_eventloop_lag_seconds"));
  });

  it("a bad config key fails the start with file, key and reason on one line, and is not restarted", async () => {
    const original = container.execOk(["cat", "/etc/vigil/vigild.yaml"]).stdout;
    container.execOk(["sh", "-c", "cat > /etc/vigil/vigild.yaml"], { input: `${original}bogus: 1\n` });
    const restart = container.exec(["systemctl", "restart", "vigild"], { timeoutMs: unitTimeoutMs });
    assert.notEqual(restart.status, 0);
    const failed = container.show("vigild", ["ActiveState", "Result", "ExecMainStatus", "NRestarts"]);
    assert.deepEqual(failed, { ActiveState: "failed", Result: "exit-code", ExecMainStatus: "2", NRestarts: "0" });
    const journal = container.execOk(["journalctl", "-u", "vigild", "-o", "cat", "--no-pager"]).stdout;
    assert.match(journal, /^vigild: \/etc\/vigil\/vigild\.yaml: bogus: unknown setting \(known: id, listen, .*\)$/m);

    container.execOk(["sh", "-c", "cat > /etc/vigil/vigild.yaml"], { input: original });
    container.execOk(["systemctl", "reset-failed", "vigild"]);
    container.execOk(["systemctl", "start", "vigild"], { timeoutMs: unitTimeoutMs });
    await waitActive("vigild");
  });

  for (const unit of ["vigild", "vigil-agent"]) {
    it(`SIGKILL of ${unit} makes systemd restart it`, async () => {
      const before = container.show(unit, ["MainPID", "NRestarts"]);
      container.execOk(["systemctl", "kill", "--signal=SIGKILL", "--kill-whom=main", unit]);
      await waitFor(
        () => {
          const now = container.show(unit, ["MainPID", "NRestarts", "ActiveState"]);
          return now.ActiveState === "active" && now.MainPID !== before.MainPID && now.MainPID !== "0" && Number(now.NRestarts) === Number(before.NRestarts) + 1;
        },
        { timeoutMs: unitTimeoutMs, what: `${unit} to be restarted (RestartSec=3s)` },
      );
    });
  }

  it("systemctl stop is clean: exit 0 after an orderly shutdown", (t) => {
    for (const unit of ["vigil-agent", "vigild"]) {
      const stop = container.execOk(["systemctl", "stop", unit], { timeoutMs: unitTimeoutMs });
      t.diagnostic(`systemctl stop ${unit}: ${stop.durationMs.toFixed(0)} ms`);
      assert.deepEqual(container.show(unit, ["ActiveState", "Result", "ExecMainCode", "ExecMainStatus"]), {
        ActiveState: "inactive",
        Result: "success",
        ExecMainCode: "1", // CLD_EXITED: it exited by itself, not by a signal
        ExecMainStatus: "0",
      });
      const lastLine = container.execOk(["journalctl", "-u", unit, "-o", "cat", "--no-pager", "-g", '"msg":"stopped"']).stdout;
      assert.match(lastLine, /"msg":"stopped"/);
    }
  });

  it("dpkg -r keeps config and state, and removes the program", (t) => {
    container.execOk(["systemctl", "start", "vigild", "vigil-agent"], { timeoutMs: unitTimeoutMs });
    const remove = container.execOk(["dpkg", "-r", "vigil-agent", "vigil-controlplane"], { timeoutMs: 300_000 });
    t.diagnostic(`dpkg -r (stops both services): ${(remove.durationMs / 1000).toFixed(1)} s`);
    for (const path of ["/etc/vigil/vigild.yaml", "/etc/vigil/agent.yaml", "/var/lib/vigil/vigild/vigild.db", "/var/lib/vigil/agent/journal.db"]) {
      assert.equal(container.exec(["test", "-f", path]).status, 0, `${path} was removed`);
    }
    assert.match(container.execOk(["cat", "/etc/vigil/agent.yaml"]).stdout, /^hostId: h1$/m, "the operator's edit survives");
    for (const path of ["/usr/lib/vigil", "/usr/bin/vigild", "/usr/bin/vigil-agent", "/usr/bin/vigilctl"]) {
      assert.notEqual(container.exec(["test", "-e", path]).status, 0, `${path} is still there`);
    }
    // minbase has no pgrep; the bracket keeps grep from matching its own command line.
    const left = container.exec(["sh", "-c", "grep -ls '/usr/lib/vigi[l]/' /proc/[0-9]*/cmdline"]);
    assert.equal(left.stdout, "", "no vigil process is left");
  });

  it("dpkg --purge deletes config and state", () => {
    container.execOk(["dpkg", "--purge", "vigil-agent", "vigil-controlplane"], { timeoutMs: 300_000 });
    for (const path of ["/etc/vigil", "/var/lib/vigil"]) assert.notEqual(container.exec(["test", "-e", path]).status, 0, `${path} is still there`);
    assert.equal(container.exec(["dpkg-query", "-W", "vigil-agent"]).status, 1, "dpkg no longer knows the package");
  });
});
