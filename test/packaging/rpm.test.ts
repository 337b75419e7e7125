// Proves each .rpm lists the expected files under allowed paths, requires only allow-listed capabilities, carries the sysusers and systemd scriptlets, and test-installs (rpm -ivh --root --dbpath --nodeps) into a tree whose vigild, agent and vigilctl really run.
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { waitFor } from "../support/wait.js";
import { packageFile, packagesDirectory, run, runOk } from "./support.js";

/** Every requirement must match one of these; the bundled runtime and modules need nothing else. */
const requirementsAllowed: RegExp[] = [
  /^\/bin\/sh$/,
  /^config\(vigil-(agent|controlplane)\) = [\d.]+-\d+$/,
  /^rpmlib\([A-Za-z]+\) <= [\d.-]+$/,
  /^rtld\(GNU_HASH\)$/,
  /^(libc|libm|libdl|libpthread|librt)\.so\.6?\d?\((GLIBC_[\d.]+)?\)\(64bit\)$/,
  /^ld-linux-(x86-64|aarch64)\.so\.\d\((GLIBC_[\d.]+)?\)\(64bit\)$/,
  /^libstdc\+\+\.so\.6\(((GLIBCXX|CXXABI)_[\d.]+)?\)\(64bit\)$/,
  /^libgcc_s\.so\.1\((GCC_[\d.]+)?\)\(64bit\)$/,
  /^libsystemd\.so\.0\(\)\(64bit\)$/,
];
/** Per package: what must be required, and what only that package may require. */
const requirementsOwn = {
  "vigil-controlplane": [/^\/usr\/bin\/systemd-sysusers$/, /^libsystemd\.so\.0\(\)\(64bit\)$/],
  "vigil-agent": [/^libvirt\.so\.0\(\)\(64bit\)$/, /^libsystemd\.so\.0\(\)\(64bit\)$/],
} as const;
/** The oldest C and C++ runtimes the binaries may need: those of RHEL 9 (glibc 2.34, GCC 11). */
const glibcVersionMax = [2, 34];
const glibcxxVersionMax = [3, 4, 29];

const pathsAllowed = /^\/(etc\/vigil|usr\/bin|usr\/lib\/vigil|usr\/lib\/systemd\/system|usr\/lib\/sysusers\.d|usr\/share\/man|usr\/share\/bash-completion|usr\/share\/licenses|var\/lib\/vigil)(\/|$)/;

const expectedFiles = {
  "vigil-controlplane": [
    "/usr/bin/vigild",
    "/usr/bin/vigilctl",
    "/etc/vigil/vigild.yaml",
    "/usr/lib/systemd/system/vigild.service",
    "/usr/lib/sysusers.d/vigil.conf",
    "/usr/share/man/man8/vigild.8.gz",
    "/usr/share/man/man1/vigilctl.1.gz",
    "/usr/share/bash-completion/completions/vigilctl",
    "/usr/lib/vigil/controlplane/node/bin/node",
    "/usr/lib/vigil/controlplane/dist/controlplane/main.js",
    "/usr/lib/vigil/controlplane/dist/proto/vigil.binpb",
    "/usr/lib/vigil/controlplane/proto/vigil/v1/control.proto",
    "/usr/lib/vigil/controlplane/node_modules/better-sqlite3/build/Release/better_sqlite3.node",
    "/var/lib/vigil/vigild",
  ],
  "vigil-agent": [
    "/usr/bin/vigil-agent",
    "/etc/vigil/agent.yaml",
    "/usr/lib/systemd/system/vigil-agent.service",
    "/usr/share/man/man8/vigil-agent.8.gz",
    "/usr/lib/vigil/agent/node/bin/node",
    "/usr/lib/vigil/agent/dist/agent/main.js",
    "/usr/lib/vigil/agent/node_modules/better-sqlite3/build/Release/better_sqlite3.node",
    "/var/lib/vigil/agent",
  ],
} as const;

function compareVersions(left: string, right: string): number {
  const a = left.split(".").map(Number);
  const b = right.split(".").map(Number);
  for (let index = 0; index < Math.max(a.length, b.length); index++) {
    const difference = (a[index] ?? 0) - (b[index] ?? 0);
    if (difference !== 0) return difference;
  }
  return 0;
}

function versionAtMost(version: string, max: number[]): boolean {
  const parts = version.split(".").map(Number);
  for (let index = 0; index < max.length; index++) {
    const part = parts[index] ?? 0;
    if (part !== max[index]) return part < max[index]!;
  }
  return true;
}

