// Proves edge validation names the bad field: agent hello/events, VM policy requests, config keys and YAML options.
import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { describe, it } from "node:test";
import type { AgentEvent__Output } from "../../common/generated/vigil/v1/AgentEvent.js";
import type { Hello__Output } from "../../common/generated/vigil/v1/Hello.js";
import { ConfigError, UsageError } from "../../common/errors.js";
import { parseOptions } from "../../common/options.js";
import { eventProblem, helloProblem } from "../../controlplane/api/agent-validation.js";
import { policyFromRequest } from "../../controlplane/api/vm-service.js";
import { ApiError } from "../../controlplane/api/status.js";
import { configProblem } from "../../controlplane/state/config-keys.js";
import { temporaryDirectory } from "../support/processes.js";

const hello: Hello__Output = { hostId: "h1", bootId: "b1", agentVersion: "1", lastAckedSeq: 0, highestTerm: 0, migrationUri: "", capacity: null, sessionId: "s", selfFence: null };
const domain = { name: "web", uuid: "11111111-2222-3333-4444-555555555555", state: "running", reason: "booted", vcpus: 1, memoryBytes: 1, persistent: true };

describe("agent message validation", () => {
  it("accepts a well-formed hello and names the bad field otherwise", () => {
    assert.equal(helloProblem(hello), null);
    assert.match(helloProblem({ ...hello, hostId: "bad host!" }) ?? "", /hello.host_id/);
    assert.match(helloProblem({ ...hello, bootId: "" }) ?? "", /hello.boot_id/);
    assert.equal(helloProblem({ ...hello, selfFence: { mode: "destroy-vms", timeoutMs: 120_000 } }), null);
    assert.equal(helloProblem({ ...hello, selfFence: { mode: "off", timeoutMs: 0 } }), null);
    assert.match(helloProblem({ ...hello, selfFence: { mode: "reboot", timeoutMs: 1 } }) ?? "", /hello.self_fence.mode/);
    assert.match(helloProblem({ ...hello, selfFence: { mode: "watchdog", timeoutMs: 0 } }) ?? "", /hello.self_fence.timeout_ms/);
    // Found by the RPC fuzzer: a huge uint64 with mode off arrived as a float and stopped apply.
    assert.match(helloProblem({ ...hello, selfFence: { mode: "off", timeoutMs: 2 ** 64 } }) ?? "", /hello.self_fence.timeout_ms must be 0 to/);
    assert.match(helloProblem({ ...hello, selfFence: { mode: "", timeoutMs: 1.5 } }) ?? "", /hello.self_fence.timeout_ms/);
  });

  it("names the bad field of an event", () => {
    const event = (patch: Partial<AgentEvent__Output>): AgentEvent__Output => ({ seq: 1, atMs: 0, recovered: false, body: "lifecycle", lifecycle: { domain, event: "started", detail: "booted" }, ...patch });
    assert.equal(eventProblem(event({})), null);
    assert.match(eventProblem(event({ seq: 0 })) ?? "", /event.seq/);
    assert.match(eventProblem(event({ lifecycle: { domain: { ...domain, uuid: "nope" }, event: "", detail: "" } })) ?? "", /uuid/);
    assert.match(eventProblem(event({ lifecycle: { domain: { ...domain, state: "exploded" }, event: "", detail: "" } })) ?? "", /state/);
    assert.match(eventProblem(event({ body: undefined })) ?? "", /no body/);
    assert.equal(eventProblem({ seq: 2, atMs: 0, recovered: false, body: "contactProbe", contactProbe: {} }), null, "a self-fence contact probe is a valid event");
  });

  it("refuses numbers SQLite would store as floats, unknown enum values and unbounded lists (fuzzer findings)", () => {
    const capacity = { cpus: 1, memoryBytes: 18446744073709551615, freeMemoryBytes: 0, memoryProvisionedBytes: 0, load: 0, vcpusProvisioned: 0, vmCount: 0 };
    assert.match(helloProblem({ ...hello, capacity }) ?? "", /hello.capacity.memory_bytes/);
    assert.match(helloProblem({ ...hello, capacity: { ...capacity, memoryBytes: 1, load: Number.NaN } }) ?? "", /hello.capacity.load/);
    assert.match(helloProblem({ ...hello, selfFence: { mode: "explode", timeoutMs: 0 } }) ?? "", /hello.self_fence.mode/);
    const event = (patch: Partial<AgentEvent__Output>): AgentEvent__Output => ({ seq: 1, atMs: 0, recovered: false, body: "lifecycle", lifecycle: null, ...patch });
    assert.match(eventProblem(event({ lifecycle: { domain: { ...domain, memoryBytes: 2 ** 64 }, event: "", detail: "" } })) ?? "", /memory_bytes/);
    assert.match(eventProblem(event({ body: "blockJob", blockJob: { vmUuid: domain.uuid, disk: "vda", kind: "copy", status: "exploded" } })) ?? "", /event.block_job.status/);
    const files = Array.from({ length: 2_000 }, () => "/a");
    assert.match(eventProblem(event({ body: "diskChain", diskChain: { vmUuid: domain.uuid, disks: [{ target: "vda", files }], pending: false, error: "", attempts: 0 } })) ?? "", /more than 200 images/);
    assert.equal(eventProblem(event({ body: "jobFinished", jobFinished: { jobId: "j1", vmUuid: domain.uuid, kind: "migrate-out", disk: "", outcome: "completed", error: "" } })), null);
    assert.match(eventProblem(event({ body: "jobFinished", jobFinished: { jobId: "j1", vmUuid: domain.uuid, kind: "migrate", disk: "", outcome: "completed", error: "" } })) ?? "", /event.job_finished.kind/);
  });
});

