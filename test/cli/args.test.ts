// Proves vigilctl's argv parsing: every noun/verb of DESIGN §11 parses to the expected CliCommand, and bad usage yields one usage-error line before any RPC.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { type CliCommand, type ParseResult, defaultTimeoutMs, defaultWaitTimeoutMs, parseCommandLine } from "../../controlplane/cli/args.js";
import { verbSpecs } from "../../controlplane/cli/grammar.js";

const noEnvironment = {};

function parse(line: string, environment: { VIGIL_ENDPOINTS?: string } = noEnvironment): ParseResult {
  return parseCommandLine(line === "" ? [] : line.split(" "), environment);
}

function command(line: string): CliCommand {
  const result = parse(line);
  assert.equal(result.kind, "run", `${line}: ${JSON.stringify(result)}`);
  assert.ok(result.kind === "run");
  return result.command;
}

function usageError(line: string): string {
  const result = parse(line);
  assert.equal(result.kind, "usage-error", `${line} should be bad usage, got ${JSON.stringify(result)}`);
  assert.ok(result.kind === "usage-error");
  assert.ok(!result.message.includes("\n"), `one line: ${result.message}`);
  assert.ok(result.message.length > 0);
  return result.message;
}

describe("every command of DESIGN §11 parses", () => {
  const cases: ReadonlyArray<readonly [string, CliCommand]> = [
    ["cluster status", { kind: "cluster.status" }],
    ["cluster maintenance on", { kind: "cluster.maintenance", on: true }],
    ["cluster maintenance off", { kind: "cluster.maintenance", on: false }],
    ["cluster transfer-primary", { kind: "cluster.transfer-primary", to: "" }],
    ["cluster transfer-primary --to cp2", { kind: "cluster.transfer-primary", to: "cp2" }],
    ["cluster member add cp4 10.0.0.4:7400", { kind: "cluster.member.add", id: "cp4", address: "10.0.0.4:7400" }],
    ["cluster member remove cp4", { kind: "cluster.member.remove", id: "cp4" }],
    ["host list", { kind: "host.list" }],
    ["host show h1", { kind: "host.show", host: "h1" }],
    ["host flush h1", { kind: "host.flush", host: "h1", wait: null }],
    ["host flush h1 --wait", { kind: "host.flush", host: "h1", wait: { timeoutMs: defaultWaitTimeoutMs } }],
    ["host unflush h1 --wait --wait-timeout 45m", { kind: "host.unflush", host: "h1", wait: { timeoutMs: 45 * 60_000 } }],
    ["host unflush h1", { kind: "host.unflush", host: "h1", wait: null }],
    ["host maintenance h1 on", { kind: "host.maintenance", host: "h1", on: true }],
    ["host maintenance h1 off", { kind: "host.maintenance", host: "h1", on: false }],
    ["host confirm-fenced h2", { kind: "host.confirm-fenced", host: "h2" }],
    ["host remove h2", { kind: "host.remove", host: "h2" }],
    ["vm list", { kind: "vm.list", host: "" }],
    ["vm list --host h1", { kind: "vm.list", host: "h1" }],
    ["vm show web1", { kind: "vm.show", vm: "web1" }],
    ["vm start web1", { kind: "vm.start", vm: "web1", on: "" }],
    ["vm start web1 --on h3", { kind: "vm.start", vm: "web1", on: "h3" }],
    ["vm shutdown web1", { kind: "vm.shutdown", vm: "web1", timeoutS: 0 }],
    ["vm shutdown web1 --timeout 120", { kind: "vm.shutdown", vm: "web1", timeoutS: 120 }],
    ["vm shutdown web1 --timeout 2m", { kind: "vm.shutdown", vm: "web1", timeoutS: 120 }],
    ["vm stop web1", { kind: "vm.stop", vm: "web1" }],
    ["vm migrate web1", { kind: "vm.migrate", vm: "web1", to: "", forceLive: false, wait: null }],
    [
      "vm migrate web1 --to h2 --force-live --wait",
      { kind: "vm.migrate", vm: "web1", to: "h2", forceLive: true, wait: { timeoutMs: defaultWaitTimeoutMs } },
    ],
    ["vm set web1 --restart never", { kind: "vm.set", vm: "web1", policy: { restart: "never" } }],
    [
      "vm set web1 --restart on-host-failure --priority -5 --limit h1,h2 --selector memprov --autorestart off --max-restarts 3",
      {
        kind: "vm.set",
        vm: "web1",
        policy: { restart: "on-host-failure", priority: -5, limit: ["h1", "h2"], selector: "memprov", autorestart: false, maxRestarts: 3 },
      },
    ],
    ["vm set web1 --limit=", { kind: "vm.set", vm: "web1", policy: { limit: [] } }],
    ["vm set web1 --priority=-5", { kind: "vm.set", vm: "web1", policy: { priority: -5 } }],
    ["vm set web1 --autorestart on", { kind: "vm.set", vm: "web1", policy: { autorestart: true } }],
    ["vm set web1 --migration-fallback off", { kind: "vm.set", vm: "web1", policy: { migrationFallback: false } }],
    ["vm set web1 --migration-fallback=on --restart always", { kind: "vm.set", vm: "web1", policy: { restart: "always", migrationFallback: true } }],
    ["job list", { kind: "job.list", vm: "", host: "" }],
    ["job list --vm web1 --host h1", { kind: "job.list", vm: "web1", host: "h1" }],
    ["job show j12", { kind: "job.show", id: "j12" }],
    ["job cancel j12", { kind: "job.cancel", id: "j12" }],
    ["events", { kind: "events", follow: false, host: "", vm: "", since: null, limit: 0 }],
    [
      "events --follow --host h1 --vm web1 --since 10m --limit 50",
      { kind: "events", follow: true, host: "h1", vm: "web1", since: { kind: "ago", agoMs: 600_000 }, limit: 50 },
    ],
    [
      "events --since 2025-03-01T12:00:00Z",
      { kind: "events", follow: false, host: "", vm: "", since: { kind: "at", atMs: Date.UTC(2025, 2, 1, 12) }, limit: 0 },
    ],
    ["config get", { kind: "config.get", key: "" }],
    ["config get vm.orphanedSkipTimeout", { kind: "config.get", key: "vm.orphanedSkipTimeout" }],
    ["config set vm.orphanedSkipTimeout 900s", { kind: "config.set", key: "vm.orphanedSkipTimeout", value: "900s" }],
    ["pki init", { kind: "pki.init", dir: "vigil-pki", days: 3650 }],
    ["pki init --dir /etc/vigil/pki --days 365", { kind: "pki.init", dir: "/etc/vigil/pki", days: 365 }],
    ["pki issue agent kvm1", { kind: "pki.issue", request: { dir: "vigil-pki", kind: "agent", name: "kvm1", days: 825, sans: [] } }],
    [
      "pki issue replica cp1 --san 10.0.0.1,cp1.example.net --dir d",
      { kind: "pki.issue", request: { dir: "d", kind: "replica", name: "cp1", days: 825, sans: ["10.0.0.1", "cp1.example.net"] } },
    ],
    ["pki issue user alice --role reader", { kind: "pki.issue", request: { dir: "vigil-pki", kind: "user", name: "alice", days: 825, sans: [], role: "reader" } }],
  ];
  for (const [line, expected] of cases) {
    it(`parses "${line}"`, () => {
      assert.deepEqual(command(line), expected);
    });
  }

  it("covers every path of the grammar", () => {
    const covered = new Set(cases.map(([, parsed]) => parsed.kind));
    for (const spec of verbSpecs) assert.ok(covered.has(spec.kind), `no parse case for ${spec.path.join(" ")}`);
  });
});

