// The state machine behind LibvirtConnection: the native handle, keepalive, close callback, event
// subscriptions, and reconnecting with bounded backoff after libvirtd goes away.
//
// States and transitions (each logged as `libvirt <uri>: X => Y`):
//   connecting -> open    the first handle is attached (keepalive, close callback, events)
//   open       -> lost    libvirt's close callback fired (EOF, keepalive timeout, error)
//   lost       -> open    a reconnect attempt succeeded; listeners get "restored" and must re-read the
//                         inventory, because events in the gap are gone
//   any        -> closed  close() was called
// While not open, every operation fails at once with a LibvirtError (VIR_ERR_NO_CONNECT).
import type { Logger } from "pino";
import { assert } from "../../common/assert.js";
import { systemRng, systemTimers, type Cancel, type Rng, type Timers } from "../../common/env.js";
import { BlockingCallPool } from "./blocking-pool.js";
import { eventIds, type EventKind } from "./constants.js";
import { errorCodes } from "./error-names.js";
import { LibvirtError } from "./errors.js";
import { EventPump } from "./event-pump.js";
import type { DomainEvent, LifecycleEvent } from "./events.js";
import { callbackTypes, native, registerCallback, type ConnectPointer, type FunctionPointer, type RawPointer } from "./ffi.js";
import { closeReasonNames, nameAt } from "./names.js";
import { defaultReconnectPolicy, reconnectDelayMs, type ReconnectPolicy } from "./reconnect-policy.js";

export type ConnectionState = "connecting" | "open" | "lost" | "closed";
export type ConnectionChange = "lost" | "restored";
/** Why: for "lost", libvirt's close reason ("eof", "keepalive", "error", "client"); for "restored", the attempts it took. */
export interface ConnectionChangeDetail {
  reason?: string;
  attempts?: number;
}
export type ConnectionChangeListener = (change: ConnectionChange, detail: ConnectionChangeDetail) => void;

export interface ConnectionOptions {
  logger?: Logger;
  /** virConnectSetKeepAlive interval; the connection counts as dead after interval × (count + 1) of silence. */
  keepAliveIntervalSeconds?: number;
  keepAliveCount?: number;
  reconnect?: Partial<ReconnectPolicy>;
  /**
   * Bound on one virConnectOpen. A daemon that accepts the socket but never answers (stopped, wedged)
   * would otherwise hold an attempt forever; the late handle is closed when it finally arrives.
   */
  openTimeoutMs?: number;
  timers?: Timers;
  rng?: Rng;
  /**
   * When the first open fails, start "lost" and keep reconnecting in the background (listeners get
   * "restored" once libvirtd answers) instead of failing open().
   */
  startWhenUnavailable?: boolean;
}

const defaultKeepAliveIntervalSeconds = 5;
const defaultKeepAliveCount = 3;
const defaultOpenTimeoutMs = 30_000;
const noConnectCode = 5; // VIR_ERR_NO_CONNECT
const subscribedEvents: readonly EventKind[] = [
  "lifecycle",
  "reboot",
  "watchdog",
  "ioErrorReason",
  "blockJob2",
  "migrationIteration",
  "jobCompleted",
];

/** Open connections by id: libvirt's close callback carries the id as its opaque value. */
const connectionsById = new Map<number, ConnectionCore>();
let nextConnectionId = 1;
let closeCallbackPointer: FunctionPointer | null = null;

/**
 * One JavaScript close callback for the whole process, registered once and never released.
 * libvirt may call it on any thread; koffi then runs it on the main thread, possibly nested inside
 * a synchronous libvirt call of the main thread, so the work is deferred to a clean stack.
 */
function sharedCloseCallback(): FunctionPointer {
  closeCallbackPointer ??= registerCallback((_conn: RawPointer, reason: number, opaque: RawPointer | null) => {
    const connection = connectionsById.get(Number(opaque ?? 0n));
    const reasonName = nameAt(closeReasonNames, reason);
    setImmediate(() => connection?.onClosedByLibvirt(reasonName));
  }, callbackTypes.close);
  return closeCallbackPointer;
}

/** A native connection and the event registrations made on it. */
interface AttachedHandle {
  handle: ConnectPointer;
  callbackIds: number[];
}

