// Runs one parsed CliCommand against vigild: builds the request, makes the call through Rpc,
// decodes the reply and prints it with output.ts. Operation failures are thrown as named
// errors (errors.ts) that the main turns into one stderr line and an exit code.
import type { ClusterStatusRequest } from "../../common/generated/vigil/v1/ClusterStatusRequest.js";
import type { GetConfigRequest } from "../../common/generated/vigil/v1/GetConfigRequest.js";
import type { HostRequest } from "../../common/generated/vigil/v1/HostRequest.js";
import type { JobRequest } from "../../common/generated/vigil/v1/JobRequest.js";
import type { ListEventsRequest } from "../../common/generated/vigil/v1/ListEventsRequest.js";
import type { ListHostsRequest } from "../../common/generated/vigil/v1/ListHostsRequest.js";
import type { ListJobsRequest } from "../../common/generated/vigil/v1/ListJobsRequest.js";
import type { ListVmsRequest } from "../../common/generated/vigil/v1/ListVmsRequest.js";
import type { MemberRequest } from "../../common/generated/vigil/v1/MemberRequest.js";
import type { MigrateVmRequest } from "../../common/generated/vigil/v1/MigrateVmRequest.js";
import type { SetClusterMaintenanceRequest } from "../../common/generated/vigil/v1/SetClusterMaintenanceRequest.js";
import type { SetConfigRequest } from "../../common/generated/vigil/v1/SetConfigRequest.js";
import type { SetHostMaintenanceRequest } from "../../common/generated/vigil/v1/SetHostMaintenanceRequest.js";
import type { SetVmPolicyRequest } from "../../common/generated/vigil/v1/SetVmPolicyRequest.js";
import type { ShutdownVmRequest } from "../../common/generated/vigil/v1/ShutdownVmRequest.js";
import type { StartVmRequest } from "../../common/generated/vigil/v1/StartVmRequest.js";
import type { TransferPrimaryRequest } from "../../common/generated/vigil/v1/TransferPrimaryRequest.js";
import type { VmRequest } from "../../common/generated/vigil/v1/VmRequest.js";
import type { CliCommand, GlobalOptions, VmPolicyChange, WaitOptions } from "./args.js";
import type { ApiService, Rpc } from "./client.js";
import { CallFailed, ExitCode, NoEndpointReachable, OperationFailed } from "./errors.js";
import * as output from "./output.js";
import { initCa, issueCertificate, PkiError, type Issued } from "./pki.js";
import type { JsonValue } from "./output.js";
import { resolveSinceMs } from "./values.js";
import {
  type Job,
  type VmOperation,
  decodeClusterEvent,
  decodeClusterStatus,
  decodeConfigEntries,
  decodeHost,
  decodeHostList,
  decodeJob,
  decodeJobList,
  decodeVm,
  decodeVmList,
  decodeVmOperation,
  finalJobStates,
} from "./wire.js";

/** Where results go. Errors never go through here: they are thrown. */
export interface Terminal {
  /** True when stdout is a terminal: `--wait` then redraws one progress line. */
  readonly isTty: boolean;
  /** Prints text and a newline on stdout. */
  print(text: string): void;
  /** Replaces the block of lines drawn last on a terminal with these (no final newline). */
  redraw(lines: readonly string[]): void;
  /** Prints a line on stderr: progress while stdout carries JSON. */
  note(text: string): void;
}

export interface CommandContext {
  rpc: Rpc;
  globals: GlobalOptions;
  terminal: Terminal;
  /** Aborted on SIGINT. */
  signal: AbortSignal;
  nowMs(): number;
  /** Resolves after `delayMs`, or rejects at once when `signal` aborts. */
  sleep(delayMs: number, signal: AbortSignal): Promise<void>;
}

/**
 * start and stop wait for the agent's result, which vigild bounds by its `command.timeout`
 * setting (120 s by default). The client deadline is only a safety net beyond that, with room
 * for a raised setting, so that the server's own answer (success or a clear timeout) arrives first.
 */
export const vmOperationTimeoutMs = 300_000;
/** vm shutdown without --timeout: vigild's default shutdown timeout. */
export const assumedShutdownTimeoutS = 180;
/**
 * What a shutdown call may take beyond its own timeout. vigild itself waits the timeout plus
 * 30 s for the agent's result; the client allows 30 s more so it hears the server's answer.
 */
