// A TCP fault proxy on loopback: it listens on its own port, forwards every connection to one
// target, and applies a fault per link (the source that opened the connection -> this target).
// Modes:
//  - pass: bytes flow as they arrive (with backpressure);
//  - drop-new: new connections from the source are reset at once; existing ones carry on;
//  - blackhole: connections are accepted but nothing is read from either end, so data waits in
//    the kernel as it would behind a partition with TCP retransmitting; on heal it flows again,
//    unless an end gave up meanwhile (gRPC keepalive does);
//  - blackhole-return: only the target's replies are held; the source's requests still arrive
//    (one-way loss: a request is served but its answer never comes back);
//  - latency: every chunk is delivered `delayMs` late, in order.
// `reset(source)` is an action, not a mode: it resets the link's existing connections (RST).
import { createServer, connect, type Server, type Socket } from "node:net";
import { within } from "../../agent/disk-sync.js";
import { systemTimers } from "../../common/env.js";

export type LinkMode = { kind: "pass" } | { kind: "drop-new" } | { kind: "blackhole" } | { kind: "blackhole-return" } | { kind: "latency"; delayMs: number };

const passMode: LinkMode = { kind: "pass" };

export function describeMode(mode: LinkMode): string {
  return mode.kind === "latency" ? `latency ${mode.delayMs} ms` : mode.kind;
}

/** One direction of a proxied connection: reads `from`, writes `to`, holds or delays on request. */
class Pipe {
  private readonly queue: { dueMs: number; chunk: Buffer }[] = [];
  private timer: NodeJS.Timeout | null = null;
  private held = false;
  private blocked = false;
  private delayMs = 0;
  private sourceEnded = false;

  constructor(
    private readonly from: Socket,
    private readonly to: Socket,
    /** Whether this pipe carries the target's replies back to the source. */
    private readonly returning: boolean,
  ) {
    from.on("data", (chunk: Buffer) => this.receive(chunk));
    from.on("end", () => {
      this.sourceEnded = true;
      this.flush();
    });
    to.on("drain", () => {
      this.blocked = false;
      this.updateFlow();
    });
  }

  apply(mode: LinkMode): void {
    this.held = mode.kind === "blackhole" || (mode.kind === "blackhole-return" && this.returning);
    this.delayMs = mode.kind === "latency" ? mode.delayMs : 0;
    this.updateFlow();
    this.flush();
  }

  stop(): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    this.queue.length = 0;
  }

  private receive(chunk: Buffer): void {
    if (this.delayMs === 0 && this.queue.length === 0) return this.write(chunk);
    this.queue.push({ dueMs: performance.now() + this.delayMs, chunk });
    this.schedule();
  }

  private write(chunk: Buffer): void {
    if (this.to.destroyed) return;
    if (!this.to.write(chunk)) {
      this.blocked = true;
      this.updateFlow();
    }
  }

  private flush(): void {
    const nowMs = performance.now();
    while (this.queue.length > 0 && (this.queue[0]!.dueMs <= nowMs || this.delayMs === 0)) this.write(this.queue.shift()!.chunk);
    if (this.queue.length > 0) return this.schedule();
    if (this.sourceEnded && !this.to.destroyed) this.to.end();
  }

  private schedule(): void {
    if (this.timer !== null) return;
    this.timer = setTimeout(() => {
      this.timer = null;
      this.flush();
    }, Math.max(0, this.queue[0]!.dueMs - performance.now()));
  }

  private updateFlow(): void {
    if (this.from.destroyed) return;
    if (this.held || this.blocked) this.from.pause();
    else this.from.resume();
  }
}

class ProxiedConnection {
  private readonly pipes: Pipe[];

  constructor(
    readonly source: string,
    private readonly downstream: Socket,
    private readonly upstream: Socket,
    mode: LinkMode,
  ) {
    this.pipes = [new Pipe(downstream, upstream, false), new Pipe(upstream, downstream, true)];
    this.apply(mode);
  }

  apply(mode: LinkMode): void {
    for (const pipe of this.pipes) pipe.apply(mode);
  }

  reset(): void {
    for (const pipe of this.pipes) pipe.stop();
    if (!this.downstream.destroyed) this.downstream.resetAndDestroy();
    if (!this.upstream.destroyed) this.upstream.resetAndDestroy();
  }
}

export interface FaultProxyOptions {
  /** For logs and reports, e.g. "cp2". */
  name: string;
  /** Names the source of an accepted connection (the link is source -> this proxy's target). */
  identify(socket: Socket): string;
}