describe("global flags", () => {
  it("default to 127.0.0.1:7400, table output and a 30 s deadline", () => {
    const result = parse("host list");
    assert.ok(result.kind === "run");
    assert.deepEqual(result.globals, { endpoints: ["127.0.0.1:7400"], output: "table", timeoutMs: defaultTimeoutMs });
  });

  it("take mTLS files from flags or VIGIL_TLS_*, all three or none", () => {
    const fromFlags = parse("--tls-ca ca.pem --tls-cert u.pem --tls-key u.key host list");
    assert.ok(fromFlags.kind === "run");
    assert.deepEqual(fromFlags.globals.tls, { ca: "ca.pem", cert: "u.pem", key: "u.key" });
    const fromEnvironment = parseCommandLine(["host", "list"], { VIGIL_TLS_CA: "a", VIGIL_TLS_CERT: "b", VIGIL_TLS_KEY: "c" });
    assert.ok(fromEnvironment.kind === "run");
    assert.deepEqual(fromEnvironment.globals.tls, { ca: "a", cert: "b", key: "c" });
    assert.match(usageError("--tls-ca ca.pem host list"), /mTLS needs all of --tls-ca, --tls-cert and --tls-key/);
  });

  it("refuse pki requests that openssl would not be asked to sign", () => {
    assert.match(usageError("pki issue user alice"), /needs --role reader\|operator/);
    const badHost = parseCommandLine(["pki", "issue", "agent", "bad host"], {});
    assert.ok(badHost.kind === "usage-error" && /agent id/.test(badHost.message));
    assert.match(usageError("pki issue agent kvm1 --role operator"), /--role applies to user certificates only/);
    assert.match(usageError("pki issue replica cp1 --san a/b"), /--san/);
  });

  it("are accepted before the noun, between words and after the arguments", () => {
    for (const line of [
      "--endpoints a:1,b:2 -o json vm show web1",
      "vm --endpoints a:1,b:2 show -o json web1",
      "vm show web1 --output json --endpoints=a:1,b:2",
      "-ojson vm show web1 --endpoints a:1,b:2",
    ]) {
      const result = parse(line);
      assert.ok(result.kind === "run", line);
      assert.deepEqual(result.globals.endpoints, ["a:1", "b:2"], line);
      assert.equal(result.globals.output, "json", line);
      assert.deepEqual(result.command, { kind: "vm.show", vm: "web1" }, line);
    }
  });

  it("take endpoints from VIGIL_ENDPOINTS unless --endpoints is given", () => {
    const fromEnvironment = parse("host list", { VIGIL_ENDPOINTS: "cp1:7400, cp2:7400" });
    assert.ok(fromEnvironment.kind === "run");
    assert.deepEqual(fromEnvironment.globals.endpoints, ["cp1:7400", "cp2:7400"]);
    const fromFlag = parse("host list --endpoints cp3:7400", { VIGIL_ENDPOINTS: "cp1:7400" });
    assert.ok(fromFlag.kind === "run");
    assert.deepEqual(fromFlag.globals.endpoints, ["cp3:7400"]);
    const emptyEnvironment = parse("host list", { VIGIL_ENDPOINTS: "" });
    assert.ok(emptyEnvironment.kind === "run");
    assert.deepEqual(emptyEnvironment.globals.endpoints, ["127.0.0.1:7400"]);
  });

  it("give a bare host the vigild port 7400", () => {
    const result = parse("host list --endpoints cp1,10.0.0.2,[::1]");
    assert.ok(result.kind === "run");
    assert.deepEqual(result.globals.endpoints, ["cp1:7400", "10.0.0.2:7400", "[::1]:7400"]);
  });

  it("set the deadline with --timeout-ms", () => {
    const result = parse("host list --timeout-ms 2500");
    assert.ok(result.kind === "run");
    assert.equal(result.globals.timeoutMs, 2500);
  });
});

