// Calls to vigild with endpoint rotation and deadlines.
//
// Rules, in order:
// 1. Endpoints are tried in the order given. The one that last answered is tried first next
//    time, so a `--wait` poll keeps talking to the same replica.
// 2. Each endpoint first gets `connectTimeoutMs` to reach READY. One that cannot connect is
//    skipped at once (a refused connection fails fast; a black hole costs at most that long),
//    and its channel is dropped so that the next call dials it afresh.
// 3. A call whose status is UNAVAILABLE (a replica without a leader, one shutting down) moves
//    on to the next endpoint; gRPC defines UNAVAILABLE as safe to retry.
// 4. Any other non-OK status is the answer: it is raised as CallFailed with the server's message.
// 5. When every endpoint failed, a server's own UNAVAILABLE message (which may name the leader)
//    is shown as is; if no server answered at all, NoEndpointReachable lists what each said.
// 6. One deadline covers a whole call including its rotation.
import * as grpc from "@grpc/grpc-js";
import { clientMessageLimits } from "../../common/grpc-server.js";
import { serviceDefinition } from "../../common/proto.js";
import { CallFailed, ExitCode, NoEndpointReachable, OperationFailed, oneLine } from "./errors.js";
import { formatDuration } from "./output.js";

export type ApiService = "ClusterService" | "HostService" | "VmService" | "JobService";

/** How long one endpoint may take to connect before the next is tried. */
export const connectTimeoutMs = 5_000;

export interface CallOptions {
  timeoutMs: number;
  signal: AbortSignal;
}

export interface StreamOptions {
  /** null: no deadline (a followed stream runs until interrupted). */
  timeoutMs: number | null;
  signal: AbortSignal;
}

/** The calls commands make; implemented over gRPC by Endpoints. */
export interface Rpc {
  unary(service: ApiService, method: string, request: object, options: CallOptions): Promise<unknown>;
  stream(service: ApiService, method: string, request: object, options: StreamOptions): AsyncGenerator<unknown, void, void>;
}

/** Why one endpoint did not serve a call. */
interface Miss {
  endpoint: string;
  /** True when a server answered (status UNAVAILABLE); false when there was no connection. */
  answered: boolean;
  message: string;
}

export class Endpoints implements Rpc {
  private readonly order: string[];
  private readonly clients = new Map<string, grpc.Client>();

  constructor(
    endpoints: readonly string[],
    private readonly credentials: grpc.ChannelCredentials = grpc.credentials.createInsecure(),
  ) {
    if (endpoints.length === 0) throw new Error("Endpoints needs at least one endpoint");
    this.order = [...endpoints];
  }

  async unary(service: ApiService, method: string, request: object, options: CallOptions): Promise<unknown> {
    const definition = methodDefinition(service, method);
    const deadlineMs = Date.now() + options.timeoutMs;
    const misses: Miss[] = [];
    for (const endpoint of [...this.order]) {
      const client = await this.connected(endpoint, deadlineMs, options.signal, misses);
      if (client === null) continue;
      const outcome = await unaryOnce(client, definition, request, deadlineMs, options.signal);
      if (outcome.kind === "ok") {
        this.prefer(endpoint);
        return outcome.response;
      }
      const error = callError(outcome.error, endpoint, `${service}.${method}`, options);
      if (outcome.error.code !== grpc.status.UNAVAILABLE) throw error;
      misses.push({ endpoint, answered: true, message: error.message });
    }
    throw exhausted(misses, deadlineMs);
  }

  async *stream(service: ApiService, method: string, request: object, options: StreamOptions): AsyncGenerator<unknown, void, void> {
    const definition = methodDefinition(service, method);
    const deadlineMs = options.timeoutMs === null ? Infinity : Date.now() + options.timeoutMs;
    const misses: Miss[] = [];
    for (const endpoint of [...this.order]) {
      const client = await this.connected(endpoint, deadlineMs, options.signal, misses);
      if (client === null) continue;
      const callOptions: grpc.CallOptions = Number.isFinite(deadlineMs) ? { deadline: deadlineMs } : {};
      const call = client.makeServerStreamRequest(
        definition.path,
        definition.requestSerialize,
        definition.responseDeserialize,
        request,
        callOptions,
      );
      const cancel = () => call.cancel();
      options.signal.addEventListener("abort", cancel, { once: true });
      let received = 0;
      try {
        for await (const message of call as AsyncIterable<unknown>) {
          received += 1;
          if (received === 1) this.prefer(endpoint);
          yield message;
        }
        return;
      } catch (error) {
        if (options.signal.aborted) return;
        if (!isServiceError(error)) throw error;
        const failure = callError(error, endpoint, `${service}.${method}`, { timeoutMs: options.timeoutMs ?? 0, signal: options.signal });
        // Once messages have been printed, rotating would repeat them; the caller decides.
        if (error.code !== grpc.status.UNAVAILABLE || received > 0) throw failure;
        misses.push({ endpoint, answered: true, message: failure.message });
      } finally {
        options.signal.removeEventListener("abort", cancel);
        call.cancel();
      }
    }
    throw exhausted(misses, deadlineMs);
  }

  close(): void {
    for (const client of this.clients.values()) client.close();
    this.clients.clear();
  }

  private prefer(endpoint: string): void {
    const index = this.order.indexOf(endpoint);
    if (index <= 0) return;
    this.order.splice(index, 1);
    this.order.unshift(endpoint);
  }

