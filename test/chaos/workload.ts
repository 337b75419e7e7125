// The operators of a chaos run: concurrent clients that call random replicas through the gRPC API
// and through vigilctl, recording every call in the History. Their pacing (think time between
// calls) is the workload, not synchronisation.
import { spawn } from "node:child_process";
import * as grpc from "@grpc/grpc-js";
import { within } from "../../agent/disk-sync.js";
import { systemTimers, type Rng } from "../../common/env.js";
import type { ClusterServiceClient } from "../../common/generated/vigil/v1/ClusterService.js";
import type { VmServiceClient } from "../../common/generated/vigil/v1/VmService.js";
import { clientConstructor } from "../../common/proto.js";
import { vigilctlPath } from "../support/processes.js";
import type { CallRecord, History } from "./history.js";

/** The config keys the clients use as registers; their values are unique per write (see nextValue). */
export const registerKeys = ["migration.recheckTimeout", "vm.orphanedSkipTimeout"] as const;
/** gRPC deadline of a config call, and of a VM start/stop call (above the run's command.timeout). */
export const configDeadlineMs = 5_000;
export const vmCallDeadlineMs = 10_000;
export const statusDeadlineMs = 2_000;
/** How late beyond its own deadline a call may end (a loaded 2-core machine, event-loop delays). */
export const callSlackMs = 5_000;
/** vigilctl's own --timeout-ms; its VM calls wait for vigild's answer, bounded by command.timeout. */
const vigilctlTimeoutMs = 8_000;
/** Bound on the calls in flight when the clients stop: above the longest call's own (a vigilctl VM call is killed after 65 s). */
const stopBoundMs = 90_000;

export interface ReplicaEndpoint {
  id: string;
  address: string;
}

export interface WorkloadOptions {
  rng: Rng;
  history: History;
  replicas: readonly ReplicaEndpoint[];
  vms: readonly string[];
  /** vigild's command.timeout for this run: bounds vigilctl's VM calls (the server answers by then). */
  commandTimeoutMs: number;
  registerClients: number;
  vmClients: number;
}

/** What a Status call said: the checker wants one leader per term across all observations. */
export interface LeaderObservation {
  replica: string;
  term: number;
  leader: string;
  atMs: number;
}

interface Clients {
  cluster: ClusterServiceClient;
  vm: VmServiceClient;
}

function grpcCode(error: unknown): number | null {
  return typeof error === "object" && error !== null && "code" in error && typeof error.code === "number" ? error.code : null;
}

function definiteFailure(error: unknown): boolean {
  const code = grpcCode(error);
  return code === grpc.status.INVALID_ARGUMENT || code === grpc.status.NOT_FOUND || code === grpc.status.FAILED_PRECONDITION || code === grpc.status.PERMISSION_DENIED;
}

function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

export class Workload {
  private running = false;
  private readonly loops: Promise<void>[] = [];
  /** The clients in a call right now, to name them if stopping overruns its bound. */
  private readonly calling = new Set<string>();
  private readonly clients = new Map<string, Clients>();
  private readonly writeCounters = new Map<string, number>();
  readonly leaders: LeaderObservation[] = [];

  constructor(private readonly options: WorkloadOptions) {
    for (const replica of options.replicas) {
      this.clients.set(replica.id, {
        cluster: new (clientConstructor("ClusterService"))(replica.address, grpc.credentials.createInsecure()) as unknown as ClusterServiceClient,
        vm: new (clientConstructor("VmService"))(replica.address, grpc.credentials.createInsecure()) as unknown as VmServiceClient,
      });
    }
  }

  start(): void {
    this.running = true;
    for (let index = 0; index < this.options.registerClients; index++) this.loops.push(this.loop(`reg${index + 1}`, 10, 80, (client) => this.registerCall(client)));
    for (let index = 0; index < this.options.vmClients; index++) this.loops.push(this.loop(`vm${index + 1}`, 50, 300, (client) => this.vmCall(client)));
    this.loops.push(this.loop("status", 200, 500, (client) => this.statusCall(client)));
    this.loops.push(this.loop("ctl", 100, 600, (client) => this.vigilctlCall(client)));
  }