describe("bad usage is one line, found before any call", () => {
  const cases: ReadonlyArray<readonly [string, RegExp]> = [
    ["", /^missing command; usage: vigilctl/],
    ["frob", /^unknown command "frob"/],
    ["vm", /^missing command; usage: vigilctl vm list\|show\|start/],
    ["vm frob", /^unknown vm command "frob"; usage: vigilctl vm list\|/],
    ["cluster member", /usage: vigilctl cluster member add\|remove/],
    ["cluster member join cp4", /^unknown cluster member command "join"/],
    ["vm start", /^missing VM; usage: vigilctl vm start VM \[--on H\]$/],
    ["vm start a b", /^unexpected argument "b"; usage: vigilctl vm start VM \[--on H\]$/],
    ["host list extra", /^unexpected argument "extra"/],
    ["host maintenance h1", /^missing on\|off; usage: vigilctl host maintenance H on\|off$/],
    ["host maintenance h1 maybe", /^expected on or off, got "maybe"/],
    ["cluster maintenance", /^missing on\|off/],
    ["cluster member add cp4", /^missing ADDR/],
    ["config set key", /^missing VALUE/],
    ["vm set web1", /^nothing to change; usage: vigilctl vm set VM/],
    ["vm set web1 --priority abc", /^bad --priority "abc": expected an integer/],
    ["vm set web1 --priority 1.5", /^bad --priority "1.5"/],
    ["vm set web1 --priority 99999999999", /^bad --priority/],
    ["vm set web1 --priority 1000001", /^bad --priority "1000001": expected an integer from -1000000 to 1000000$/],
    ["vm set web1 --max-restarts 1001", /^bad --max-restarts "1001"/],
    ["vm shutdown web1 --timeout 3601", /^bad --timeout "3601": expected seconds \(1 to 3600\)/],
    ["vm set web1 --selector nope", /^bad --selector "nope": expected mem, memprov, load, vcpus, vms$/],
    ["vm set web1 --restart sometimes", /^bad --restart "sometimes"/],
    ["vm set web1 --autorestart yes", /^bad --autorestart "yes": expected on, off$/],
    ["vm set web1 --max-restarts -1", /^bad --max-restarts "-1"/],
    ["-o yaml host list", /^bad --output "yaml": expected table, json$/],
    ["host list --timeout-ms 0", /^bad --timeout-ms "0"/],
    ["host list --timeout-ms soon", /^bad --timeout-ms "soon"/],
    ["host list --endpoints ,", /^--endpoints: "," is not an endpoint/],
    ["host list --endpoints a:99999", /^--endpoints: "a:99999" is not an endpoint/],
    ["host list --wait", /^flag --wait does not apply to host list; usage: vigilctl host list$/],
    ["vm start web1 --force-live", /^flag --force-live does not apply to vm start/],
    ["--frob host list", /^unknown flag --frob; usage: vigilctl host list$/],
    ["host list -x", /^unknown flag -x/],
    ["vm migrate web1 --to", /^flag --to needs a value/],
    ["vm migrate web1 --to --wait", /^flag --to needs a value/],
    ["vm migrate web1 --to=", /^flag --to needs a value/],
    ["vm migrate web1 --wait=yes", /^flag --wait takes no value/],
    ["vm migrate web1 --to h1 --to h2", /^flag --to given twice$/],
    ["vm migrate web1 --wait-timeout 5m", /^flag --wait-timeout needs --wait$/],
    ["vm migrate web1 --wait --wait-timeout 5", /^bad --wait-timeout "5"/],
    ["vm migrate web1 --wait --wait-timeout 8d", /^bad --wait-timeout "8d"/],
    ["vm shutdown web1 --timeout 0", /^bad --timeout "0"/],
    ["vm set web1 --migration-fallback yes", /^bad --migration-fallback "yes": expected on, off$/],
    ["vm set web1 --migration-fallback", /^flag --migration-fallback needs a value/],
    ["vm migrate", /^missing VM; usage: vigilctl vm migrate VM/],
    ["vm migrate web1 web2", /^unexpected argument "web2"/],
    ["host flush", /^missing H; usage: vigilctl host flush H/],
    ["host unflush h1 --force-live", /^flag --force-live does not apply to host unflush/],
    ["job list --vm", /^flag --vm needs a value/],
    ["job list --to h2", /^flag --to does not apply to job list/],
    ["job show", /^missing ID; usage: vigilctl job show ID$/],
    ["job cancel j1 j2", /^unexpected argument "j2"/],
    ["vm shutdown web1 --timeout later", /^bad --timeout "later"/],
    ["events --since yesterday", /^bad --since "yesterday"/],
    ["events --limit 0", /^bad --limit "0"/],
    ["events extra", /^unexpected argument "extra"/],
    ["help frob", /^unknown command "frob"/],
    ["help vm start web1", /^usage: vigilctl help \[NOUN \[VERB\]\]$/],
    ["completion", /^usage: vigilctl completion bash$/],
    ["completion zsh", /^usage: vigilctl completion bash$/],
  ];
  for (const [line, pattern] of cases) {
    it(`rejects "${line}"`, () => {
      assert.match(usageError(line), pattern);
    });
  }

  it("rejects an empty VIGIL_ENDPOINTS entry list naming the variable", () => {
    const result = parse("host list", { VIGIL_ENDPOINTS: "cp 1" });
    assert.ok(result.kind === "usage-error");
    assert.match(result.message, /^VIGIL_ENDPOINTS: "cp 1" is not an endpoint/);
  });
});

