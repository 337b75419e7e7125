// Proves the built packages pass lintian and rpmlint with only their commented overrides, and both shipped units meet their hardening thresholds (systemd-analyze security --offline).
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { packageFile, packagesDirectory, repositoryRoot, run, runOk } from "./support.js";

/**
 * `systemd-analyze security --threshold` is the exposure level times ten: the
 * unit fails above it. Measured: vigild 1.1, vigil-agent 1.6 (it runs as root
 * for libvirt's socket).
 */
export const exposureThresholds = { "vigild.service": 15, "vigil-agent.service": 20 } as const;

const packages = packagesDirectory();

describe("package lint and unit hardening", { skip: packages.skip }, () => {
  const directory = packages.directory!;
  const extracted = mkdtempSync(join(tmpdir(), "vigil-lint-"));
  after(() => rmSync(extracted, { recursive: true, force: true }));

  it("lintian finds no error or warning, and every override is used", () => {
    const debs = [packageFile(directory, /^vigil-controlplane_.*\.deb$/), packageFile(directory, /^vigil-agent_.*\.deb$/)];
    const result = run("lintian", ["--fail-on", "error,warning", "--no-tag-display-limit", ...debs], { timeoutMs: 600_000 });
    const findings = result.stdout.split("\n").filter((line) => /^[EWI]: /.test(line));
    assert.deepEqual(findings, [], `lintian:\n${result.stdout}${result.stderr}`);
    assert.equal(result.status, 0, result.stderr);
  });

  it("rpmlint finds no error or warning beyond the filters of packaging/rpm/rpmlint.toml", () => {
    const rpms = [packageFile(directory, /^vigil-controlplane-.*\.rpm$/), packageFile(directory, /^vigil-agent-.*\.rpm$/)];
    const result = run("rpmlint", ["-c", join(repositoryRoot, "packaging", "rpm", "rpmlint.toml"), ...rpms], { timeoutMs: 300_000 });
    assert.match(result.stdout, / 0 errors, 0 warnings/, `rpmlint:\n${result.stdout}${result.stderr}`);
    assert.equal(result.status, 0);
  });

  for (const [unit, threshold] of Object.entries(exposureThresholds)) {
    it(`${unit} as shipped in the .deb scores at most ${threshold / 10} and leaves MemoryDenyWriteExecute off`, (t) => {
      const deb = packageFile(directory, unit === "vigild.service" ? /^vigil-controlplane_.*\.deb$/ : /^vigil-agent_.*\.deb$/);
      const root = join(extracted, unit);
      runOk("dpkg-deb", ["-x", deb, root]);
      const path = join(root, "lib", "systemd", "system", unit);
      // V8 compiles JavaScript to machine code at run time: Node dies under MemoryDenyWriteExecute=yes.
      assert.doesNotMatch(readFileSync(path, "utf8"), /^MemoryDenyWriteExecute=(yes|true|1)/m);
      const result = run("systemd-analyze", ["security", "--offline=true", `--threshold=${threshold}`, path]);
      const exposure = /Overall exposure level for .*: ([\d.]+)/.exec(result.stdout)?.[1];
      t.diagnostic(`${unit}: exposure ${exposure} (threshold ${threshold / 10})`);
      assert.equal(result.status, 0, `${unit} is above the threshold:\n${result.stdout.split("\n").filter((line) => line.startsWith("✗")).join("\n")}`);
    });
  }
});