  /**
   * Stops issuing calls and waits for those in flight (each bounded by its deadline, all by
   * stopBoundMs); rejects naming the clients still in a call. The gRPC clients close either way.
   */
  async stop(): Promise<void> {
    this.running = false;
    try {
      await within(Promise.all(this.loops), stopBoundMs, systemTimers, "the clients' calls in flight").catch((error: Error) => {
        throw new Error(`${error.message} (still calling: ${[...this.calling].join(", ")})`);
      });
    } finally {
      for (const clients of this.clients.values()) {
        clients.cluster.close();
        clients.vm.close();
      }
    }
  }

  private async loop(client: string, thinkMinMs: number, thinkMaxMs: number, call: (client: string) => Promise<void>): Promise<void> {
    while (this.running) {
      this.calling.add(client);
      await call(client);
      this.calling.delete(client);
      const thinkMs = thinkMinMs + this.options.rng.next() * (thinkMaxMs - thinkMinMs);
      await new Promise((resolve) => setTimeout(resolve, thinkMs));
    }
  }

  private pick<T>(items: readonly T[]): T {
    return items[Math.floor(this.options.rng.next() * items.length)]!;
  }

  /** A value never written before to `key` (the checker needs unique writes). */
  private nextValue(key: string): string {
    const count = (this.writeCounters.get(key) ?? 0) + 1;
    this.writeCounters.set(key, count);
    return String(1_000 + count);
  }

  private unary<Response>(invoke: (deadline: Date, callback: (error: grpc.ServiceError | null, response?: Response) => void) => void, deadlineMs: number): Promise<Response> {
    return new Promise((resolve, reject) =>
      invoke(new Date(Date.now() + deadlineMs), (error, response) => (error !== null || response === undefined ? reject(error ?? new Error("empty response")) : resolve(response))),
    );
  }

  private async registerCall(client: string): Promise<void> {
    const replica = this.pick(this.options.replicas);
    const { cluster } = this.clients.get(replica.id)!;
    const key = this.pick(registerKeys);
    const { history } = this.options;
    if (this.options.rng.next() < 0.5) {
      const value = this.nextValue(key);
      const record = history.invoke({ client, kind: "config-set", via: "grpc", replica: replica.id, key, value, boundMs: configDeadlineMs + callSlackMs });
      await this.unary((deadline, callback) => cluster.SetConfig({ key, value }, { deadline }, callback), configDeadlineMs).then(
        () => history.complete(record, "ok"),
        (error: unknown) => history.complete(record, definiteFailure(error) ? "failed" : "indeterminate", { detail: errorText(error) }),
      );
      return;
    }
    const record = history.invoke({ client, kind: "config-get", via: "grpc", replica: replica.id, key, boundMs: configDeadlineMs + callSlackMs });
    await this.unary<{ entries: { key: string; value: string }[] }>((deadline, callback) => cluster.GetConfig({ key }, { deadline }, callback), configDeadlineMs).then(
      (reply) => {
        const entry = reply.entries.find((candidate) => candidate.key === key);
        if (entry === undefined) history.complete(record, "failed", { detail: `no entry for ${key} in the reply` });
        else history.complete(record, "ok", { value: entry.value });
      },
      (error: unknown) => history.complete(record, definiteFailure(error) ? "failed" : "indeterminate", { detail: errorText(error) }),
    );
  }

  private async vmCall(client: string): Promise<void> {
    const replica = this.pick(this.options.replicas);
    const { vm: service } = this.clients.get(replica.id)!;
    const vm = this.pick(this.options.vms);
    const start = this.options.rng.next() < 0.5;
    const record = this.options.history.invoke({ client, kind: start ? "vm-start" : "vm-stop", via: "grpc", replica: replica.id, vm, boundMs: vmCallDeadlineMs + callSlackMs });
    await this.unary<{ outcome: string; error: string }>(
      (deadline, callback) => (start ? service.Start({ vm, on: "" }, { deadline }, callback) : service.Stop({ vm }, { deadline }, callback)),
      vmCallDeadlineMs,
    ).then(
      (reply) => this.options.history.complete(record, "ok", { detail: reply.outcome === "failed" ? `operation failed: ${reply.error}` : reply.outcome }),
      (error: unknown) => this.options.history.complete(record, definiteFailure(error) ? "failed" : "indeterminate", { detail: errorText(error) }),
    );
  }