  private client(endpoint: string): grpc.Client {
    let client = this.clients.get(endpoint);
    if (client === undefined) {
      // A private subchannel pool: closing this client really drops its connection attempts,
      // so a replica that comes back is dialed at once instead of after grpc-js's backoff.
      client = new grpc.Client(endpoint, this.credentials, { "grpc.use_local_subchannel_pool": 1, ...clientMessageLimits });
      this.clients.set(endpoint, client);
    }
    return client;
  }

  /** The endpoint's client once READY, or null after recording why not. */
  private async connected(endpoint: string, deadlineMs: number, signal: AbortSignal, misses: Miss[]): Promise<grpc.Client | null> {
    if (signal.aborted) throw interrupted();
    const remainingMs = deadlineMs - Date.now();
    if (remainingMs <= 0) {
      misses.push({ endpoint, answered: false, message: "not tried before the deadline" });
      return null;
    }
    const client = this.client(endpoint);
    const readiness = await awaitReady(client.getChannel(), Math.min(remainingMs, connectTimeoutMs), signal);
    if (readiness === "ready") return client;
    if (readiness === "aborted") throw interrupted();
    // With mTLS a refused handshake (unknown CA, expired certificate) looks the same as a refused connection.
    const failed = this.credentials._isSecure() ? "connection or TLS handshake failed; check --tls-ca/--tls-cert/--tls-key" : "connection failed";
    const message = readiness === "failed" ? failed : `no connection within ${formatDuration(Math.min(remainingMs, connectTimeoutMs))}`;
    misses.push({ endpoint, answered: false, message });
    // Start afresh next time (a `--wait` poll, a followed stream reconnecting).
    client.close();
    this.clients.delete(endpoint);
    return null;
  }
}

type Readiness = "ready" | "failed" | "timeout" | "aborted";

/** Drives the channel to READY, stopping at TRANSIENT_FAILURE, the timeout, or an abort. */
function awaitReady(channel: ReturnType<grpc.Client["getChannel"]>, timeoutMs: number, signal: AbortSignal): Promise<Readiness> {
  const deadlineMs = Date.now() + timeoutMs;
  return new Promise((resolve) => {
    let settled = false;
    const settle = (readiness: Readiness) => {
      if (settled) return;
      settled = true;
      signal.removeEventListener("abort", onAbort);
      resolve(readiness);
    };
    const onAbort = () => settle("aborted");
    signal.addEventListener("abort", onAbort, { once: true });
    const check = () => {
      if (settled) return;
      const state = channel.getConnectivityState(true);
      if (state === grpc.connectivityState.READY) return settle("ready");
      if (state === grpc.connectivityState.TRANSIENT_FAILURE || state === grpc.connectivityState.SHUTDOWN) return settle("failed");
      channel.watchConnectivityState(state, deadlineMs, (error) => (error === undefined ? check() : settle("timeout")));
    };
    check();
  });
}

type UnaryOutcome = { kind: "ok"; response: unknown } | { kind: "error"; error: grpc.ServiceError };

function unaryOnce(
  client: grpc.Client,
  definition: grpc.MethodDefinition<object, unknown>,
  request: object,
  deadlineMs: number,
  signal: AbortSignal,
): Promise<UnaryOutcome> {
  return new Promise((resolve) => {
    const call = client.makeUnaryRequest(
      definition.path,
      definition.requestSerialize,
      definition.responseDeserialize,
      request,
      { deadline: deadlineMs },
      (error: grpc.ServiceError | null, response?: unknown) => {
        signal.removeEventListener("abort", cancel);
        resolve(error === null ? { kind: "ok", response } : { kind: "error", error });
      },
    );
    const cancel = () => call.cancel();
    signal.addEventListener("abort", cancel, { once: true });
  });
}

function methodDefinition(service: ApiService, method: string): grpc.MethodDefinition<object, unknown> {
  const definition = serviceDefinition(service)[method];
  if (definition === undefined) throw new Error(`vigil.v1.${service} has no method ${method}`);
  return definition;
}

function isServiceError(error: unknown): error is grpc.ServiceError {
  return error instanceof Error && typeof (error as Partial<grpc.ServiceError>).code === "number";
}

function interrupted(): OperationFailed {
  return new OperationFailed("interrupted", ExitCode.interrupted);
}

/** The error for a non-OK status: the server's own message, or a clear one for local statuses. */
function callError(error: grpc.ServiceError, endpoint: string, call: string, options: { timeoutMs: number | null; signal: AbortSignal }): Error {
  if (options.signal.aborted) return interrupted();
  if (error.code === grpc.status.DEADLINE_EXCEEDED) {
    const after = options.timeoutMs === null ? "" : ` after ${formatDuration(options.timeoutMs)}`;
    return new CallFailed(`${call} on ${endpoint}: no answer${after} (deadline exceeded; see --timeout-ms)`, error.code, endpoint);
  }
  const details = oneLine(error.details ?? "");
  const message = details === "unknown error" ? `${call} on ${endpoint} failed: ${grpc.status[error.code] ?? error.code}` : details;
  return new CallFailed(message, error.code, endpoint);
}

function exhausted(misses: readonly Miss[], deadlineMs: number): Error {
  const answered = misses.filter((miss) => miss.answered);
  const last = answered[answered.length - 1];
  if (last !== undefined) return new CallFailed(last.message, grpc.status.UNAVAILABLE, last.endpoint);
  const list = misses.map((miss) => `${miss.endpoint}: ${miss.message}`).join("; ");
  const late = Date.now() >= deadlineMs ? " before the deadline" : "";
  return new NoEndpointReachable(`no endpoint reachable${late} (${list})`);
}
