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
    terminal: {
      isTty: false,
      print: (text) => printed.push(text),
      redraw: (lines) => printed.push(`redraw:${lines.join("|")}`),
      note: (text) => printed.push(`stderr:${text}`),
    },
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
      "job j1: migrate web1 h1 -> h2: pending, phase memory",
      "job j1: migrate web1 h1 -> h2: running, phase memory",
      "job j1: migrate web1 h1 -> h2: succeeded, phase memory, destination died",
    ]);
  });

  it("exits 3 when the job is rolled back, 1 when it fails or is canceled", async () => {
    for (const [final, exitCode, line] of [
      ["rolled-back", ExitCode.rolledBack, "vigilctl: job j1 rolled back: destination died"],
      ["failed", ExitCode.failed, "vigilctl: job j1 failed: destination died"],
      ["canceled", ExitCode.failed, "vigilctl: job j1 was canceled: destination died"],
    ] as const) {
      for (const command of [migrateWait, { kind: "host.flush", host: "h1", wait: { timeoutMs: 60_000 } } satisfies CliCommand]) {
        const rpc = new ScriptedRpc({ "VmService.Migrate": () => jobIn("pending"), "HostService.Flush": () => jobIn("pending"), "JobService.Get": states(["running", final]) });
        assert.deepEqual(await exitOf(runCommand(command, harness(rpc).context)), { exitCode, line }, `${command.kind} ${final}`);
      }
    }
  });

  it("plain lines: one per change of the job, never for a poll where only the clock moved", async () => {
    // Adjudication: the deadline stays, the clock moves each poll; only the recheck count changes the line.
    // The server's phase may count down too ("29 s left"): that is the clock as well.
    const rechecks = ["recheck 1 (30 s left)", "recheck 1 (29 s left)", "recheck 1 (28 s left)", "recheck 2 (27 s left)", "recheck 2 (26 s left)"];
    let poll = 0;
    const deadlineMs = 1_000_000 + 30_000;
    const rpc = new ScriptedRpc({
      "VmService.Migrate": () => jobIn("running", { phase: "", processedBytes: 10, remainingBytes: 90, totalBytes: 100, deadlineMs }),
      "JobService.Get": () => {
        const phase = rechecks[poll++];
        return phase === undefined ? jobIn("succeeded", { phase: "", downtimeMs: 30 }) : jobIn("adjudicating", { phase, deadlineMs });
      },
    });
    const { context, printed } = harness(rpc);
    assert.equal(await runCommand(migrateWait, context), ExitCode.ok);
    assert.deepEqual(printed, [
      "job j1: migrate web1 h1 -> h2: running, 10% of 100 B, 90 B left, 10 B sent, 30s left",
      "job j1: migrate web1 h1 -> h2: adjudicating, phase recheck 1 (30 s left), 29s left",
      "job j1: migrate web1 h1 -> h2: adjudicating, phase recheck 2 (27 s left), 26s left",
      "job j1: migrate web1 h1 -> h2: succeeded, downtime 30 ms",
    ]);
  });

  it("plain lines of a flush: one per change of the flush or of one VM step", async () => {
    const step = (id: string, vm: string, state: string, extra: Record<string, unknown> = {}) => ({ id, kind: "migrate", vm, host: "h1", target: "h2", state, parent: "f1", ...extra });
    const polls = [
      [step("j1", "web1", "running", { processedBytes: 50, remainingBytes: 50, totalBytes: 100 })],
      [step("j1", "web1", "succeeded", { processedBytes: 100, totalBytes: 100, downtimeMs: 20 }), step("j2", "db", "pending")],
      [step("j1", "web1", "succeeded", { processedBytes: 100, totalBytes: 100, downtimeMs: 20 }), step("j2", "db", "succeeded", { downtimeMs: 25 })],
    ];
    let poll = 0;
    const flush = (state: string, steps: object[]) => ({ id: "f1", kind: "flush", vm: "", host: "h1", target: "", state, steps });
    const rpc = new ScriptedRpc({
      "HostService.Flush": () => flush("pending", []),
      "JobService.Get": () => {
        const steps = polls[Math.min(poll, polls.length - 1)] ?? [];
        poll += 1;
        return flush(poll > polls.length ? "succeeded" : "running", steps);
      },
    });
    const { context, printed } = harness(rpc);
    assert.equal(await runCommand({ kind: "host.flush", host: "h1", wait: { timeoutMs: 60_000 } }, context), ExitCode.ok);
    assert.deepEqual(printed, [
      "job f1: flush h1: pending",
      "job f1: flush h1: running, 0 of 1 VM done",
      "  web1 h1 -> h2: running, 50% of 100 B, 50 B left, 50 B sent",
      "job f1: flush h1: running, 1 of 2 VMs done",
      "  web1 h1 -> h2: succeeded, 100% of 100 B, 0 B left, 100 B sent, downtime 20 ms",
      "  db h1 -> h2: pending",
      "job f1: flush h1: running, 2 of 2 VMs done",
      "  db h1 -> h2: succeeded, downtime 25 ms",
      "job f1: flush h1: succeeded, 2 of 2 VMs done",
    ]);
  });

  it("on a terminal redraws the block in place, the countdown included, and ends it with a newline", async () => {
    const deadlineMs = 1_000_000 + 5_000;
    const sequence = [jobIn("adjudicating", { phase: "recheck 1", deadlineMs }), jobIn("adjudicating", { phase: "recheck 1", deadlineMs }), jobIn("rolled-back", { phase: "", error: "h2 does not run web1" })];
    let poll = 0;
    const rpc = new ScriptedRpc({ "VmService.Migrate": () => jobIn("pending", { phase: "" }), "JobService.Get": () => sequence[Math.min(poll++, sequence.length - 1)] });
    const { context, printed } = harness(rpc);
    const terminal = { ...context.terminal, isTty: true };
    assert.deepEqual(await exitOf(runCommand(migrateWait, { ...context, terminal })), { exitCode: ExitCode.rolledBack, line: "vigilctl: job j1 rolled back: h2 does not run web1" });
    assert.deepEqual(printed, [
      "redraw:job j1: migrate web1 h1 -> h2: pending",
      "redraw:job j1: migrate web1 h1 -> h2: adjudicating, phase recheck 1, 4s left",
      "redraw:job j1: migrate web1 h1 -> h2: adjudicating, phase recheck 1, 3s left",
      "redraw:job j1: migrate web1 h1 -> h2: rolled-back, h2 does not run web1",
      "",
    ]);
  });

  it("on a terminal draws a flush as one line per VM", async () => {
    const steps = [{ id: "j1", kind: "migrate", vm: "web1", host: "h1", target: "h2", state: "succeeded" }, { id: "j2", kind: "migrate", vm: "db", host: "h1", target: "h3", state: "running" }];
    const rpc = new ScriptedRpc({ "HostService.Unflush": () => ({ id: "u1", kind: "unflush", host: "h1", state: "running", steps }), "JobService.Get": () => ({ id: "u1", kind: "unflush", host: "h1", state: "failed", steps, error: "db: h3 refused" }) });
    const { context, printed } = harness(rpc);
    const terminal = { ...context.terminal, isTty: true };
    assert.deepEqual(await exitOf(runCommand({ kind: "host.unflush", host: "h1", wait: { timeoutMs: 60_000 } }, { ...context, terminal })), { exitCode: ExitCode.failed, line: "vigilctl: job u1 failed: db: h3 refused" });
    assert.deepEqual(printed, [
      "redraw:job u1: unflush h1: running, 1 of 2 VMs done|  web1 h1 -> h2: succeeded|  db h1 -> h3: running",
      "redraw:job u1: unflush h1: failed, 1 of 2 VMs done, db: h3 refused|  web1 h1 -> h2: succeeded|  db h1 -> h3: running",
      "",
    ]);
  });

  it("with -o json: plain progress lines on stderr, the final job alone as JSON on stdout", async () => {
    const rpc = new ScriptedRpc({ "HostService.Unflush": () => jobIn("pending"), "JobService.Get": states(["running", "running", "succeeded"]) });
    const { context, printed } = harness(rpc, { output: "json" });
    assert.equal(await runCommand({ kind: "host.unflush", host: "h1", wait: { timeoutMs: 60_000 } }, context), ExitCode.ok);
    const stdout = printed.filter((line) => !line.startsWith("stderr:"));
    assert.deepEqual(
      printed.filter((line) => line.startsWith("stderr:")),
      ["stderr:job j1: migrate web1 h1 -> h2: pending, phase memory", "stderr:job j1: migrate web1 h1 -> h2: running, phase memory", "stderr:job j1: migrate web1 h1 -> h2: succeeded, phase memory, destination died"],
    );
    assert.equal(stdout.length, 1);
    assert.equal((JSON.parse(stdout[0] ?? "") as { state: string }).state, "succeeded");
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
      migrationFallback: false,
    });
  });

  it("vm set --migration-fallback names migrationFallback in fields and sends the value", async () => {
    const rpc = new ScriptedRpc({ "VmService.SetPolicy": () => ({ name: "web1", migrationFallback: true }) });
    const { context, printed } = harness(rpc);
    await runCommand({ kind: "vm.set", vm: "web1", policy: { migrationFallback: true } }, context);
    assert.deepEqual(rpc.calls[0]?.request, { vm: "web1", fields: ["migrationFallback"], restart: "", priority: 0, limit: [], selector: "", autorestart: false, maxRestarts: 0, migrationFallback: true });
    assert.match(printed[0] ?? "", /^migration fallback: +on/m);
  });

  it("job list sends its filters; job show and job cancel print the whole job; a refused cancel is exit 1 with the server's line", async () => {
    const rpc = new ScriptedRpc({
      "JobService.List": () => ({ jobs: [jobIn("running", { totalBytes: 100, processedBytes: 40, remainingBytes: 60 })] }),
      "JobService.Get": () => jobIn("running", { mode: "live", forceLive: true }),
      "JobService.Cancel": () => {
        throw new CallFailed("job j1 already succeeded: a final job cannot be canceled", 9, "a:1");
      },
    });
    const { context, printed } = harness(rpc);
    assert.equal(await runCommand({ kind: "job.list", vm: "web1", host: "" }, context), ExitCode.ok);
    assert.deepEqual(rpc.calls[0]?.request, { vm: "web1", host: "" });
    assert.match(printed[0]?.split("\n")[1] ?? "", /^j1 +migrate +web1 +h1 +h2 +running +- +40% +memory/);
    assert.equal(await runCommand({ kind: "job.show", id: "j1" }, context), ExitCode.ok);
    assert.match(printed[1] ?? "", /^force live: +yes$/m);
    assert.deepEqual(await exitOf(runCommand({ kind: "job.cancel", id: "j1" }, context)), { exitCode: ExitCode.failed, line: "vigilctl: job j1 already succeeded: a final job cannot be canceled" });
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