  private async statusCall(client: string): Promise<void> {
    const replica = this.pick(this.options.replicas);
    const { cluster } = this.clients.get(replica.id)!;
    const record = this.options.history.invoke({ client, kind: "status", via: "grpc", replica: replica.id, boundMs: statusDeadlineMs + callSlackMs });
    await this.unary<{ term: number; leader: string }>((deadline, callback) => cluster.Status({}, { deadline }, callback), statusDeadlineMs).then(
      (status) => {
        this.options.history.complete(record, "ok", { detail: `term ${status.term} leader ${status.leader || "-"}` });
        if (status.leader !== "") this.leaders.push({ replica: replica.id, term: status.term, leader: status.leader, atMs: record.endMs! });
      },
      (error: unknown) => this.options.history.complete(record, "indeterminate", { detail: errorText(error) }),
    );
  }

  /** One random operator command through the real vigilctl binary. */
  private async vigilctlCall(client: string): Promise<void> {
    const replica = this.pick(this.options.replicas);
    const roll = this.options.rng.next();
    const { history } = this.options;
    let record: CallRecord;
    let args: string[];
    if (roll < 0.35) {
      const key = this.pick(registerKeys);
      const value = this.nextValue(key);
      record = history.invoke({ client, kind: "config-set", via: "vigilctl", replica: replica.id, key, value, boundMs: vigilctlTimeoutMs + callSlackMs * 2 });
      args = ["config", "set", key, value];
    } else if (roll < 0.7) {
      const key = this.pick(registerKeys);
      record = history.invoke({ client, kind: "config-get", via: "vigilctl", replica: replica.id, key, boundMs: vigilctlTimeoutMs + callSlackMs * 2 });
      args = ["config", "get", key];
    } else if (roll < 0.9) {
      const vm = this.pick(this.options.vms);
      const start = this.options.rng.next() < 0.5;
      // vigild answers a VM call within command.timeout; a paused replica may add its pause.
      record = history.invoke({ client, kind: start ? "vm-start" : "vm-stop", via: "vigilctl", replica: replica.id, vm, boundMs: this.options.commandTimeoutMs + callSlackMs * 4 });
      args = ["vm", start ? "start" : "stop", vm];
    } else {
      record = history.invoke({ client, kind: "status", via: "vigilctl", replica: replica.id, boundMs: vigilctlTimeoutMs + callSlackMs * 2 });
      args = ["cluster", "status"];
    }
    // All replicas, the chosen one first: vigilctl rotates to the next on UNAVAILABLE, as operators use it.
    const endpoints = [replica, ...this.options.replicas.filter((other) => other.id !== replica.id)].map((endpoint) => endpoint.address);
    const result = await runVigilctl(endpoints.join(","), args, record.boundMs + 30_000);
    if (result.code === 0 && record.kind === "config-get") {
      const value = readConfigValue(result.stdout, record.key);
      if (value === undefined) history.complete(record, "failed", { detail: `no value for ${record.key} in ${result.stdout.slice(0, 200)}` });
      else history.complete(record, "ok", { value });
    } else if (result.code === 0) {
      history.complete(record, "ok");
    } else {
      // Exit 1 is a failed operation, but for a write it may still have committed: indeterminate.
      history.complete(record, result.code === 2 ? "failed" : "indeterminate", { detail: `exit ${result.code}: ${result.stderr.trim().slice(0, 300)}` });
    }
  }
}

function readConfigValue(stdout: string, key: string): string | undefined {
  try {
    return (JSON.parse(stdout) as { key: string; value: string }[]).find((entry) => entry.key === key)?.value;
  } catch {
    return undefined;
  }
}

/** Runs vigilctl without blocking the event loop (the fault proxies live in this process). */
export function runVigilctl(endpoints: string, args: string[], killAfterMs: number, timeoutMs = vigilctlTimeoutMs): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [vigilctlPath, "--endpoints", endpoints, "--timeout-ms", String(timeoutMs), "-o", "json", ...args], { stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
    const killer = setTimeout(() => child.kill("SIGKILL"), killAfterMs);
    child.on("close", (code) => {
      clearTimeout(killer);
      resolve({ code, stdout, stderr });
    });
  });
}