export const shutdownMarginMs = 60_000;
/** How often `--wait` polls the job. */
export const jobPollIntervalMs = 1_000;
/** How long `--wait` keeps polling through failed polls (a failover, a vigild restart). */
export const pollOutageMaxMs = 60_000;
/** How long `events --follow` keeps reconnecting without receiving anything. */
export const followOutageMaxMs = 60_000;
export const followReconnectDelayMs = 1_000;

export async function runCommand(command: CliCommand, context: CommandContext): Promise<ExitCode> {
  const call = (service: ApiService, method: string, request: object, timeoutMs = context.globals.timeoutMs) =>
    context.rpc.unary(service, method, request, { timeoutMs, signal: context.signal });
  const emit = (json: JsonValue, text: string) =>
    context.terminal.print(context.globals.output === "json" ? output.jsonText(json) : text);

  switch (command.kind) {
    case "cluster.status":
    case "cluster.transfer-primary":
    case "cluster.member.add":
    case "cluster.member.remove": {
      const status = decodeClusterStatus(await call("ClusterService", ...clusterRequest(command)));
      emit(output.clusterStatusJson(status), output.clusterStatusText(status));
      return ExitCode.ok;
    }
    case "cluster.maintenance":
      await call("ClusterService", "SetMaintenance", { on: command.on } satisfies SetClusterMaintenanceRequest);
      emit({ maintenance: command.on }, `cluster maintenance ${command.on ? "on" : "off"}`);
      return ExitCode.ok;
    case "host.list": {
      const hosts = decodeHostList(await call("HostService", "List", {} satisfies ListHostsRequest));
      emit(hosts.map(output.hostJson), output.hostListText(hosts));
      return ExitCode.ok;
    }
    case "host.show":
    case "host.confirm-fenced":
    case "host.maintenance": {
      const host = decodeHost(await call("HostService", ...hostRequest(command)));
      emit(output.hostJson(host), output.hostText(host));
      return ExitCode.ok;
    }
    case "host.flush":
    case "host.unflush": {
      const job = decodeJob(await call("HostService", command.kind === "host.flush" ? "Flush" : "Unflush", { id: command.host } satisfies HostRequest));
      return jobStarted(job, command.wait, context);
    }
    case "host.remove":
      await call("HostService", "Remove", { id: command.host } satisfies HostRequest);
      emit({ removed: command.host }, `host ${command.host} removed`);
      return ExitCode.ok;
    case "vm.list": {
      const vms = decodeVmList(await call("VmService", "List", { host: command.host } satisfies ListVmsRequest));
      emit(vms.map(output.vmJson), output.vmListText(vms));
      return ExitCode.ok;
    }
    case "vm.show":
    case "vm.set": {
      const vm = decodeVm(await call("VmService", ...vmRequest(command)));
      emit(output.vmJson(vm), output.vmText(vm));
      return ExitCode.ok;
    }
    case "vm.start":
    case "vm.stop":
    case "vm.shutdown":
      return vmOperation(command, context);
    case "vm.migrate": {
      const request: MigrateVmRequest = { vm: command.vm, to: command.to, forceLive: command.forceLive };
      return jobStarted(decodeJob(await call("VmService", "Migrate", request)), command.wait, context);
    }
    case "job.list": {
      const jobs = decodeJobList(await call("JobService", "List", { vm: command.vm, host: command.host } satisfies ListJobsRequest));
      emit(jobs.map(output.jobJson), output.jobListText(jobs));
      return ExitCode.ok;
    }
    case "job.show":
    case "job.cancel": {
      const job = decodeJob(await call("JobService", command.kind === "job.show" ? "Get" : "Cancel", { id: command.id } satisfies JobRequest));
      emit(output.jobJson(job), output.jobText(job));
      return ExitCode.ok;
    }
    case "events":
      return command.follow ? followEvents(command, context) : listEvents(command, context);
    case "config.get":
    case "config.set": {
      const reply =
        command.kind === "config.get"
          ? await call("ClusterService", "GetConfig", { key: command.key } satisfies GetConfigRequest)
          : await call("ClusterService", "SetConfig", { key: command.key, value: command.value } satisfies SetConfigRequest);
      const entries = decodeConfigEntries(reply);
      emit(entries.map(output.configEntryJson), output.configText(entries));
      return ExitCode.ok;
    }
    case "pki.init":
    case "pki.issue": {
      const issued = runPki(command);
      emit({ certificate: issued.certificate, key: issued.key }, `wrote ${issued.certificate} and ${issued.key}`);
      return ExitCode.ok;
    }
  }
}

