// Proves how vigilctl runs commands over an in-memory Rpc on virtual time: requests sent, --wait exit codes and progress, failed VM operations, events --follow resuming without repeats.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { CliCommand, GlobalOptions } from "../../controlplane/cli/args.js";
import type { ApiService, CallOptions, Rpc, StreamOptions } from "../../controlplane/cli/client.js";
import { type CommandContext, jobPollIntervalMs, pollOutageMaxMs, runCommand, vmOperationDeadlineMs } from "../../controlplane/cli/commands.js";
import { CallFailed, ExitCode, NoEndpointReachable, OperationFailed, describeFailure } from "../../controlplane/cli/errors.js";

const unavailable = 14;
const notFound = 5;

interface Call {
  service: ApiService;
  method: string;
  request: object;
  timeoutMs: number | null;
}

type Handler = (request: Record<string, unknown>) => unknown;

/** Answers from a table of handlers; records every call. Streams replay scripted batches. */
class ScriptedRpc implements Rpc {
  readonly calls: Call[] = [];
  constructor(
    private readonly handlers: Record<string, Handler>,
    private readonly streams: Array<{ messages: object[]; end: "close" | Error }> = [],
  ) {}

  async unary(service: ApiService, method: string, request: object, options: CallOptions): Promise<unknown> {
    this.calls.push({ service, method, request, timeoutMs: options.timeoutMs });
    const handler = this.handlers[`${service}.${method}`];
    assert.ok(handler !== undefined, `unexpected call ${service}.${method}`);
    return handler(request as Record<string, unknown>);
  }

  async *stream(service: ApiService, method: string, request: object, options: StreamOptions): AsyncGenerator<unknown, void, void> {
    this.calls.push({ service, method, request, timeoutMs: options.timeoutMs });
    const script = this.streams.shift();
    if (script === undefined) {
      // Nothing more scripted: behave like an interrupted follow.
      (options.signal as AbortSignal & { abortForTest?: () => void }).abortForTest?.();
      return;
    }
    for (const message of script.messages) yield message;
    if (script.end instanceof Error) throw script.end;
  }
}

interface Harness {
  context: CommandContext;
  printed: string[];
  clock: { nowMs: number };
}

function harness(rpc: Rpc, globals: Partial<GlobalOptions> = {}): Harness {
  const printed: string[] = [];
  const clock = { nowMs: 1_000_000 };
  const controller = new AbortController();
  const signal = controller.signal as AbortSignal & { abortForTest?: () => void };
  signal.abortForTest = () => controller.abort();
  const context: CommandContext = {
    rpc,
    globals: { endpoints: ["127.0.0.1:7400"], output: "table", timeoutMs: 30_000, ...globals },
    terminal: { isTty: false, print: (text) => printed.push(text), redraw: (line) => printed.push(`redraw:${line}`) },
    signal,
    nowMs: () => clock.nowMs,
    sleep: async (delayMs) => {
      clock.nowMs += delayMs;
    },
  };
  return { context, printed, clock };
}

function jobIn(state: string, extra: Record<string, unknown> = {}): object {
  return { id: "j1", kind: "migrate", vm: "web1", host: "h1", target: "h2", state, phase: "memory", processedBytes: 0, remainingBytes: 0, ...extra };
}

const finalStates = ["succeeded", "rolled-back", "failed", "canceled"];

/** A JobService.Get handler returning the given states in turn, the last one forever; final ones carry an error. */
function states(sequence: readonly string[], extra: Record<string, unknown> = {}): Handler {
  let index = 0;
  return () => {
    const state = sequence[Math.min(index++, sequence.length - 1)] ?? "running";
    return jobIn(state, finalStates.includes(state) ? { error: "destination died", ...extra } : extra);
  };
}

const migrateWait: CliCommand = { kind: "vm.migrate", vm: "web1", to: "h2", forceLive: false, wait: { timeoutMs: 60_000 } };

