// Proves the ClusterLabs fence-agent runner against small fake agents (shell scripts written here, run
// as real processes): off confirmed by status, off not confirmed, timeout killing the whole process
// group, non-zero exit, bounded retries and output, and a secret read from a file that reaches the
// agent's stdin but never a detail or a log line.
import assert from "node:assert/strict";
import { chmodSync, existsSync, readFileSync, writeFileSync } from "node:fs";
import { after, describe, it } from "node:test";
import { pino } from "pino";
import { systemClock, systemTimers } from "../../common/env.js";
import { capturedOutputBytesMax, processAgentCallRunner } from "../../controlplane/fencing/agent-process.js";
import { FenceAgentDevice, type FenceAgentSettings } from "../../controlplane/fencing/fence-agent-device.js";
import { temporaryDirectory } from "../support/processes.js";
import { waitFor } from "../support/wait.js";

const secret = "s3cr3t-Pa55word";

/** A logger whose lines the test can read. */
function capturingLogger() {
  const lines: string[] = [];
  const logger = pino({ level: "debug" }, { write: (line: string) => void lines.push(line) });
  return { logger, lines };
}

/**
 * Writes a fake fence agent: it appends its stdin to `calls.log` (one block per call, `--` between),
 * then runs `body` with $action set from stdin.
 */
function fakeAgent(directory: string, name: string, body: string): string {
  const path = `${directory}/${name}`;
  writeFileSync(
    path,
    `#!/bin/sh
input="$(cat)"
printf '%s\\n--\\n' "$input" >> "${directory}/${name}.calls"
action="$(printf '%s\\n' "$input" | sed -n 's/^action=//p' | tail -n 1)"
${body}
`,
  );
  chmodSync(path, 0o755);
  return path;
}

function calls(agentPath: string): string[] {
  const file = `${agentPath}.calls`;
  return existsSync(file) ? readFileSync(file, "utf8").split("--\n").filter((block) => block.trim() !== "") : [];
}

