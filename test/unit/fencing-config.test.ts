// Proves vigild's `fencing` YAML section: a good file gives each host its method (fence-agent with
// options, `{host}` substituted, secret files; self; manual; the default), nested keys parse, and
// every bad file is refused at start with the file, the full key and the reason (vigild exits 2).
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { chmodSync, writeFileSync } from "node:fs";
import { after, describe, it } from "node:test";
import { systemClock, systemTimers } from "../../common/env.js";
import { ConfigError } from "../../common/errors.js";
import { silentLogger } from "../../common/logging.js";
import { parseOptions, type OptionSpec } from "../../common/options.js";
import type { AgentCallRequest } from "../../controlplane/fencing/agent-process.js";
import { fenceMethodsFromConfig } from "../../controlplane/fencing/config.js";
import { startVigild, stopProcess, temporaryDirectory, vigildPath } from "../support/processes.js";

const specs: Record<string, OptionSpec> = {
  listen: { type: "string", description: "" },
  fencing: { type: "section", description: "" },
};

describe("fencing configuration", () => {
  const directory = temporaryDirectory("fencing-config");
  after(() => directory.remove());
  const agent = `${directory.path}/fence_test`;
  writeFileSync(agent, "#!/bin/sh\nexit 0\n");
  chmodSync(agent, 0o755);
  const secret = `${directory.path}/h1-ipmi`;
  writeFileSync(secret, "vigil-test-secret-42\n", { mode: 0o600 });

  function load(yaml: string) {
    const file = `${directory.path}/vigild-${Math.random().toString(36).slice(2)}.yaml`;
    writeFileSync(file, yaml);
    const { sections, configFile } = parseOptions(["--config", file], specs, "/nonexistent");
    const requests: AgentCallRequest[] = [];
    const methods = fenceMethodsFromConfig(sections.fencing, {
      configFile,
      clock: systemClock,
      timers: systemTimers,
      logger: silentLogger(),
      run: async (request) => {
        requests.push(request);
        return { exitCode: request.stdinLines[0] === "action=status" ? 2 : 0, signal: null, timedOut: false, startError: null, stdout: "", stderr: "", durationMs: 1 };
      },
    });
    return { methods, requests, file };
  }

  function refused(yaml: string, key: RegExp | string, reason: RegExp): void {
    assert.throws(
      () => load(yaml),
      (error: unknown) => {
        assert.ok(error instanceof ConfigError, `a ConfigError, got ${String(error)}`);
        assert.match(error.key, typeof key === "string" ? new RegExp(`^${key.replace(/\./g, "\\.")}$`) : key);
        assert.match(error.message, reason);
        return true;
      },
    );
  }

  it("gives each host its method, with options, {host} and secrets for fence agents", async () => {
    const { methods, requests } = load(`
listen: 127.0.0.1:7400
fencing:
  default:
    method: fence-agent
    agent: ${agent}
    options: { port: "vm-{host}", ssl_insecure: true }
    timeout: 2.5
    retries: 0
  hosts:
    h1:
      method: fence-agent
      agent: ${agent}
      options: { ip: 10.0.0.11, username: admin, lanplus: 1 }
      secretFiles: { password: ${secret} }
    h2: self
    h3: { method: manual }
`);
    assert.equal(methods.methodFor("h2").kind, "self");
    assert.equal(methods.methodFor("h3").kind, "manual");
    const h1 = methods.methodFor("h1");
    assert.ok(h1.kind === "fence-agent");
    assert.equal(h1.device.hostId, "h1");
    assert.equal((await h1.device.powerOff()).outcome, "off");
    assert.deepEqual(requests[0]!.stdinLines, ["action=off", "nodename=h1", "ip=10.0.0.11", "username=admin", "lanplus=1", "password=vigil-test-secret-42"]);
    assert.equal(requests[0]!.timeoutMs, 30_000, "default timeout 30 s");
    const other = methods.methodFor("kvm9");
    assert.ok(other.kind === "fence-agent");
    await other.device.powerStatus();
    assert.deepEqual(requests.at(-1)!.stdinLines, ["action=status", "nodename=kvm9", "port=vm-kvm9", "ssl_insecure=true"]);
    assert.equal(requests.at(-1)!.timeoutMs, 2_500);
    assert.equal(methods.methodFor("h1"), h1, "one device per host");
    assert.match(methods.summary(), /^default fence-agent .*fence_test, h1 fence-agent .*, h2 self, h3 manual$/);
  });

  it("fences every host manually when the section is absent", () => {
    const { methods } = load("listen: 127.0.0.1:7400\n");
    assert.equal(methods.methodFor("anything").kind, "manual");
    assert.equal(load("fencing: { default: self }\n").methods.methodFor("h1").kind, "self");
  });

  it("refuses bad settings naming the file and the full key", () => {
    refused("fencing: { dfault: self }\n", "fencing.dfault", /unknown setting \(known: default, hosts\)/);
    refused("fencing: [1]\n", "fencing", /must be a mapping/);
    refused("fencing: { default: ipmi }\n", "fencing.default.method", /must be one of fence-agent, self, manual, got "ipmi"/);
    refused("fencing: { hosts: { 'bad host': self } }\n", "fencing.hosts.bad host", /not a valid host id/);
    refused("fencing: { hosts: { h1: { method: self, agent: /bin/true } } }\n", "fencing.hosts.h1.agent", /unknown setting/);
    refused("fencing: { hosts: { h1: { method: fence-agent } } }\n", "fencing.hosts.h1.agent", /is required/);
    refused("fencing: { hosts: { h1: { method: fence-agent, agent: fence_ipmilan } } }\n", "fencing.hosts.h1.agent", /absolute path/);
    refused(`fencing: { hosts: { h1: { method: fence-agent, agent: ${directory.path}/nope } } }\n`, "fencing.hosts.h1.agent", /not an executable file/);
    refused(`fencing: { hosts: { h1: { method: fence-agent, agent: ${secret} } } }\n`, "fencing.hosts.h1.agent", /not an executable file/);
    const h1 = (rest: string) => `fencing:\n  hosts:\n    h1: { method: fence-agent, agent: ${agent}, ${rest} }\n`;
    refused(h1("options: { password: hunter2 }"), "fencing.hosts.h1.options.password", /looks like a secret: put it in a file/);
    refused(h1("options: { action: reboot }"), "fencing.hosts.h1.options.action", /set by vigil/);
    refused(h1('options: { ip: "a\\nb" }'), "fencing.hosts.h1.options.ip", /line break/);
    refused(h1("options: { ip: [1, 2] }"), "fencing.hosts.h1.options.ip", /must be a string/);
    refused(h1("secretFiles: { password: relative/file }"), "fencing.hosts.h1.secretFiles.password", /absolute path/);
    refused(h1(`secretFiles: { password: ${directory.path}/missing }`), "fencing.hosts.h1.secretFiles.password", /not readable/);
    refused(h1(`options: { password: x }, secretFiles: { password: ${secret} }`), /fencing\.hosts\.h1\.options\.password|fencing\.hosts\.h1\.secretFiles\.password/, /secret|one place/);
    refused(h1("timeout: 0"), "fencing.hosts.h1.timeout", /> 0 and <= 600, got 0/);
    refused(h1("timeout: soon"), "fencing.hosts.h1.timeout", /got "soon"/);
    refused(h1("retries: -1"), "fencing.hosts.h1.retries", /whole number >= 0/);
    refused(h1("retries: 1.5"), "fencing.hosts.h1.retries", /whole number/);
    refused(h1("retryDelay: -2"), "fencing.hosts.h1.retryDelay", /seconds >= 0/);
  });

  it("vigild starts with a valid fencing section and logs each host's method", async () => {
    const file = `${directory.path}/good-vigild.yaml`;
    writeFileSync(file, `fencing:\n  default: self\n  hosts:\n    h1: { method: fence-agent, agent: ${agent}, secretFiles: { password: ${secret} } }\n`);
    const vigild = await startVigild({ dataDir: `${directory.path}/good-data`, extraArgs: ["--config", file] });
    after(() => stopProcess(vigild));
    assert.match(vigild.output(), /"fencing":"default self, h1 fence-agent [^"]*fence_test"[^\n]*"msg":"fencing configured"/);
    assert.ok(!vigild.output().includes("vigil-test-secret-42"), "no secret in the log");
  });

  it("stops vigild at start with exit 2 and one line naming the key", () => {
    const file = `${directory.path}/bad-vigild.yaml`;
    writeFileSync(file, `fencing:\n  hosts:\n    h1: { method: fence-agent, agent: /nonexistent/fence_x }\n`);
    const result = spawnSync(process.execPath, [vigildPath, "--insecure", "--config", file, "--data-dir", `${directory.path}/data`, "--listen", "127.0.0.1:0"], { encoding: "utf8", timeout: 20_000 });
    assert.equal(result.status, 2, result.stderr);
    const lines = result.stderr.trim().split("\n");
    assert.equal(lines.length, 1, result.stderr);
    assert.match(lines[0]!, /^vigild: .*bad-vigild\.yaml: fencing\.hosts\.h1\.agent: \/nonexistent\/fence_x is not an executable file/);
  });
});