export interface ProxyCounts {
  accepted: number;
  dropped: number;
  reset: number;
}

export class FaultProxy {
  private readonly server: Server;
  private readonly modes = new Map<string, LinkMode>();
  private readonly connections = new Set<ProxiedConnection>();
  /**
   * Every socket this proxy holds open, on both sides. A connection leaves `connections` when one
   * end closes cleanly, while the other end may stay half-open; server.close() waits for it.
   */
  private readonly sockets = new Set<Socket>();
  private target: { host: string; port: number } | null = null;
  private listenPort = 0;
  readonly counts: ProxyCounts = { accepted: 0, dropped: 0, reset: 0 };
  /** Connections accepted per source, to show that links were told apart. */
  readonly acceptedBySource = new Map<string, number>();

  constructor(private readonly options: FaultProxyOptions) {
    this.server = createServer({ pauseOnConnect: true }, (socket) => this.accept(socket));
  }

  get name(): string {
    return this.options.name;
  }

  get address(): string {
    return `127.0.0.1:${this.listenPort}`;
  }

  /** Listens on an OS-chosen loopback port; resolves with it. */
  listen(): Promise<number> {
    return new Promise((resolve, reject) => {
      this.server.once("error", reject);
      this.server.listen(0, "127.0.0.1", () => {
        this.listenPort = (this.server.address() as { port: number }).port;
        resolve(this.listenPort);
      });
    });
  }

  setTarget(address: string): void {
    const [host, port] = address.split(":");
    this.target = { host: host!, port: Number(port) };
  }

  mode(source: string): LinkMode {
    return this.modes.get(source) ?? passMode;
  }

  setMode(source: string, mode: LinkMode): void {
    if (mode.kind === "pass") this.modes.delete(source);
    else this.modes.set(source, mode);
    for (const connection of this.connections) if (connection.source === source) connection.apply(mode);
  }

  /** Resets every existing connection of the link; returns how many. */
  reset(source: string): number {
    let count = 0;
    for (const connection of [...this.connections]) {
      if (connection.source !== source) continue;
      connection.reset();
      this.connections.delete(connection);
      count += 1;
    }
    this.counts.reset += count;
    return count;
  }

  /** Every link back to pass. */
  heal(): void {
    for (const source of [...this.modes.keys()]) this.setMode(source, passMode);
  }

  faultyLinks(): string[] {
    return [...this.modes.entries()].map(([source, mode]) => `${source}->${this.name} ${describeMode(mode)}`);
  }

  /**
   * Stops listening and resets every socket it holds. Resolves once the server has closed; rejects
   * after `boundMs` saying how many connections still hold it (a teardown must end regardless).
   */
  async close(boundMs = 5_000): Promise<void> {
    for (const connection of this.connections) connection.reset();
    this.connections.clear();
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    for (const socket of this.sockets) if (!socket.destroyed) socket.resetAndDestroy();
    this.sockets.clear();
    await within(closed, boundMs, systemTimers, `fault proxy ${this.name}'s close`).catch(async (error: Error) => {
      const open = await new Promise<number>((resolve) => this.server.getConnections((_, count) => resolve(count)));
      throw new Error(`${error.message} (${open} accepted connections still open)`);
    });
  }

  private hold(socket: Socket): void {
    this.sockets.add(socket);
    socket.once("close", () => this.sockets.delete(socket));
  }

  private accept(downstream: Socket): void {
    downstream.on("error", () => undefined);
    this.hold(downstream);
    const source = this.options.identify(downstream);
    const mode = this.mode(source);
    if (this.target === null || mode.kind === "drop-new") {
      this.counts.dropped += 1;
      downstream.resetAndDestroy();
      return;
    }
    this.counts.accepted += 1;
    this.acceptedBySource.set(source, (this.acceptedBySource.get(source) ?? 0) + 1);
    const upstream = connect({ host: this.target.host, port: this.target.port });
    upstream.on("error", () => undefined);
    this.hold(upstream);
    const connection = new ProxiedConnection(source, downstream, upstream, mode);
    this.connections.add(connection);
    // An end that closed cleanly has already passed its FIN on (Pipe); one that broke breaks the other.
    const close = (hadError: boolean) => {
      if (!this.connections.delete(connection)) return;
      if (hadError) connection.reset();
    };
    downstream.on("close", close);
    upstream.on("close", close);
  }
}