describe("VM policy validation", () => {
  const base = { vm: "web", fields: [] as string[], restart: "", priority: 0, limit: [] as string[], selector: "", autorestart: false, maxRestarts: 0, migrationFallback: false };
  it("keeps only the named fields", () => {
    assert.deepEqual(policyFromRequest({ ...base, fields: ["restart", "limit"], restart: "always", limit: ["h2", "h1", "h2"] }), { restart: "always", limit: ["h1", "h2"] });
  });
  it("refuses bad values with INVALID_ARGUMENT naming the field", () => {
    for (const [patch, field] of [
      [{ fields: ["restart"], restart: "sometimes" }, "restart"],
      [{ fields: ["selector"], selector: "cheapest" }, "selector"],
      [{ fields: ["limit"], limit: ["bad host!"] }, "limit"],
      [{ fields: ["colour"] }, "fields"],
      [{ fields: [] }, "fields"],
    ] as const) {
      assert.throws(() => policyFromRequest({ ...base, ...patch, fields: [...patch.fields], limit: [...("limit" in patch ? patch.limit : [])] }), (error: unknown) => error instanceof ApiError && error.message.startsWith(`${field}:`));
    }
  });
});

describe("cluster config keys", () => {
  it("refuses unknown keys and orphaned skip timeouts of zero", () => {
    assert.equal(configProblem("vm.orphanedSkipTimeout", "600"), null);
    assert.match(configProblem("vm.orphanedSkipTimeout", "0") ?? "", /> 0/);
    assert.match(configProblem("no.such.key", "1") ?? "", /unknown config key/);
    for (const value of ["1e3", "0x10", " 5", "604801", "Infinity"]) assert.notEqual(configProblem("command.timeout", value), null, value);
    assert.equal(configProblem("keepalive.interval", "0.5"), null);
  });
});

describe("process options", () => {
  const specs = { listen: { type: "string" as const, description: "", defaultValue: "a" }, dataDir: { type: "string" as const, description: "" } };
  it("lets flags override the YAML file", () => {
    const directory = temporaryDirectory("options");
    writeFileSync(`${directory.path}/c.yaml`, "listen: b\ndataDir: /x\n");
    const { values } = parseOptions(["--config", `${directory.path}/c.yaml`, "--listen", "c"], specs, "/nonexistent");
    assert.equal(values.listen, "c");
    assert.equal(values.dataDir, "/x");
    directory.remove();
  });
  it("names the file and key of a bad setting", () => {
    const directory = temporaryDirectory("options");
    writeFileSync(`${directory.path}/c.yaml`, "listn: b\n");
    assert.throws(() => parseOptions(["--config", `${directory.path}/c.yaml`], specs, "/nonexistent"), (error: unknown) => error instanceof ConfigError && /c\.yaml: listn: unknown setting/.test(error.message));
    directory.remove();
  });
  it("refuses an unknown flag as a usage error", () => {
    assert.throws(() => parseOptions(["--lisen", "x"], specs, "/nonexistent"), UsageError);
  });
});