describe("YAML options: nested keys and sections", () => {
  const directory = temporaryDirectory("nested-options");
  after(() => directory.remove());

  it("reads a dotted key from a nested mapping and refuses unknown nested keys", () => {
    const nested: Record<string, OptionSpec> = {
      "self-fence-mode": { type: "string", description: "", configKey: "selfFence.mode", defaultValue: "off" },
      "self-fence-timeout": { type: "string", description: "", configKey: "selfFence.timeout", defaultValue: "60" },
    };
    const file = `${directory.path}/agent.yaml`;
    writeFileSync(file, "selfFence:\n  mode: watchdog\n  timeout: 30\n");
    const { values } = parseOptions(["--config", file], nested, "/nonexistent");
    assert.equal(values["self-fence-mode"], "watchdog");
    assert.equal(values["self-fence-timeout"], "30");
    assert.equal(parseOptions(["--config", file, "--self-fence-mode", "off"], nested, "/nonexistent").values["self-fence-mode"], "off", "flags override the file");
    writeFileSync(file, "selfFence:\n  mdoe: watchdog\n");
    assert.throws(() => parseOptions(["--config", file], nested, "/nonexistent"), /agent\.yaml: selfFence\.mdoe: unknown setting/);
  });

  it("keeps a section out of the flags", () => {
    assert.throws(() => parseOptions(["--fencing", "x"], specs, "/nonexistent"), /Unknown option '--fencing'/);
  });
});