const packages = packagesDirectory();

describe("rpm packages", { skip: packages.skip }, () => {
  const directory = packages.directory!;
  const rpmOf = (name: keyof typeof expectedFiles) => packageFile(directory, new RegExp(`^${name}-\\d.*\\.rpm$`));

  for (const name of ["vigil-controlplane", "vigil-agent"] as const) {
    it(`${name}: lists its files under the allowed paths (rpm -qpl), the YAML as a config file`, () => {
      const files = runOk("rpm", ["-qpl", rpmOf(name)]).stdout.trim().split("\n");
      for (const file of expectedFiles[name]) assert.ok(files.includes(file), `${file} is missing`);
      assert.deepEqual(files.filter((file) => !pathsAllowed.test(file)), []);
      const pruned = files.filter((file) => file.includes("/node_modules/.bin/") || (/\.(d\.ts|map|md)$/.test(file) && !/\/licen[cs]e[^/]*$/i.test(file)));
      assert.deepEqual(pruned, [], "pruned files are absent");
      const configFiles = runOk("rpm", ["-qp", "--configfiles", rpmOf(name)]).stdout.trim().split("\n");
      assert.deepEqual(configFiles, [name === "vigil-agent" ? "/etc/vigil/agent.yaml" : "/etc/vigil/vigild.yaml"]);
    });

    it(`${name}: requires only allow-listed capabilities (rpm -qpR), runnable on RHEL 9's glibc and libstdc++`, (t) => {
      const requirements = runOk("rpm", ["-qpR", rpmOf(name)]).stdout.trim().split("\n").map((line) => line.trim());
      const own = requirementsOwn[name];
      const unexpected = requirements.filter((requirement) => ![...requirementsAllowed, ...own].some((pattern) => pattern.test(requirement)));
      assert.deepEqual(unexpected, [], `requirements outside the allow-list:\n${unexpected.join("\n")}`);
      for (const pattern of own) assert.ok(requirements.some((requirement) => pattern.test(requirement)), `${pattern} is not required`);
      const glibc = requirements.flatMap((requirement) => /\(GLIBC_([\d.]+)\)/.exec(requirement)?.[1] ?? []);
      const glibcxx = requirements.flatMap((requirement) => /\(GLIBCXX_([\d.]+)\)/.exec(requirement)?.[1] ?? []);
      t.diagnostic(`${requirements.length} requirements; newest GLIBC_${glibc.sort(compareVersions).at(-1)}, GLIBCXX_${glibcxx.sort(compareVersions).at(-1)}`);
      assert.deepEqual(glibc.filter((version) => !versionAtMost(version, glibcVersionMax)), []);
      assert.deepEqual(glibcxx.filter((version) => !versionAtMost(version, glibcxxVersionMax)), []);
      if (name === "vigil-controlplane") assert.ok(!requirements.some((requirement) => requirement.startsWith("libvirt")), "vigild does not need libvirt");
    });

    it(`${name}: scriptlets follow the systemd macros and are valid sh (rpm -qp --scripts)`, () => {
      const unit = name === "vigil-agent" ? "vigil-agent.service" : "vigild.service";
      const scripts = runOk("rpm", ["-qp", "--scripts", rpmOf(name)]).stdout;
      assert.match(scripts, new RegExp(`systemctl --no-reload preset ${unit}`));
      assert.match(scripts, new RegExp(`systemctl --no-reload disable --now ${unit}`));
      assert.match(scripts, new RegExp(`systemctl try-restart ${unit}`));
      if (name === "vigil-controlplane") assert.match(scripts, /systemd-sysusers --replace=\/usr\/lib\/sysusers\.d\/vigil\.conf/);
      for (const tag of ["PREIN", "POSTIN", "PREUN", "POSTUN"]) {
        const body = runOk("rpm", ["-qp", "--qf", `%{${tag}}`, rpmOf(name)]).stdout;
        if (body === "(none)") continue;
        const check = run("sh", ["-n"], { input: body });
        assert.equal(check.status, 0, `${tag}: ${check.stderr}`);
      }
    });
  }

  describe("installed with rpm -ivh --root --dbpath --nodeps", () => {
    const scratch = mkdtempSync(join(tmpdir(), "vigil-rpm-"));
    const root = join(scratch, "root");
    const children: ChildProcess[] = [];
    after(() => {
      for (const child of children) child.kill("SIGKILL");
      rmSync(scratch, { recursive: true, force: true });
    });

    before(() => {
      // --noscripts: the scriptlets would run chrooted into a tree without a shell; they are checked above.
      const install = runOk("rpm", ["-ivh", "--root", root, "--dbpath", "/rpmdb", "--nodeps", "--noscripts", rpmOf("vigil-controlplane"), rpmOf("vigil-agent")], { timeoutMs: 300_000 });
      assert.match(install.stdout, /vigil-agent/);
    });

    it("records both packages in the given database", () => {
      const installed = runOk("rpm", ["--root", root, "--dbpath", "/rpmdb", "-qa"]).stdout.trim().split("\n").sort();
      assert.deepEqual(installed.map((line) => line.replace(/-\d.*$/, "")), ["vigil-agent", "vigil-controlplane"]);
      // Every file as packaged (the dependencies are not installed in this root, and the vigil user does not exist).
      const verify = run("rpm", ["--root", root, "--dbpath", "/rpmdb", "-V", "--nodeps", "--nouser", "--nogroup", "vigil-controlplane", "vigil-agent"]);
      assert.equal(verify.stdout, "");
    });

    it("runs vigild, an agent (libvirt test driver) and vigilctl on the bundled runtime, with metrics", async () => {
      const emptyConfig = join(scratch, "empty.yaml");
      writeFileSync(emptyConfig, "");
      const node = (component: string) => join(root, "usr/lib/vigil", component, "node/bin/node");
      const script = (component: string, path: string) => join(root, "usr/lib/vigil", component, "dist", path);
      const start = (component: string, path: string, args: string[]) => {
        const child = spawn(node(component), [script(component, path), "--config", emptyConfig, ...args], { stdio: ["ignore", "pipe", "pipe"] });
        children.push(child);
        let output = "";
        child.stdout!.on("data", (chunk: Buffer) => (output += chunk.toString()));
        child.stderr!.on("data", (chunk: Buffer) => (output += chunk.toString()));
        const logged = (message: string) =>
          output
            .split("\n")
            .filter((line) => line.startsWith("{"))
            .map((line) => JSON.parse(line) as Record<string, unknown>)
            .find((entry) => entry.msg === message);
        return { child, logged, output: () => output };
      };

      const vigild = start("controlplane", "controlplane/main.js", [
        "--insecure",
        "--listen", "127.0.0.1:0",
        "--metrics-listen", "127.0.0.1:0",
        "--data-dir", join(scratch, "vigild"),
      ]);
      const ready = await waitFor(() => vigild.logged("vigild ready"), { timeoutMs: 30_000, what: `vigild ready:\n${vigild.output()}` });
      const metricsPort = vigild.logged("metrics endpoint listening")!.metricsPort as number;
      const controlPlane = `127.0.0.1:${ready.port as number}`;
      const vigildMetrics = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
      assert.match(vigildMetrics, /^vigil_raft_term \d+$/m);

      const agent = start("agent", "agent/main.js", [
        "--insecure",
        "--host-id", "h1",
        "--control-plane", controlPlane,
        "--libvirt-uri", "test:///default",
        "--state-dir", join(scratch, "agent"),
        "--metrics-listen", "127.0.0.1:0",
      ]);
      await waitFor(() => agent.logged("vigil-agent started"), { timeoutMs: 30_000, what: `the agent to start:\n${agent.output()}` });
      const hosts = await waitFor(
        () => {
          const listed = run(node("controlplane"), [script("controlplane", "controlplane/cli/vigilctl.js"), "--endpoints", controlPlane, "-o", "json", "host", "list"]);
          const parsed = listed.status === 0 ? (JSON.parse(listed.stdout) as { id: string; alive: boolean }[]) : [];
          return parsed.some((host) => host.id === "h1" && host.alive) && parsed;
        },
        { timeoutMs: 30_000, what: "host h1 to be listed alive by vigilctl" },
      );
      assert.equal(hosts.length, 1);

      for (const [name, process] of [["agent", agent], ["vigild", vigild]] as const) {
        process.child.kill("SIGTERM");
        await waitFor(() => process.child.exitCode !== null, { timeoutMs: 20_000, what: `${name} to exit after SIGTERM` });
        assert.equal(process.child.exitCode, 0, `${name}:\n${process.output().slice(-2000)}`);
      }
    });
  });
});