describe("fence-agent device", () => {
  const directory = temporaryDirectory("fence-agent");
  after(() => directory.remove());
  const secretFile = `${directory.path}/ipmi-password`;
  writeFileSync(secretFile, `${secret}\n`, { mode: 0o600 });
  const run = processAgentCallRunner(systemClock, systemTimers);

  function device(agentPath: string, patch: Partial<FenceAgentSettings> = {}) {
    const captured = capturingLogger();
    const settings: FenceAgentSettings = {
      hostId: "h1",
      agentPath,
      options: { ip: "10.0.0.11", username: "admin", lanplus: "1" },
      secretFiles: { password: secretFile },
      timeoutMs: 5_000,
      retries: 1,
      retryDelayMs: 0,
      ...patch,
    };
    return { device: new FenceAgentDevice(settings, { run, timers: systemTimers, logger: captured.logger }), lines: captured.lines };
  }

  it("powers off, confirms off by status exit 2, and passes options and the secret on stdin only", async () => {
    // A device with state: off turns it off; status answers 2 when off, 0 when on.
    const state = `${directory.path}/power-state`;
    writeFileSync(state, "on");
    const agent = fakeAgent(
      directory.path,
      "fence_stateful",
      `case "$action" in
  off) echo off > "${state}"; echo "Success: Powered OFF"; exit 0 ;;
  status) if [ "$(cat "${state}")" = off ]; then echo "Status: OFF"; exit 2; else echo "Status: ON"; exit 0; fi ;;
esac
exit 1`,
    );
    const { device: fence, lines } = device(agent);
    const result = await fence.powerOff();
    assert.equal(result.outcome, "off", result.detail);
    assert.match(result.detail, /off \(try 1\): exit 0 .*Powered OFF.*status \(try 1\): exit 2/);
    const [offCall, statusCall] = calls(agent);
    assert.deepEqual(offCall!.trim().split("\n"), ["action=off", "nodename=h1", "ip=10.0.0.11", "username=admin", "lanplus=1", `password=${secret}`]);
    assert.match(statusCall!, /^action=status$/m);
    assert.equal(calls(agent).length, 2);
    assert.ok(!result.detail.includes(secret) && !lines.join("").includes(secret), "the secret never appears in a detail or a log line");
    assert.ok(lines.length >= 2, "each call is logged");
    assert.deepEqual(await fence.powerStatus().then((status) => status.status), "off");
  });

  it("reports failed when status still says on after every try, and tries exactly 1 + retries times", async () => {
    const agent = fakeAgent(directory.path, "fence_stays_on", `[ "$action" = off ] && exit 0; echo "Status: ON"; exit 0`);
    const { device: fence } = device(agent, { retries: 2 });
    const result = await fence.powerOff();
    assert.equal(result.outcome, "failed");
    assert.match(result.detail, /not confirmed after 3 tries/);
    assert.deepEqual(calls(agent).map((call) => /action=(\w+)/.exec(call)![1]), ["off", "status", "off", "status", "off", "status"]);
  });

  it("reports failed with the exit code and stderr when off exits non-zero, without a status call", async () => {
    const agent = fakeAgent(directory.path, "fence_refuses", `echo "Unable to connect/login to fencing device" >&2; exit 1`);
    const { device: fence } = device(agent, { retries: 0 });
    const result = await fence.powerOff();
    assert.equal(result.outcome, "failed");
    assert.match(result.detail, /off \(try 1\): exit 1 in \d+ ms, stderr: Unable to connect\/login to fencing device/);
    assert.equal(calls(agent).length, 1);
  });

  it("kills the agent's whole process group at the timeout and reports timeout", async () => {
    const childPidFile = `${directory.path}/hung-child.pid`;
    const agent = fakeAgent(directory.path, "fence_hangs", `sleep 60 & echo $! > "${childPidFile}"; wait`);
    const { device: fence } = device(agent, { timeoutMs: 300, retries: 1 });
    const started = performance.now();
    const result = await fence.powerOff();
    const elapsedMs = performance.now() - started;
    assert.equal(result.outcome, "timeout");
    assert.match(result.detail, /timed out after \d+ ms, process group killed/);
    assert.equal(calls(agent).length, 2, "two tries of off, no status");
    // Two calls of 300 ms (plus process start and the pipe drain bound): well below the agent's 60 s sleep.
    assert.ok(elapsedMs < 5_000, `bounded: ${Math.round(elapsedMs)} ms`);
    const childPid = Number(readFileSync(childPidFile, "utf8"));
    await waitFor(() => {
      try {
        process.kill(childPid, 0);
        return false;
      } catch {
        return true;
      }
    }, { timeoutMs: 5_000, what: "the agent's child (sleep) to be killed with its group" });
  });

  it("reads the secret at each fence: an unreadable file fails the call without running the agent", async () => {
    const agent = fakeAgent(directory.path, "fence_never_run", "exit 0");
    const missing = `${directory.path}/missing-secret`;
    const { device: fence } = device(agent, { secretFiles: { password: missing }, retries: 0 });
    const result = await fence.powerOff();
    assert.equal(result.outcome, "failed");
    assert.match(result.detail, /secret file .*missing-secret for option password is unreadable/);
    assert.equal(calls(agent).length, 0);
    const twoLines = `${directory.path}/two-line-secret`;
    writeFileSync(twoLines, "abc\naction=on\n");
    const smuggled = await device(agent, { secretFiles: { password: twoLines }, retries: 0 }).device.powerOff();
    assert.match(smuggled.detail, /holds more than one line/);
    assert.equal(calls(agent).length, 0, "a multi-line secret never reaches the agent");
  });

  it("redacts the secret from output the agent echoes, and bounds the captured output", async () => {
    const agent = fakeAgent(
      directory.path,
      "fence_chatty",
      `printf '%s\\n' "$input" >&2; head -c 100000 /dev/zero | tr '\\0' 'x'; echo; echo "debug: password was ${secret}"; exit 1`,
    );
    const { device: fence, lines } = device(agent, { retries: 0 });
    const result = await fence.powerOff();
    assert.equal(result.outcome, "failed");
    assert.ok(!result.detail.includes(secret), "secret redacted from the detail");
    assert.ok(!lines.join("").includes(secret), "secret redacted from the log");
    assert.match(result.detail, /password=\[redacted\]/);
    assert.match(result.detail, /password was \[redacted\]/);
    assert.ok(result.detail.length < 3 * capturedOutputBytesMax, `detail bounded (${result.detail.length} chars)`);
  });

  it("reads power status: exit 2 off, 0 on, 1 unknown after the retries", async () => {
    const answers = `${directory.path}/status-answer`;
    const agent = fakeAgent(directory.path, "fence_status", `exit "$(cat "${answers}")"`);
    const { device: fence } = device(agent, { retries: 1 });
    writeFileSync(answers, "2");
    assert.equal((await fence.powerStatus()).status, "off");
    writeFileSync(answers, "0");
    assert.equal((await fence.powerStatus()).status, "on");
    writeFileSync(answers, "1");
    const unknown = await fence.powerStatus();
    assert.equal(unknown.status, "unknown");
    assert.match(unknown.detail, /status \(try 2\): exit 1/);
  });

  it("runs one operation at a time per device", async () => {
    const busy = `${directory.path}/busy`;
    const overlaps = `${directory.path}/overlaps`;
    const agent = fakeAgent(
      directory.path,
      "fence_exclusive",
      `if ! mkdir "${busy}" 2>/dev/null; then echo overlap >> "${overlaps}"; fi
sleep 0.1
rmdir "${busy}" 2>/dev/null
[ "$action" = status ] && exit 2
exit 0`,
    );
    const { device: fence } = device(agent, { retries: 0 });
    const results = await Promise.all([fence.powerOff(), fence.powerStatus(), fence.powerOff()]);
    assert.deepEqual(results.map((result) => ("outcome" in result ? result.outcome : result.status)), ["off", "off", "off"]);
    assert.equal(calls(agent).length, 5);
    assert.ok(!existsSync(overlaps), "no two agent calls overlapped");
  });

  it("reports an agent that cannot be started as failed", async () => {
    const { device: fence } = device(`${directory.path}/no-such-agent`, { retries: 0 });
    const result = await fence.powerOff();
    assert.equal(result.outcome, "failed");
    assert.match(result.detail, /could not start \(.*ENOENT/);
  });
});