/** pki commands work on local files only: no call is made. */
function runPki(command: Extract<CliCommand, { kind: "pki.init" | "pki.issue" }>): Issued {
  try {
    return command.kind === "pki.init" ? initCa(command.dir, command.days) : issueCertificate(command.request);
  } catch (error) {
    if (error instanceof PkiError) throw new OperationFailed(error.message, ExitCode.failed);
    throw error;
  }
}

type Request = readonly [method: string, request: object];

function clusterRequest(
  command: Extract<CliCommand, { kind: "cluster.status" | "cluster.transfer-primary" | "cluster.member.add" | "cluster.member.remove" }>,
): Request {
  switch (command.kind) {
    case "cluster.status":
      return ["Status", {} satisfies ClusterStatusRequest];
    case "cluster.transfer-primary":
      return ["TransferPrimary", { to: command.to } satisfies TransferPrimaryRequest];
    case "cluster.member.add":
      return ["AddMember", { id: command.id, address: command.address } satisfies MemberRequest];
    case "cluster.member.remove":
      return ["RemoveMember", { id: command.id } satisfies MemberRequest];
  }
}

function hostRequest(command: Extract<CliCommand, { kind: "host.show" | "host.confirm-fenced" | "host.maintenance" }>): Request {
  switch (command.kind) {
    case "host.show":
      return ["Get", { id: command.host } satisfies HostRequest];
    case "host.confirm-fenced":
      return ["ConfirmFenced", { id: command.host } satisfies HostRequest];
    case "host.maintenance":
      return ["SetMaintenance", { id: command.host, on: command.on } satisfies SetHostMaintenanceRequest];
  }
}

function vmRequest(command: Extract<CliCommand, { kind: "vm.show" | "vm.set" }>): Request {
  return command.kind === "vm.show" ? ["Get", { vm: command.vm } satisfies VmRequest] : ["SetPolicy", setPolicyRequest(command.vm, command.policy)];
}

/**
 * SetVmPolicyRequest: `fields` names the proto fields (snake_case, as in a FieldMask) that
 * the flags set; the server changes only those.
 */
export function setPolicyRequest(vm: string, policy: VmPolicyChange): SetVmPolicyRequest {
  const fields: string[] = [];
  if (policy.restart !== undefined) fields.push("restart");
  if (policy.priority !== undefined) fields.push("priority");
  if (policy.limit !== undefined) fields.push("limit");
  if (policy.selector !== undefined) fields.push("selector");
  if (policy.autorestart !== undefined) fields.push("autorestart");
  if (policy.maxRestarts !== undefined) fields.push("max_restarts");
  // The name the issue-8 contract gives this field (camelCase, unlike the older ones above).
  if (policy.migrationFallback !== undefined) fields.push("migrationFallback");
  return {
    vm,
    fields,
    restart: policy.restart ?? "",
    priority: policy.priority ?? 0,
    limit: policy.limit ?? [],
    selector: policy.selector ?? "",
    autorestart: policy.autorestart ?? false,
    maxRestarts: policy.maxRestarts ?? 0,
    migrationFallback: policy.migrationFallback ?? false,
  };
}

/** The deadline of start/stop/shutdown: longer than the server's own wait, never below --timeout-ms. */
export function vmOperationDeadlineMs(command: Extract<CliCommand, { kind: "vm.start" | "vm.stop" | "vm.shutdown" }>, globals: GlobalOptions): number {
  if (command.kind !== "vm.shutdown") return Math.max(globals.timeoutMs, vmOperationTimeoutMs);
  const shutdownS = command.timeoutS > 0 ? command.timeoutS : assumedShutdownTimeoutS;
  return Math.max(globals.timeoutMs, shutdownS * 1_000 + shutdownMarginMs);
}