async function exitOf(run: Promise<ExitCode>): Promise<{ exitCode: ExitCode; line: string }> {
  try {
    return { exitCode: await run, line: "" };
  } catch (error) {
    return describeFailure(error);
  }
}

describe("--wait", () => {
  it("exits 0 when the job succeeds, printing a line only when progress changes", async () => {
    const rpc = new ScriptedRpc({ "VmService.Migrate": () => jobIn("pending"), "JobService.Get": states(["running", "running", "succeeded"]) });
    const { context, printed } = harness(rpc);
    assert.equal(await runCommand(migrateWait, context), ExitCode.ok);
    assert.deepEqual(rpc.calls[0]?.request, { vm: "web1", to: "h2", forceLive: false });
    assert.deepEqual(printed, [
      "job j1: migrate web1 h1 -> h2, pending, phase memory",
      "job j1: migrate web1 h1 -> h2, running, phase memory",
      "job j1: migrate web1 h1 -> h2, succeeded, phase memory, destination died",
    ]);
  });

  it("exits 3 when the job is rolled back, 1 when it fails or is canceled", async () => {
    for (const [final, exitCode, line] of [
      ["rolled-back", ExitCode.rolledBack, "vigilctl: job j1 rolled back: destination died"],
      ["failed", ExitCode.failed, "vigilctl: job j1 failed: destination died"],
      ["canceled", ExitCode.failed, "vigilctl: job j1 was canceled: destination died"],
    ] as const) {
      const rpc = new ScriptedRpc({ "VmService.Migrate": () => jobIn("pending"), "JobService.Get": states(["running", final]) });
      assert.deepEqual(await exitOf(runCommand(migrateWait, harness(rpc).context)), { exitCode, line }, final);
    }
  });

  it("redraws one line on a terminal and ends it with a newline", async () => {
    const rpc = new ScriptedRpc({ "HostService.Flush": () => jobIn("pending", { kind: "flush", vm: "" }), "JobService.Get": states(["succeeded"], { kind: "flush", vm: "" }) });
    const { context, printed } = harness(rpc);
    const terminal = { ...context.terminal, isTty: true };
    await runCommand({ kind: "host.flush", host: "h1", wait: { timeoutMs: 60_000 } }, { ...context, terminal });
    assert.deepEqual(printed, ["redraw:job j1: flush h1, pending, phase memory", "redraw:job j1: flush h1, succeeded, phase memory, destination died", ""]);
  });

  it("prints only the final job with -o json", async () => {
    const rpc = new ScriptedRpc({ "HostService.Unflush": () => jobIn("pending"), "JobService.Get": states(["running", "succeeded"]) });
    const { context, printed } = harness(rpc, { output: "json" });
    await runCommand({ kind: "host.unflush", host: "h1", wait: { timeoutMs: 60_000 } }, context);
    assert.equal(printed.length, 1);
    assert.equal((JSON.parse(printed[0] ?? "") as { state: string }).state, "succeeded");
  });

  it("gives up at the wait timeout with exit 1, naming the job", async () => {
    const rpc = new ScriptedRpc({ "VmService.Migrate": () => jobIn("pending"), "JobService.Get": states(["running"]) });
    const { context, clock } = harness(rpc);
    const startMs = clock.nowMs;
    const result = await exitOf(runCommand({ ...migrateWait, wait: { timeoutMs: 10_000 } }, context));
    assert.deepEqual(result, { exitCode: ExitCode.failed, line: "vigilctl: gave up waiting after 10s: job j1 is still running (vigilctl job show j1)" });
    assert.equal(clock.nowMs - startMs, 10_000);
    assert.equal(rpc.calls.length, 1 + 10_000 / jobPollIntervalMs);
  });

  it("rides out a failover: unavailable polls are retried for up to a minute", async () => {
    let polls = 0;
    const flaky: Handler = () => {
      polls += 1;
      if (polls <= pollOutageMaxMs / jobPollIntervalMs) throw polls % 2 === 0 ? new NoEndpointReachable("no endpoint reachable") : new CallFailed("no leader", unavailable, "a:1");
      return jobIn("succeeded");
    };
    const rpc = new ScriptedRpc({ "VmService.Migrate": () => jobIn("pending"), "JobService.Get": flaky });
    const patientWait: CliCommand = { ...migrateWait, wait: { timeoutMs: 10 * 60_000 } };
    assert.equal(await runCommand(patientWait, harness(rpc).context), ExitCode.ok);

    const alwaysDown = new ScriptedRpc({
      "VmService.Migrate": () => jobIn("pending"),
      "JobService.Get": () => {
        throw new CallFailed("no leader", unavailable, "a:1");
      },
    });
    const { context, clock } = harness(alwaysDown);
    const startMs = clock.nowMs;
    assert.deepEqual(await exitOf(runCommand(patientWait, context)), { exitCode: ExitCode.failed, line: "vigilctl: no leader" });
    assert.equal(clock.nowMs - startMs, pollOutageMaxMs + 2 * jobPollIntervalMs);
  });

  it("stops at once on an error that is not transient", async () => {
    const rpc = new ScriptedRpc({
      "VmService.Migrate": () => jobIn("pending"),
      "JobService.Get": () => {
        throw new CallFailed('job "j1" not found', notFound, "a:1");
      },
    });
    assert.deepEqual(await exitOf(runCommand(migrateWait, harness(rpc).context)), { exitCode: ExitCode.failed, line: 'vigilctl: job "j1" not found' });
    assert.equal(rpc.calls.length, 2);
  });

  it("without --wait prints the new job and exits 0 whatever its state", async () => {
    const rpc = new ScriptedRpc({ "VmService.Migrate": () => jobIn("pending") });
    const { context, printed } = harness(rpc);
    assert.equal(await runCommand({ ...migrateWait, wait: null }, context), ExitCode.ok);
    assert.deepEqual(printed, ["job j1: migrate web1 h1 -> h2 pending (follow with: vigilctl job show j1)"]);
  });
});

