// The main thread's side of the event pump: starts the pump thread when the first connection opens,
// routes the events it posts to the connection that registered for them, and stops it (waking
// libvirt's poll()) when the last connection closes or the process exits.
//
// Invariants:
//  1. virEventRegisterDefaultImpl runs once per process, before any connection is opened.
//  2. The pump thread runs while at least one connection holds it (acquire/release are counted).
//  3. The pump is stopped only after every connection deregistered its callbacks, so libvirt never
//     calls a callback of a pump thread that is gone.
import type { Worker } from "node:worker_threads";
import type { Logger } from "pino";
import { assert } from "../../common/assert.js";
import { silenceDefaultErrorPrinting } from "./errors.js";
import type { DomainEvent } from "./events.js";
import type { PumpCallbackPointers, PumpMessage, PumpWorkerData } from "./event-pump-worker.js";
import { native } from "./ffi.js";
import { spawnWorker } from "./worker-spawn.js";

/** How long close() waits for the pump thread to leave poll() and exit. */
const pumpStopTimeoutMs = 5_000;
/** How long starting the pump thread may take (loading koffi and libvirt in a fresh isolate). */
const pumpStartTimeoutMs = 10_000;

let eventImplementationRegistered = false;

function registerEventImplementationOnce(): void {
  if (eventImplementationRegistered) return;
  silenceDefaultErrorPrinting();
  // Must precede every virConnectOpen in the process: connections bind to the event loop that
  // exists when they open, and keepalive and events need one.
  if (native.virEventRegisterDefaultImpl() < 0) throw new Error("virEventRegisterDefaultImpl failed");
  eventImplementationRegistered = true;
}

export type EventListener = (event: DomainEvent) => void;

export class EventPump {
  private static current: Promise<EventPump> | null = null;
  /** The last pump's stop, awaited before a new pump starts: libvirt allows one running loop. */
  private static previousStop: Promise<void> = Promise.resolve();

  private users = 0;
  private stopping: Promise<void> | null = null;
  private readonly listeners = new Map<number, EventListener>();

  private constructor(
    private readonly worker: Worker,
    private readonly stopFlag: Int32Array,
    readonly callbacks: PumpCallbackPointers,
    private readonly logger: Logger | undefined,
  ) {
    worker.on("message", (message: PumpMessage) => this.onMessage(message));
    process.once("exit", this.wakeOnExit);
  }

  /** The running pump (started if needed), counted as one more user until release(). */
  static async acquire(logger?: Logger): Promise<EventPump> {
    if (EventPump.current === null) EventPump.current = EventPump.start(logger);
    let pump: EventPump;
    try {
      pump = await EventPump.current;
    } catch (error) {
      EventPump.current = null;
      throw error;
    }
    pump.users++;
    return pump;
  }

  private static async start(logger: Logger | undefined): Promise<EventPump> {
    await EventPump.previousStop;
    registerEventImplementationOnce();
    const stopFlag = new SharedArrayBuffer(Int32Array.BYTES_PER_ELEMENT);
    const workerData: PumpWorkerData = { stopFlag };
    const worker = spawnWorker(new URL("./event-pump-worker.js", import.meta.url), { workerData });
    const callbacks = await waitForReady(worker);
    logger?.debug("libvirt event pump started");
    return new EventPump(worker, new Int32Array(stopFlag), callbacks, logger);
  }

  /** Routes events registered with `connectionId` as opaque value to `listener`. */
  route(connectionId: number, listener: EventListener): () => void {
    assert(!this.listeners.has(connectionId), "one listener per connection id");
    this.listeners.set(connectionId, listener);
    return () => this.listeners.delete(connectionId);
  }

  /** One user fewer; the last one stops the pump thread and waits (bounded) for it to exit. */
  async release(): Promise<void> {
    assert(this.users > 0, "release() without acquire()");
    this.users--;
    if (this.users > 0) return;
    EventPump.current = null;
    this.stopping ??= this.stop();
    EventPump.previousStop = this.stopping;
    await this.stopping;
  }

  private async stop(): Promise<void> {
    process.removeListener("exit", this.wakeOnExit);
    const exited = new Promise<void>((resolve) => this.worker.once("exit", () => resolve()));
    this.requestStop();
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<"timeout">((resolve) => {
      timer = setTimeout(() => resolve("timeout"), pumpStopTimeoutMs);
    });
    const outcome = await Promise.race([exited, timedOut]);
    clearTimeout(timer);
    if (outcome === "timeout") {
      this.logger?.warn({ timeoutMs: pumpStopTimeoutMs }, "libvirt event pump did not stop in time; detaching it");
      this.worker.unref();
    } else {
      this.logger?.debug("libvirt event pump stopped");
    }
  }

  /** Sets the stop flag, then adds a 0 ms timeout so the pump's poll() returns and sees it. */
  private requestStop(): void {
    Atomics.store(this.stopFlag, 0, 1);
    native.virEventAddTimeout(0, this.callbacks.wake, null, null);
  }

  // Without this, process.exit() with a connection still open would hang joining the pump thread.
  private readonly wakeOnExit = (): void => {
    if (Atomics.load(this.stopFlag, 0) === 0) this.requestStop();
  };

  private onMessage(message: PumpMessage): void {
    if (message.type !== "event") return;
    const listener = this.listeners.get(message.connectionId);
    if (listener === undefined) return; // the connection closed while the event was in flight
    try {
      listener(message.event);
    } catch (error) {
      this.logger?.error({ err: error, event: message.event.kind }, "libvirt event listener threw");
    }
  }
}

function waitForReady(worker: Worker): Promise<PumpCallbackPointers> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      void worker.terminate();
      reject(new Error(`libvirt event pump did not start within ${pumpStartTimeoutMs} ms`));
    }, pumpStartTimeoutMs);
    const onMessage = (message: PumpMessage): void => {
      if (message.type !== "ready") return;
      settle();
      resolve(message.callbacks);
    };
    const onError = (error: Error): void => {
      settle();
      reject(error);
    };
    const onExit = (code: number): void => {
      settle();
      reject(new Error(`libvirt event pump exited during start (code ${code})`));
    };
    function settle(): void {
      clearTimeout(timer);
      worker.off("message", onMessage);
      worker.off("error", onError);
      worker.off("exit", onExit);
    }
    worker.on("message", onMessage);
    worker.on("error", onError);
    worker.on("exit", onExit);
  });
}
