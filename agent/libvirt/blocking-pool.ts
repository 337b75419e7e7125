// A small pool of worker threads that run libvirt operations which may block (operations.ts), so that
// the main thread never waits on libvirtd. One operation per worker at a time; callers beyond the
// pool's size wait in a bounded queue.
//
// Invariants:
//  1. At most blockingWorkersMax workers exist; a worker runs at most one operation at a time.
//  2. A worker holds the process open (ref) only while it runs an operation; idle workers never keep
//     the process alive.
//  3. Every call settles: with the operation's value, its LibvirtError, or an error when its worker dies.
import type { Worker } from "node:worker_threads";
import { LibvirtError } from "./errors.js";
import type { BlockingReply, BlockingRequest } from "./blocking-worker.js";
import type { OperationName, Operations } from "./operations.js";
import { spawnWorker } from "./worker-spawn.js";

/** Concurrent blocking libvirt calls; more wait in the queue. Migrations hold a worker for their whole run. */
const blockingWorkersMax = 4;
/** Calls allowed to wait for a worker before new ones are refused. */
const blockingCallsQueuedMax = 10_000;

interface PendingCall {
  request: BlockingRequest;
  resolve(value: unknown): void;
  reject(error: Error): void;
}

interface PoolWorker {
  worker: Worker;
  current: PendingCall | null;
}

export class BlockingCallPool {
  private static sharedPool: BlockingCallPool | null = null;

  private readonly workers: PoolWorker[] = [];
  private readonly queue: PendingCall[] = [];
  private nextRequestId = 1;

  /** The process-wide pool: libvirt calls from every connection share it. */
  static shared(): BlockingCallPool {
    BlockingCallPool.sharedPool ??= new BlockingCallPool();
    return BlockingCallPool.sharedPool;
  }

  /** The operations the workers run now: a migration, or a call libvirt never answered. */
  busyOperations(): string[] {
    return this.workers.flatMap((entry) => (entry.current === null ? [] : [entry.current.request.operation]));
  }

  call<K extends OperationName>(operation: K, ...args: Parameters<Operations[K]>): Promise<ReturnType<Operations[K]>> {
    if (this.queue.length >= blockingCallsQueuedMax) {
      return Promise.reject(new Error(`more than ${blockingCallsQueuedMax} libvirt calls waiting; refusing ${operation}`));
    }
    return new Promise((resolve, reject) => {
      const request: BlockingRequest = { id: this.nextRequestId++, operation, args };
      this.queue.push({ request, resolve: resolve as (value: unknown) => void, reject });
      this.dispatch();
    });
  }

  private dispatch(): void {
    while (this.queue.length > 0) {
      const idle = this.workers.find((candidate) => candidate.current === null) ?? this.spawnIfAllowed();
      if (idle === null) return;
      const pending = this.queue.shift()!;
      idle.current = pending;
      idle.worker.ref();
      idle.worker.postMessage(pending.request);
    }
  }

  private spawnIfAllowed(): PoolWorker | null {
    if (this.workers.length >= blockingWorkersMax) return null;
    const worker = spawnWorker(new URL("./blocking-worker.js", import.meta.url));
    const entry: PoolWorker = { worker, current: null };
    worker.on("message", (reply: BlockingReply) => this.onReply(entry, reply));
    worker.on("error", (error: Error) => this.onWorkerGone(entry, error));
    worker.on("exit", (code: number) => this.onWorkerGone(entry, new Error(`libvirt worker exited (code ${code})`)));
    this.workers.push(entry);
    return entry;
  }

  private onReply(entry: PoolWorker, reply: BlockingReply): void {
    const pending = entry.current;
    entry.current = null;
    entry.worker.unref();
    if (pending !== null && pending.request.id === reply.id) settle(pending, reply);
    this.dispatch();
  }

  private onWorkerGone(entry: PoolWorker, error: Error): void {
    const index = this.workers.indexOf(entry);
    if (index >= 0) this.workers.splice(index, 1);
    const pending = entry.current;
    entry.current = null;
    pending?.reject(error);
    this.dispatch();
  }
}

function settle(pending: PendingCall, reply: BlockingReply): void {
  if (reply.ok) {
    pending.resolve(reply.value);
  } else if ("libvirtError" in reply) {
    pending.reject(new LibvirtError(reply.libvirtError));
  } else {
    const error = new Error(reply.otherError.message);
    error.name = reply.otherError.name;
    error.stack = reply.otherError.stack;
    pending.reject(error);
  }
}