describe("VM operations", () => {
  const failed = { vm: "web1", host: "h2", commandId: "c1", outcome: "failed", error: "libvirt: not enough memory" };

  it("exit 1 with one line when the outcome is failed, printing nothing on stdout in table mode", async () => {
    const rpc = new ScriptedRpc({ "VmService.Start": () => failed });
    const { context, printed } = harness(rpc);
    const result = await exitOf(runCommand({ kind: "vm.start", vm: "web1", on: "h2" }, context));
    assert.deepEqual(result, { exitCode: ExitCode.failed, line: "vigilctl: start web1 failed on h2: libvirt: not enough memory" });
    assert.deepEqual(printed, []);
    assert.deepEqual(rpc.calls[0]?.request, { vm: "web1", on: "h2" });
  });

  it("still print the operation with -o json when it failed", async () => {
    const rpc = new ScriptedRpc({ "VmService.Stop": () => failed });
    const { context, printed } = harness(rpc, { output: "json" });
    const result = await exitOf(runCommand({ kind: "vm.stop", vm: "web1" }, context));
    assert.equal(result.exitCode, ExitCode.failed);
    assert.equal((JSON.parse(printed[0] ?? "") as { outcome: string }).outcome, "failed");
  });

  it("succeed with one line naming the host", async () => {
    const rpc = new ScriptedRpc({ "VmService.Shutdown": () => ({ ...failed, outcome: "succeeded", error: "" }) });
    const { context, printed } = harness(rpc);
    assert.equal(await runCommand({ kind: "vm.shutdown", vm: "web1", timeoutS: 90 }, context), ExitCode.ok);
    assert.deepEqual(printed, ["vm web1: shutdown succeeded on h2"]);
    assert.deepEqual(rpc.calls[0], { service: "VmService", method: "Shutdown", request: { vm: "web1", timeoutS: 90 }, timeoutMs: 150_000 });
  });

  it("get deadlines that outlast the server's own wait: shutdown timeout + 60 s, start/stop 5 min, never below --timeout-ms", () => {
    const globals: GlobalOptions = { endpoints: [], output: "table", timeoutMs: 30_000 };
    assert.equal(vmOperationDeadlineMs({ kind: "vm.shutdown", vm: "v", timeoutS: 600 }, globals), 660_000);
    assert.equal(vmOperationDeadlineMs({ kind: "vm.shutdown", vm: "v", timeoutS: 0 }, globals), 240_000);
    assert.equal(vmOperationDeadlineMs({ kind: "vm.start", vm: "v", on: "" }, globals), 300_000);
    assert.equal(vmOperationDeadlineMs({ kind: "vm.stop", vm: "v" }, { ...globals, timeoutMs: 900_000 }), 900_000);
  });

  it("treat an outcome other than succeeded as a failure", async () => {
    const rpc = new ScriptedRpc({ "VmService.Start": () => ({ ...failed, outcome: "", error: "" }) });
    const result = await exitOf(runCommand({ kind: "vm.start", vm: "web1", on: "" }, harness(rpc).context));
    assert.deepEqual(result, { exitCode: ExitCode.failed, line: 'vigilctl: start web1: unexpected outcome "" on h2: no detail from the server' });
  });
});