/** The state machine and plumbing behind LibvirtConnection. Not exported from the package. */
export class ConnectionCore {
  readonly id = nextConnectionId++;
  state: ConnectionState = "connecting";
  private attached: AttachedHandle | null = null;
  private cancelReconnectWait: Cancel | null = null;
  private reconnecting: Promise<void> | null = null;
  /** Releases of lost handles still in flight; close() waits for them before the pump may stop. */
  private readonly releasesInFlight = new Set<Promise<void>>();
  private readonly pool = BlockingCallPool.shared();
  private readonly eventListeners = new Set<(event: DomainEvent) => void>();
  private readonly changeListeners = new Set<ConnectionChangeListener>();
  private readonly unroute: () => void;
  private readonly policy: ReconnectPolicy;
  private readonly timers: Timers;
  private readonly rng: Rng;

  constructor(
    readonly uri: string,
    private readonly pump: EventPump,
    private readonly options: ConnectionOptions,
  ) {
    this.policy = { ...defaultReconnectPolicy, ...options.reconnect };
    this.timers = options.timers ?? systemTimers;
    this.rng = options.rng ?? systemRng;
    this.unroute = pump.route(this.id, (event) => this.deliver(event));
    connectionsById.set(this.id, this);
  }

  get logger(): Logger | undefined {
    return this.options.logger;
  }

  get blocking(): BlockingCallPool {
    return this.pool;
  }

  /** The live handle, or a LibvirtError when the connection is lost or closed. */
  requireHandle(): ConnectPointer {
    if (this.state === "open" && this.attached !== null) return this.attached.handle;
    throw new LibvirtError({
      code: noConnectCode,
      domain: 0,
      message: `connection to ${this.uri} is ${this.state}`,
      operation: "requireHandle",
    });
  }

  /** connecting -> open, or throws (and the caller closes) when the first attach fails. */
  async openFirstHandle(): Promise<void> {
    assert(this.state === "connecting", "openFirstHandle() runs once, first");
    await this.attachNewHandle();
    this.changeState("open", "connected");
  }

  /**
   * Opens a libvirt connection and makes it this connection's handle, with keepalive, close callback
   * and events. A handle that died while being set up (its close callback found us not yet open and
   * was ignored) is released and reported as a failure.
   */
  private async attachNewHandle(): Promise<void> {
    const attaching: AttachedHandle = { handle: await this.openWithinBound(), callbackIds: [] };
    const { handle } = attaching;
    try {
      await this.enableKeepAlive(handle);
      await this.pool.call("registerCloseCallback", handle, sharedCloseCallback(), BigInt(this.id));
      for (const kind of subscribedEvents) {
        const callback = this.pump.callbacks[kind];
        attaching.callbackIds.push(await this.pool.call("registerDomainEvent", handle, eventIds[kind], callback, BigInt(this.id)));
      }
      if (native.virConnectIsAlive(handle) !== 1) throw new Error(`connection to ${this.uri} died while being set up`);
    } catch (error) {
      await this.release(attaching);
      throw error;
    }
    this.attached = attaching;
  }

  private openWithinBound(): Promise<ConnectPointer> {
    const timeoutMs = this.options.openTimeoutMs ?? defaultOpenTimeoutMs;
    const opening = this.pool.call("openConnection", this.uri);
    return new Promise((resolve, reject) => {
      let timedOut = false;
      const cancelTimer = this.timers.after(timeoutMs, () => {
        timedOut = true;
        reject(new Error(`virConnectOpen(${this.uri}) did not return within ${timeoutMs} ms`));
      });
      opening.then(
        (handle) => {
          cancelTimer();
          if (!timedOut) resolve(handle);
          else void this.pool.call("closeConnection", handle).catch((error: unknown) => this.logQuietly(error));
        },
        (error: unknown) => {
          cancelTimer();
          reject(error);
        },
      );
    });
  }

  private async enableKeepAlive(handle: ConnectPointer): Promise<void> {
    const interval = this.options.keepAliveIntervalSeconds ?? defaultKeepAliveIntervalSeconds;
    const count = this.options.keepAliveCount ?? defaultKeepAliveCount;
    try {
      await this.pool.call("setKeepAlive", handle, interval, count);
    } catch (error) {
      // Local drivers (the test driver) have no keepalive: there is no peer to lose.
      if (!(error instanceof LibvirtError && error.code === errorCodes.noSupport)) throw error;
    }
  }

