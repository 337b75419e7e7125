// One simulated TCP connection under gRPC, between a client process and a server process.
// 1. Data in each direction arrives in order, exactly once, while the link is up; data sent while
//    the link is down waits and flows when it heals (TCP retransmits).
// 2. A connection breaks, losing whatever is still queued, when gRPC keepalive gives up on a silent
//    peer (link down, peer paused or dead for `keepaliveMs`), or when a peer's process dies and
//    its host answers with a reset (after the data it sent before dying).
// 3. Each side hears of a break through its own handler, run as its own process's event: a dead
//    side hears nothing, a paused side hears it when it resumes.
import { assert } from "../../common/assert.js";
import { connectTimeoutMs, type Network } from "./network.js";
import type { ProcessSlot } from "./scheduler.js";

export type Side = "client" | "server";

export interface Endpoint {
  readonly node: string;
  readonly slot: ProcessSlot;
  readonly incarnation: number;
}

interface Direction {
  /** Items not yet delivered, oldest first; `scheduled` counts those with a delivery event. */
  queue: { label: string; deliver: () => void }[];
  scheduled: number;
  lastDueMs: number;
  /** Bumped when the link drops: delivery events of an older epoch are void. */
  epoch: number;
}

export class Connection {
  state: "connecting" | "open" | "closed" = "connecting";
  server: Endpoint | null = null;
  private readonly toServer: Direction = { queue: [], scheduled: 0, lastDueMs: 0, epoch: 0 };
  private readonly toClient: Direction = { queue: [], scheduled: 0, lastDueMs: 0, epoch: 0 };
  private downSinceMs: number | null = null;
  private readonly breakHandlers: { client: ((reason: string) => void) | null; server: ((reason: string) => void) | null } = { client: null, server: null };

  /**
   * Opens a connection from `client` to `serverNode`. `accept` runs at the server when the
   * connection arrives there (as the server's event); it is refused if no process listens.
   */
  constructor(
    private readonly network: Network,
    readonly client: Endpoint,
    readonly serverNode: string,
    readonly keepaliveMs: number,
    readonly label: string,
    accept: (connection: Connection) => void,
  ) {
    network.track(this);
    const serverSlot = network.slot(serverNode);
    if (serverSlot === undefined || !serverSlot.isAlive()) {
      this.refuse(serverSlot === undefined ? "unknown address" : "connection refused");
      return;
    }
    this.send("client", `${label} open`, () => {
      this.server = { node: serverNode, slot: serverSlot, incarnation: serverSlot.incarnation };
      this.state = "open";
      accept(this);
    });
    // A connection that cannot reach its server fails its attempt after the connect timeout.
    network.scheduler.after(connectTimeoutMs, null, `${label} connect timeout`, () => {
      if (this.state === "connecting") this.break("connect timeout", 0);
    });
  }

  onBreak(side: Side, handler: (reason: string) => void): void {
    this.breakHandlers[side] = handler;
  }

  private endpoint(side: Side): Endpoint | null {
    return side === "client" ? this.client : this.server;
  }

  private other(side: Side): Side {
    return side === "client" ? "server" : "client";
  }

  private direction(to: Side): Direction {
    return to === "server" ? this.toServer : this.toClient;
  }

  /** Sends from `from` to the other side, in order with everything else sent that way. */
  send(from: Side, label: string, deliver: () => void): void {
    if (this.state === "closed") return;
    const to = this.other(from);
    this.direction(to).queue.push({ label, deliver });
    this.pump(to);
  }

  private linkUp(): boolean {
    return this.network.reachable(this.client.node, this.serverNode);
  }

  /** Who receives data sent to `to`: that side's own incarnation, so a successor never gets it. */
  private receiver(to: Side): { slot: ProcessSlot; incarnation: number } {
    if (to === "client") return this.client;
    if (this.server !== null) return this.server;
    // Before accept, the open travels to whatever process listens at the server's node.
    const slot = this.network.slot(this.serverNode);
    assert(slot !== undefined, "a connection's server node is registered");
    return { slot, incarnation: slot.incarnation };
  }

  private pump(to: Side): void {
    if (this.state === "closed" || !this.linkUp()) return;
    const direction = this.direction(to);
    const scheduler = this.network.scheduler;
    const receiver = this.receiver(to);
    while (direction.scheduled < direction.queue.length) {
      const item = direction.queue[direction.scheduled]!;
      const dueMs = Math.max(scheduler.nowMs + this.network.latencyMs(), direction.lastDueMs);
      direction.lastDueMs = dueMs;
      direction.scheduled += 1;
      const epoch = direction.epoch;
      scheduler.at(dueMs, receiver.slot, item.label, () => this.deliverHead(to, epoch), receiver.incarnation);
    }
  }