async function vmOperation(command: Extract<CliCommand, { kind: "vm.start" | "vm.stop" | "vm.shutdown" }>, context: CommandContext): Promise<ExitCode> {
  const [method, action, request]: readonly [string, string, object] =
    command.kind === "vm.start"
      ? ["Start", "start", { vm: command.vm, on: command.on } satisfies StartVmRequest]
      : command.kind === "vm.stop"
        ? ["Stop", "stop", { vm: command.vm } satisfies VmRequest]
        : ["Shutdown", "shutdown", { vm: command.vm, timeoutS: command.timeoutS } satisfies ShutdownVmRequest];
  const timeoutMs = vmOperationDeadlineMs(command, context.globals);
  const operation = decodeVmOperation(await context.rpc.unary("VmService", method, request, { timeoutMs, signal: context.signal }));
  const failed = operation.outcome !== "succeeded";
  if (context.globals.output === "json") context.terminal.print(output.jsonText(output.vmOperationJson(operation)));
  else if (!failed) context.terminal.print(output.vmOperationText(action, operation));
  if (failed) throw new OperationFailed(vmOperationFailure(action, command.vm, operation), ExitCode.failed);
  return ExitCode.ok;
}

export function vmOperationFailure(action: string, vm: string, operation: VmOperation): string {
  const where = operation.host === "" ? "" : ` on ${operation.host}`;
  const detail = operation.error === "" ? "no detail from the server" : operation.error;
  if (operation.outcome !== "failed") {
    return `${action} ${operation.vm || vm}: unexpected outcome "${operation.outcome}"${where}: ${detail}`;
  }
  return `${action} ${operation.vm || vm} failed${where}: ${detail}`;
}

async function jobStarted(job: Job, wait: WaitOptions | null, context: CommandContext): Promise<ExitCode> {
  if (wait === null) {
    context.terminal.print(context.globals.output === "json" ? output.jsonText(output.jobJson(job)) : output.jobStartedText(job));
    return ExitCode.ok;
  }
  const final = await waitForJob(job, wait, context);
  return jobOutcome(final);
}

/** The exit code of a finished job; anything but success is thrown with its one line. */
export function jobOutcome(job: Job): ExitCode {
  const detail = job.error === "" ? "" : `: ${job.error}`;
  switch (job.state) {
    case "succeeded":
      return ExitCode.ok;
    case "rolled-back":
      throw new OperationFailed(`job ${job.id} rolled back${detail}`, ExitCode.rolledBack);
    case "canceled":
      throw new OperationFailed(`job ${job.id} was canceled${detail}`, ExitCode.failed);
    default:
      throw new OperationFailed(`job ${job.id} ${job.state}${detail}`, ExitCode.failed);
  }
}

/** Polls JobService.Get until the job is final or the wait times out, showing progress. */
async function waitForJob(started: Job, wait: WaitOptions, context: CommandContext): Promise<Job> {
  const progress = progressPrinter(context);
  const giveUpAtMs = context.nowMs() + wait.timeoutMs;
  let job = started;
  let outageSinceMs: number | null = null;
  progress.show(job);
  while (!finalJobStates.includes(job.state)) {
    if (context.nowMs() >= giveUpAtMs) {
      progress.end();
      throw new OperationFailed(`gave up waiting after ${output.formatDuration(wait.timeoutMs)}: job ${job.id} is still ${job.state} (vigilctl job show ${job.id})`, ExitCode.failed);
    }
    try {
      await context.sleep(jobPollIntervalMs, context.signal);
      job = decodeJob(await context.rpc.unary("JobService", "Get", { id: job.id } satisfies JobRequest, { timeoutMs: context.globals.timeoutMs, signal: context.signal }));
      outageSinceMs = null;
    } catch (error) {
      if (context.signal.aborted) {
        progress.end();
        throw new OperationFailed(`stopped waiting; job ${job.id} keeps running (vigilctl job show ${job.id})`, ExitCode.interrupted);
      }
      outageSinceMs ??= context.nowMs();
      if (!isTransient(error) || context.nowMs() - outageSinceMs > pollOutageMaxMs) {
        progress.end();
        throw error;
      }
    }
    progress.show(job);
  }
  progress.end();
  if (context.globals.output === "json") context.terminal.print(output.jsonText(output.jobJson(job)));
  return job;
}

/**
 * A failover or a replica restart: worth another poll or reconnect (both only read). A replica
 * that shuts down cancels its open calls, so CANCELLED counts here; vigilctl's own
 * cancellation on Ctrl-C is caught before this is asked.
 */