describe("requests", () => {
  it("vm set names exactly the fields given, as proto field names", async () => {
    const rpc = new ScriptedRpc({ "VmService.SetPolicy": () => ({ name: "web1" }) });
    await runCommand({ kind: "vm.set", vm: "web1", policy: { limit: [], maxRestarts: 2, autorestart: false } }, harness(rpc).context);
    assert.deepEqual(rpc.calls[0]?.request, {
      vm: "web1",
      fields: ["limit", "autorestart", "max_restarts"],
      restart: "",
      priority: 0,
      limit: [],
      selector: "",
      autorestart: false,
      maxRestarts: 2,
    });
  });

  it("cluster and host commands call the RPCs of control.proto", async () => {
    const status = { term: 1, primary: "cp1", primaryState: "primary", members: [] };
    const host = { id: "h1" };
    const rpc = new ScriptedRpc({
      "ClusterService.Status": () => status,
      "ClusterService.TransferPrimary": () => status,
      "ClusterService.AddMember": () => status,
      "ClusterService.RemoveMember": () => status,
      "ClusterService.SetMaintenance": () => ({}),
      "ClusterService.GetConfig": () => ({ entries: [] }),
      "ClusterService.SetConfig": () => ({ entries: [] }),
      "HostService.Get": () => host,
      "HostService.SetMaintenance": () => host,
      "HostService.ConfirmFenced": () => host,
      "HostService.Remove": () => ({}),
      "VmService.List": () => ({ vms: [] }),
      "JobService.Cancel": () => jobIn("canceled"),
    });
    const { context } = harness(rpc);
    const commands: CliCommand[] = [
      { kind: "cluster.status" },
      { kind: "cluster.transfer-primary", to: "cp2" },
      { kind: "cluster.member.add", id: "cp4", address: "a:1" },
      { kind: "cluster.member.remove", id: "cp4" },
      { kind: "cluster.maintenance", on: true },
      { kind: "config.get", key: "" },
      { kind: "config.set", key: "k", value: "v" },
      { kind: "host.show", host: "h1" },
      { kind: "host.maintenance", host: "h1", on: false },
      { kind: "host.confirm-fenced", host: "h1" },
      { kind: "host.remove", host: "h1" },
      { kind: "vm.list", host: "h1" },
      { kind: "job.cancel", id: "j1" },
    ];
    for (const command of commands) assert.equal(await runCommand(command, context), ExitCode.ok, command.kind);
    assert.deepEqual(
      rpc.calls.map((call) => [`${call.service}.${call.method}`, call.request]),
      [
        ["ClusterService.Status", {}],
        ["ClusterService.TransferPrimary", { to: "cp2" }],
        ["ClusterService.AddMember", { id: "cp4", address: "a:1" }],
        ["ClusterService.RemoveMember", { id: "cp4" }],
        ["ClusterService.SetMaintenance", { on: true }],
        ["ClusterService.GetConfig", { key: "" }],
        ["ClusterService.SetConfig", { key: "k", value: "v" }],
        ["HostService.Get", { id: "h1" }],
        ["HostService.SetMaintenance", { id: "h1", on: false }],
        ["HostService.ConfirmFenced", { id: "h1" }],
        ["HostService.Remove", { id: "h1" }],
        ["VmService.List", { host: "h1" }],
        ["JobService.Cancel", { id: "j1" }],
      ],
    );
  });

  it("a server error is the one line, as the server worded it", async () => {
    const rpc = new ScriptedRpc({
      "VmService.Get": () => {
        throw new CallFailed('vm "nope" not found', notFound, "a:1");
      },
    });
    assert.deepEqual(await exitOf(runCommand({ kind: "vm.show", vm: "nope" }, harness(rpc).context)), { exitCode: ExitCode.failed, line: 'vigilctl: vm "nope" not found' });
  });
});

