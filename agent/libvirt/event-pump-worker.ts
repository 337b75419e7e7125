// The event-pump thread: runs libvirt's default event loop (virEventRunDefaultImpl) until told to stop,
// and turns each domain event into a plain, named object posted to the main thread.
//
// Why a worker thread of its own:
//  1. libvirt's event loop blocks in poll(); it must never run on the main thread.
//  2. The domain-event callbacks are registered here, so libvirt calls them on this very thread and
//     koffi runs them at once. They never wait for the main thread: a busy main thread delays
//     delivery but loses nothing (messages queue on the port), and keepalive replies keep flowing.
//  3. Decoding (UUID, name, typed parameters) happens here, off the main thread.
//
// Protocol: workerData.stopFlag is a SharedArrayBuffer; the main thread sets element 0 to 1 and then
// adds a 0 ms libvirt timeout whose callback (`wake`, below) wakes poll(), so the loop sees the flag.
import { parentPort, workerData } from "node:worker_threads";
import { assert } from "../../common/assert.js";
import { uuidStringBufferLength } from "./constants.js";
import type { DomainEvent } from "./events.js";
import {
  callbackTypes,
  native,
  registerCallback,
  unregisterCallback,
  type DomainPointer,
  type FunctionPointer,
  type RawPointer,
} from "./ffi.js";
import { completedJobType, decodeJobStats } from "./job-stats.js";
import {
  blockJobStatusNames,
  blockJobTypeNames,
  ioErrorActionNames,
  lifecycleDetailName,
  lifecycleEventName,
  nameAt,
  watchdogActionNames,
} from "./names.js";
import { decodeTypedParameters } from "./typed-params.js";

export interface PumpCallbackPointers {
  lifecycle: FunctionPointer;
  reboot: FunctionPointer;
  watchdog: FunctionPointer;
  ioErrorReason: FunctionPointer;
  blockJob2: FunctionPointer;
  migrationIteration: FunctionPointer;
  jobCompleted: FunctionPointer;
  /** virEventTimeoutCallback that removes its own timer: used to wake the loop. */
  wake: FunctionPointer;
}

export type PumpMessage =
  | { type: "ready"; callbacks: PumpCallbackPointers }
  | { type: "event"; connectionId: number; event: DomainEvent }
  | { type: "stopped"; iterations: number };

export interface PumpWorkerData {
  stopFlag: SharedArrayBuffer;
}

/** Consecutive failures of virEventRunDefaultImpl after which the loop pauses briefly instead of spinning. */
const failedIterationsBeforePause = 10;
const pauseAfterFailuresMs = 50;

const port = parentPort;
assert(port !== null, "event-pump-worker must run as a worker thread");
const stopFlag = new Int32Array((workerData as PumpWorkerData).stopFlag);
const uuidBuffer = Buffer.alloc(uuidStringBufferLength);

function identify(dom: DomainPointer): { uuid: string; name: string } {
  // The domain pointer is valid for the duration of the callback; libvirt frees it afterwards.
  const uuid = native.virDomainGetUUIDString(dom, uuidBuffer) === 0 ? uuidBuffer.toString("latin1", 0, 36) : "";
  return { uuid, name: native.virDomainGetName(dom) ?? "" };
}

function post(opaque: RawPointer | null, event: DomainEvent): void {
  const message: PumpMessage = { type: "event", connectionId: Number(opaque ?? 0n), event };
  port!.postMessage(message);
}

function registerAll(): PumpCallbackPointers {
  return {
    lifecycle: registerCallback(
      (_conn: RawPointer, dom: DomainPointer, event: number, detail: number, opaque: RawPointer | null): number => {
        const named = { event: lifecycleEventName(event), detail: lifecycleDetailName(event, detail) };
        post(opaque, { kind: "lifecycle", ...identify(dom), ...named });
        return 0;
      },
      callbackTypes.lifecycle,
    ),
    reboot: registerCallback((_conn: RawPointer, dom: DomainPointer, opaque: RawPointer | null) => {
      post(opaque, { kind: "reboot", ...identify(dom) });
    }, callbackTypes.generic),
    watchdog: registerCallback((_conn: RawPointer, dom: DomainPointer, action: number, opaque: RawPointer | null) => {
      post(opaque, { kind: "watchdog", ...identify(dom), action: nameAt(watchdogActionNames, action) });
    }, callbackTypes.watchdog),
    ioErrorReason: registerCallback(
      (
        _conn: RawPointer,
        dom: DomainPointer,
        sourcePath: string | null,
        deviceAlias: string | null,
        action: number,
        reason: string | null,
        opaque: RawPointer | null,
      ) => {
        post(opaque, {
          kind: "io-error-reason",
          ...identify(dom),
          sourcePath: sourcePath ?? "",
          deviceAlias: deviceAlias ?? "",
          action: nameAt(ioErrorActionNames, action),
          reason: reason ?? "",
        });
      },
      callbackTypes.ioErrorReason,
    ),
    blockJob2: registerCallback(
      (_conn: RawPointer, dom: DomainPointer, disk: string | null, type: number, status: number, opaque: RawPointer | null) => {
        post(opaque, {
          kind: "block-job",
          ...identify(dom),
          disk: disk ?? "",
          jobType: nameAt(blockJobTypeNames, type),
          status: nameAt(blockJobStatusNames, status),
        });
      },
      callbackTypes.blockJob,
    ),
    migrationIteration: registerCallback(
      (_conn: RawPointer, dom: DomainPointer, iteration: number, opaque: RawPointer | null) => {
        post(opaque, { kind: "migration-iteration", ...identify(dom), iteration });
      },
      callbackTypes.migrationIteration,
    ),
    jobCompleted: registerCallback(
      (_conn: RawPointer, dom: DomainPointer, params: RawPointer | null, count: number, opaque: RawPointer | null) => {
        const stats = decodeJobStats(completedJobType, decodeTypedParameters(params, count));
        post(opaque, { kind: "job-completed", ...identify(dom), stats });
      },
      callbackTypes.jobCompleted,
    ),
    wake: registerCallback((timer: number) => {
      // libvirt timeouts repeat until removed; this one exists only to interrupt poll() once.
      native.virEventRemoveTimeout(timer);
    }, callbackTypes.timeout),
  };
}

function runUntilStopped(): number {
  let iterations = 0;
  let consecutiveFailures = 0;
  while (Atomics.load(stopFlag, 0) === 0) {
    const result = native.virEventRunDefaultImpl();
    iterations++;
    consecutiveFailures = result < 0 ? consecutiveFailures + 1 : 0;
    if (consecutiveFailures >= failedIterationsBeforePause) {
      // Never spin on a broken loop: wait (or until the stop flag changes) and try again.
      Atomics.wait(stopFlag, 0, 0, pauseAfterFailuresMs);
      consecutiveFailures = 0;
    }
  }
  return iterations;
}

const callbacks = registerAll();
port.postMessage({ type: "ready", callbacks } satisfies PumpMessage);
const iterations = runUntilStopped();
// The loop no longer runs, so libvirt can no longer call these: every connection deregistered its
// callbacks before the main thread asked us to stop.
for (const pointer of Object.values(callbacks)) unregisterCallback(pointer);
port.postMessage({ type: "stopped", iterations } satisfies PumpMessage);