function isTransient(error: unknown): boolean {
  if (error instanceof NoEndpointReachable) return true;
  if (!(error instanceof CallFailed)) return false;
  return error.code === grpcCancelled || error.code === grpcUnavailable || error.code === grpcDeadlineExceeded;
}

const grpcCancelled = 1;
const grpcDeadlineExceeded = 4;
const grpcUnavailable = 14;

interface ProgressPrinter {
  show(job: Job): void;
  end(): void;
}

/**
 * `--wait` progress. On a terminal with table output: the job's lines (one per VM step of a
 * flush) redrawn in place, the countdown included. Otherwise plain lines, one per change of
 * the job or of one step (a poll that changes only the clock prints nothing): on stdout, or
 * on stderr with `-o json`, whose stdout carries only the final job.
 */
function progressPrinter(context: CommandContext): ProgressPrinter {
  const redrawing = context.terminal.isTty && context.globals.output !== "json";
  const printLine = (line: string) => (context.globals.output === "json" ? context.terminal.note(line) : context.terminal.print(line));
  const printed = new Map<string, string>();
  let drawn = "";
  return {
    show(job) {
      const entries = output.jobProgressEntries(job, context.nowMs());
      if (redrawing) {
        const lines = entries.map((entry) => entry.line);
        const block = lines.join("\n");
        if (block === drawn) return;
        drawn = block;
        context.terminal.redraw(lines);
        return;
      }
      for (const entry of entries) {
        if (printed.get(entry.id) === entry.changeKey) continue;
        printed.set(entry.id, entry.changeKey);
        printLine(entry.line);
      }
    },
    end() {
      if (drawn !== "") context.terminal.print("");
      drawn = "";
    },
  };
}

type EventsCommand = Extract<CliCommand, { kind: "events" }>;

function eventsRequest(command: EventsCommand, sinceMs: number, limit: number): ListEventsRequest {
  return { follow: command.follow, host: command.host, vm: command.vm, sinceMs, limit } satisfies ListEventsRequest;
}

async function listEvents(command: EventsCommand, context: CommandContext): Promise<ExitCode> {
  const request = eventsRequest(command, resolveSinceMs(command.since, context.nowMs()), command.limit);
  const stream = context.rpc.stream("ClusterService", "ListEvents", request, { timeoutMs: context.globals.timeoutMs, signal: context.signal });
  const events = [];
  for await (const message of stream) events.push(decodeClusterEvent(message));
  if (context.signal.aborted) return ExitCode.interrupted;
  if (context.globals.output === "json") context.terminal.print(output.jsonText(events.map(output.eventJson)));
  else context.terminal.print(output.eventsText(events));
  return ExitCode.ok;
}

/**
 * Prints events as they come until interrupted (exit 0). When the stream drops, reconnects
 * (any endpoint) from the last event's time and skips the events already printed, so a
 * failover neither loses nor repeats lines.
 */
async function followEvents(command: EventsCommand, context: CommandContext): Promise<ExitCode> {
  let sinceMs = resolveSinceMs(command.since, context.nowMs());
  let limit = command.limit;
  let lastIndex = -1;
  let outageSinceMs: number | null = null;
  for (;;) {
    try {
      const request = eventsRequest(command, sinceMs, limit);
      for await (const message of context.rpc.stream("ClusterService", "ListEvents", request, { timeoutMs: null, signal: context.signal })) {
        const event = decodeClusterEvent(message);
        if (event.index <= lastIndex) continue;
        lastIndex = event.index;
        sinceMs = event.atMs;
        outageSinceMs = null;
        const json = output.eventJson(event);
        context.terminal.print(context.globals.output === "json" ? output.jsonLine(json) : output.eventLine(event));
      }
    } catch (error) {
      if (context.signal.aborted) return ExitCode.ok;
      if (!isTransient(error)) throw error;
    }
    if (context.signal.aborted) return ExitCode.ok;
    // The backlog limit applied to the first connection only.
    limit = 0;
    outageSinceMs ??= context.nowMs();
    if (context.nowMs() - outageSinceMs > followOutageMaxMs) {
      throw new OperationFailed(`event stream lost; no endpoint served it for ${output.formatDuration(followOutageMaxMs)}`, ExitCode.failed);
    }
    try {
      await context.sleep(followReconnectDelayMs, context.signal);
    } catch {
      return ExitCode.ok;
    }
  }
}