describe("events", () => {
  const event = (index: number, atMs: number) => ({ index, atMs, term: 3, kind: "vm.started", host: "h1", vm: `web${index}`, job: "", message: "started by HA" });

  it("lists as one JSON array with -o json, asking from --since", async () => {
    const rpc = new ScriptedRpc({}, [{ messages: [event(1, 10), event(2, 20)], end: "close" }]);
    const { context, printed, clock } = harness(rpc, { output: "json" });
    await runCommand({ kind: "events", follow: false, host: "h1", vm: "", since: { kind: "ago", agoMs: 600_000 }, limit: 0 }, context);
    assert.deepEqual(rpc.calls[0]?.request, { follow: false, host: "h1", vm: "", sinceMs: clock.nowMs - 600_000, limit: 0 });
    assert.equal(rpc.calls[0]?.timeoutMs, 30_000);
    assert.deepEqual((JSON.parse(printed[0] ?? "") as Array<{ index: number }>).map((item) => item.index), [1, 2]);
  });

  it("--follow resumes after a drop from the last event's time without printing an event twice", async () => {
    const rpc = new ScriptedRpc({}, [
      { messages: [event(1, 10), event(2, 20)], end: new CallFailed("connection dropped", unavailable, "a:1") },
      { messages: [event(2, 20), event(3, 30)], end: "close" },
    ]);
    const { context, printed } = harness(rpc, { output: "json" });
    const exitCode = await runCommand({ kind: "events", follow: true, host: "", vm: "", since: null, limit: 5 }, context);
    assert.equal(exitCode, ExitCode.ok);
    assert.deepEqual(printed.map((line) => (JSON.parse(line) as { index: number }).index), [1, 2, 3]);
    assert.deepEqual(
      rpc.calls.map((call) => [call.request, call.timeoutMs]),
      [
        [{ follow: true, host: "", vm: "", sinceMs: 0, limit: 5 }, null],
        [{ follow: true, host: "", vm: "", sinceMs: 20, limit: 0 }, null],
        [{ follow: true, host: "", vm: "", sinceMs: 30, limit: 0 }, null],
      ],
    );
  });

  it("--follow gives up on an error that is not transient", async () => {
    const rpc = new ScriptedRpc({}, [{ messages: [], end: new CallFailed("permission denied", 7, "a:1") }]);
    const result = await exitOf(runCommand({ kind: "events", follow: true, host: "", vm: "", since: null, limit: 0 }, harness(rpc).context));
    assert.deepEqual(result, { exitCode: ExitCode.failed, line: "vigilctl: permission denied" });
  });
});

describe("failures map to one line and an exit code", () => {
  it("never prints a stack, even for an unexpected error with newlines", () => {
    assert.deepEqual(describeFailure(new Error("boom\n    at somewhere")), { exitCode: ExitCode.failed, line: "vigilctl: internal error: boom; at somewhere" });
    assert.deepEqual(describeFailure(new OperationFailed("interrupted", ExitCode.interrupted)), { exitCode: ExitCode.interrupted, line: "vigilctl: interrupted" });
  });
});