  /** Deregisters callbacks and closes `handle`. Errors are logged, not thrown: the handle may be dead already. */
  private async release({ handle, callbackIds }: AttachedHandle): Promise<void> {
    for (const callbackId of callbackIds) {
      await this.pool.call("deregisterDomainEvent", handle, callbackId).catch((error: unknown) => this.logQuietly(error));
    }
    if (closeCallbackPointer !== null) {
      await this.pool.call("unregisterCloseCallback", handle, closeCallbackPointer).catch((error: unknown) => this.logQuietly(error));
    }
    await this.pool.call("closeConnection", handle).catch((error: unknown) => this.logQuietly(error));
  }

  private logQuietly(error: unknown): void {
    this.logger?.debug({ err: error, uri: this.uri }, "libvirt cleanup call failed (connection already gone)");
  }

  private changeState(next: ConnectionState, why: string): void {
    this.logger?.info({ uri: this.uri, why }, `libvirt ${this.uri}: ${this.state} => ${next}`);
    this.state = next;
  }

  /** connecting -> lost after a failed first open: reconnect in the background. */
  startLost(error: unknown): void {
    assert(this.state === "connecting", "startLost() follows a failed first open");
    this.logger?.warn({ err: error, uri: this.uri }, "libvirt is not answering; reconnecting in the background");
    this.changeState("lost", "first open failed");
    this.reconnecting = this.reconnect().finally(() => (this.reconnecting = null));
  }

  onClosedByLibvirt(reason: string): void {
    if (this.state !== "open") return;
    this.changeState("lost", `close callback: ${reason}`);
    const lost = this.attached;
    this.attached = null;
    if (lost !== null) {
      const releasing = this.release(lost).finally(() => this.releasesInFlight.delete(releasing));
      this.releasesInFlight.add(releasing);
    }
    this.emitChange("lost", { reason });
    this.reconnecting = this.reconnect().finally(() => (this.reconnecting = null));
  }

  private async reconnect(): Promise<void> {
    for (let attempt = 0; this.state === "lost"; attempt++) {
      await this.waitBeforeAttempt(reconnectDelayMs(attempt, this.policy, this.rng.next()));
      if (this.state !== "lost") return;
      try {
        await this.attachNewHandle();
      } catch (error) {
        this.logger?.warn({ err: error, uri: this.uri, attempt }, "libvirt reconnect attempt failed");
        continue;
      }
      if (this.state !== "lost") {
        // close() ran while the attempt was in flight: undo it.
        await this.detach();
        return;
      }
      this.changeState("open", `reconnected after ${attempt + 1} attempt(s)`);
      this.emitChange("restored", { attempts: attempt + 1 });
    }
  }

  private waitBeforeAttempt(delayMs: number): Promise<void> {
    return new Promise((resolve) => {
      this.cancelReconnectWait = this.timers.after(delayMs, resolve);
      // close() cancels the timer and must still end the wait.
      const cancel = this.cancelReconnectWait;
      this.cancelReconnectWait = () => {
        cancel();
        resolve();
      };
    });
  }

  async detach(): Promise<void> {
    const attached = this.attached;
    this.attached = null;
    if (attached !== null) await this.release(attached);
  }

  async close(): Promise<void> {
    if (this.state === "closed") return;
    this.changeState("closed", "close() called");
    this.cancelReconnectWait?.();
    this.unroute();
    // A reconnect attempt in flight undoes itself once it sees "closed" (bounded by openTimeoutMs);
    // every registration must be gone before the pump may stop.
    await this.reconnecting;
    await Promise.all(this.releasesInFlight);
    await this.detach();
    connectionsById.delete(this.id);
    await this.pump.release();
  }

  private deliver(event: DomainEvent): void {
    for (const listener of this.eventListeners) listener(event);
  }

  private emitChange(change: ConnectionChange, detail: ConnectionChangeDetail): void {
    for (const listener of this.changeListeners) {
      try {
        listener(change, detail);
      } catch (error) {
        this.logger?.error({ err: error, change }, "connection change listener threw");
      }
    }
  }

  addEventListener(listener: (event: DomainEvent) => void): () => void {
    this.eventListeners.add(listener);
    return () => this.eventListeners.delete(listener);
  }

  addChangeListener(listener: ConnectionChangeListener): () => void {
    this.changeListeners.add(listener);
    return () => this.changeListeners.delete(listener);
  }

  isAlive(): boolean {
    return this.state === "open" && this.attached !== null && native.virConnectIsAlive(this.attached.handle) === 1;
  }
}

/** Adapts a lifecycle-only listener to the stream of all domain events. */
export function lifecycleOnly(listener: (event: LifecycleEvent) => void): (event: DomainEvent) => void {
  return (event) => {
    if (event.kind === "lifecycle") listener(event);
  };
}