  private deliverHead(to: Side, epoch: number): void {
    const direction = this.direction(to);
    if (this.state === "closed" || direction.epoch !== epoch) return;
    if (!this.linkUp()) {
      // The link dropped while this was in flight: hold everything, resend in order on heal.
      direction.epoch += 1;
      direction.scheduled = 0;
      direction.lastDueMs = 0;
      this.linkChanged();
      return;
    }
    const item = direction.queue.shift();
    if (item === undefined) return;
    direction.scheduled -= 1;
    item.deliver();
  }

  /** Reachability or a peer's liveness changed: resend held data, or start the keepalive clock. */
  linkChanged(): void {
    if (this.state === "closed") return;
    const silent = !this.linkUp() || !this.answers(this.client) || (this.server !== null && !this.answers(this.server));
    if (!silent) {
      this.downSinceMs = null;
      this.pump("server");
      this.pump("client");
      return;
    }
    if (this.downSinceMs !== null) return;
    const downSinceMs = this.network.scheduler.nowMs;
    this.downSinceMs = downSinceMs;
    this.network.scheduler.after(this.keepaliveMs, null, `${this.label} keepalive`, () => {
      if (this.downSinceMs === downSinceMs && this.state !== "closed") this.break("keepalive timeout: the peer stopped answering", 0);
    });
  }

  /** Whether `endpoint`'s process answers keepalive pings: alive, this incarnation, not paused. */
  private answers(endpoint: Endpoint): boolean {
    return endpoint.slot.state === "running" && endpoint.slot.incarnation === endpoint.incarnation;
  }

  /**
   * `node`'s process died. Its kernel closes the socket: the survivor hears of it after the data
   * the dead side had sent (now, or when the link heals), or by keepalive if that comes first. A
   * connection still being opened by the dead side is abandoned. A host without power sends
   * nothing at all: keepalive only.
   */
  processDied(node: string): void {
    if (this.state === "closed") return;
    const deadSide: Side = this.client.node === node ? "client" : "server";
    if (deadSide === "server" && this.state === "connecting") return this.refuse("connection refused");
    if (deadSide === "client" && this.state === "connecting") return this.close();
    if (!this.network.isPoweredOff(node)) {
      // Data to the dead side is lost; the reset follows whatever the dead side had sent.
      this.direction(deadSide).queue = [];
      this.direction(deadSide).scheduled = 0;
      this.closeFrom(deadSide, "connection reset by peer");
    }
    this.linkChanged();
  }

  /**
   * `from` closes its end (FIN, or the kernel's reset): the other side hears `reason` after all
   * that `from` sent, on this connection and as datagrams to the same peer.
   */
  closeFrom(from: Side, reason: string): void {
    if (this.state === "closed") return;
    const to = this.other(from);
    const direction = this.direction(to);
    const fromNode = from === "client" ? this.client.node : this.serverNode;
    const toNode = to === "client" ? this.client.node : this.serverNode;
    direction.lastDueMs = Math.max(direction.lastDueMs, this.network.lastDatagramDueMs(fromNode, toNode));
    direction.queue.push({ label: `${this.label} closed`, deliver: () => this.break(reason, 0) });
    this.pump(to);
  }

  /** Closes quietly: both sides are done with it (a finished call). */
  close(): void {
    if (this.state === "closed") return;
    this.state = "closed";
    this.network.untrack(this);
  }

  /** Breaks the connection now: queued data is lost and each side hears `reason` after `delayMs`. */
  break(reason: string, delayMs: number): void {
    if (this.state === "closed") return;
    this.close();
    for (const side of ["client", "server"] as const) {
      const endpoint = this.endpoint(side);
      const handler = this.breakHandlers[side];
      if (endpoint === null || handler === null) continue;
      this.network.scheduler.after(delayMs, endpoint.slot, `${this.label} broken`, () => handler(reason), endpoint.incarnation);
    }
  }

  private refuse(reason: string): void {
    this.network.scheduler.after(this.network.latencyMs() * 2, this.client.slot, `${this.label} refused`, () => this.break(reason, 0), this.client.incarnation);
  }
}
