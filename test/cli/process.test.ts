// Proves the compiled vigilctl process keeps its contract: bad usage exits 2 and no reachable endpoint exits 1, each with exactly one stderr line and no stack trace; help and completion exit 0.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { describe, it } from "node:test";

// dist/test/cli/process.test.js -> dist/controlplane/cli/vigilctl.js
const vigilctl = fileURLToPath(new URL("../../controlplane/cli/vigilctl.js", import.meta.url));

function run(args: readonly string[], environment: Record<string, string> = {}): { status: number | null; stdout: string; stderrLines: string[] } {
  const { VIGIL_ENDPOINTS: _ignored, ...inherited } = process.env;
  const result = spawnSync(process.execPath, [vigilctl, ...args], {
    encoding: "utf8",
    timeout: 30_000,
    env: { ...inherited, ...environment },
  });
  const stderrLines = result.stderr.split("\n").filter((line) => line !== "");
  return { status: result.status, stdout: result.stdout, stderrLines };
}

function assertOneErrorLine(stderrLines: readonly string[]): string {
  assert.equal(stderrLines.length, 1, `exactly one stderr line, got: ${JSON.stringify(stderrLines)}`);
  const line = stderrLines[0] ?? "";
  assert.match(line, /^vigilctl: /);
  assert.doesNotMatch(line, /\bat .*\.js:\d+/, "no stack trace");
  return line;
}

describe("the vigilctl process", () => {
  it("exits 2 with one stderr line on bad usage, before any call", () => {
    for (const args of [
      [],
      ["frob"],
      ["vm", "start"],
      ["vm", "set", "web1", "--priority", "abc"],
      ["vm", "set", "web1", "--selector", "nope"],
      ["-o", "yaml", "host", "list"],
      ["host", "list", "--frob"],
      ["vm", "migrate"],
      ["vm", "migrate", "web1", "--wait", "--wait-timeout", "8d"],
      ["vm", "set", "web1", "--migration-fallback", "maybe"],
      ["host", "flush", "h1", "--force-live"],
      ["job", "list", "--vm"],
      ["job", "cancel"],
    ]) {
      // An endpoint that would fail if it were dialed: usage errors must not get that far.
      const result = run([...args, "--endpoints", "127.0.0.1:1"]);
      assert.equal(result.status, 2, `${args.join(" ")}: ${JSON.stringify(result)}`);
      assertOneErrorLine(result.stderrLines);
      assert.equal(result.stdout, "", args.join(" "));
    }
  });

  it("names the usage in the line", () => {
    const result = run(["vm", "start"]);
    assert.equal(assertOneErrorLine(result.stderrLines), "vigilctl: missing VM; usage: vigilctl vm start VM [--on H]");
  });

  it("exits 1 with one stderr line when no endpoint is reachable", () => {
    const result = run(["--endpoints", "127.0.0.1:1", "host", "list"]);
    assert.equal(result.status, 1, JSON.stringify(result));
    assert.equal(assertOneErrorLine(result.stderrLines), "vigilctl: no endpoint reachable (127.0.0.1:1: connection failed)");
    assert.equal(result.stdout, "");
  });

  it("tries every endpoint, from VIGIL_ENDPOINTS too, before giving up", () => {
    const result = run(["-o", "json", "cluster", "status"], { VIGIL_ENDPOINTS: "127.0.0.1:1,127.0.0.1:2" });
    assert.equal(result.status, 1);
    assert.equal(assertOneErrorLine(result.stderrLines), "vigilctl: no endpoint reachable (127.0.0.1:1: connection failed; 127.0.0.1:2: connection failed)");
  });

  it("prints help on stdout and exits 0", () => {
    const result = run(["--help"]);
    assert.equal(result.status, 0);
    assert.match(result.stdout, /^vigilctl: operate a vigil KVM high-availability cluster/);
    assert.deepEqual(result.stderrLines, []);
  });

  it("prints a bash completion script that bash accepts", () => {
    const result = run(["completion", "bash"]);
    assert.equal(result.status, 0);
    const check = spawnSync("bash", ["-n"], { input: result.stdout, encoding: "utf8" });
    if (check.error !== undefined) return; // no bash on this machine: the syntax check is skipped
    assert.equal(check.status, 0, check.stderr);
    assert.match(result.stdout, /complete -F _vigilctl vigilctl/);
  });
});