describe("help at every level", () => {
  function help(line: string): string {
    const result = parse(line);
    assert.equal(result.kind, "help", line);
    assert.ok(result.kind === "help");
    return result.text;
  }

  it("shows the top-level help for help, --help and -h", () => {
    for (const line of ["help", "--help", "-h", "--endpoints a:1 --help"]) {
      const text = help(line);
      assert.match(text, /Usage: vigilctl/);
      assert.match(text, /Exit codes:/);
    }
  });

  it("shows a noun's help for `help NOUN`, `NOUN --help` and `NOUN help`", () => {
    for (const line of ["help vm", "vm --help", "vm help", "vm -h"]) {
      const text = help(line);
      assert.match(text, /vigilctl vm migrate VM \[--to H\] \[--force-live\] \[--wait\]/, line);
      assert.doesNotMatch(text, /vigilctl host list/, line);
    }
  });

  it("shows a verb's help for `help NOUN VERB` and `NOUN VERB --help`, even with its arguments missing", () => {
    for (const line of ["help vm migrate", "vm migrate --help", "vm migrate web1 --to h2 --help"]) {
      const text = help(line);
      assert.match(text, /^Usage: vigilctl vm migrate VM/, line);
      assert.match(text, /--force-live/, line);
      assert.match(text, /3 {4}--wait only: the job was rolled back/, line);
    }
  });

  it("shows a group's help for the nested cluster member commands", () => {
    const text = help("cluster member --help");
    assert.match(text, /vigilctl cluster member add ID ADDR/);
    assert.match(text, /vigilctl cluster member remove ID/);
  });

  it("returns the bash completion script for `completion bash`", () => {
    const result = parse("completion bash");
    assert.equal(result.kind, "completion");
  });
});
