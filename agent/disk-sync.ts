// Disk chain sync (DESIGN §9): reads a VM's live backing chains from the domain XML, checks the
// images answer on storage, and reports them as a DiskChainReport, so the control plane's record
// of the VM's disks matches reality.
// 1. A request is journaled first (disk_syncs) and survives agent restarts until a report succeeds.
// 2. It never blocks agent start or the stream: attempts run in the background, at most
//    `concurrentAttemptsMax` at once, each bounded by `attemptTimeoutMs`.
// 3. When libvirt or storage does not answer it retries with bounded exponential backoff
//    (backoff.ts: diskSyncBackoff) until it succeeds; the first failure of an episode journals a
//    pending report (visible in the control plane), and pending() shows it locally (metrics).
// 4. A VM not defined on this host ends its request with a report that says so (not pending).
import type { Cancel, Clock, Rng, Timers } from "../common/env.js";
import { errorMessage } from "../common/errors.js";
import type { Logger } from "../common/logging.js";
import { backoffDelayMs, diskSyncBackoff } from "./backoff.js";
import { diskChains } from "./domain-disks.js";
import type { Hypervisor, ImageStorage } from "./hypervisor.js";
import type { Journal } from "./journal.js";

export interface DiskSyncOptions {
  hypervisor: Hypervisor;
  storage: ImageStorage;
  journal: Journal;
  clock: Clock;
  timers: Timers;
  rng: Rng;
  logger: Logger;
  onJournaled(): void;
  attemptTimeoutMs?: number;
}

export class TimeoutError extends Error {
  override name = "TimeoutError";
}

/** Resolves or rejects with `promise`, or rejects with TimeoutError after `timeoutMs`. */
export function within<T>(promise: Promise<T>, timeoutMs: number, timers: Timers, what: string): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const cancel = timers.after(timeoutMs, () => reject(new TimeoutError(`${what} did not answer within ${timeoutMs} ms`)));
    promise.then(
      (value) => {
        cancel();
        resolve(value);
      },
      (error: unknown) => {
        cancel();
        reject(error);
      },
    );
  });
}

interface SyncEntry {
  cause: string;
  attempts: number;
  lastError: string;
  reportedPending: boolean;
  cancelTimer: Cancel | null;
}

export interface PendingSync {
  vmUuid: string;
  cause: string;
  attempts: number;
  lastError: string;
}

const concurrentAttemptsMax = 4;
const defaultAttemptTimeoutMs = 15_000;
const warnEveryAttempts = 10;
/** A full slot table retries this soon. */
const slotWaitMs = 100;

export class DiskSync {
  private readonly entries = new Map<string, SyncEntry>();
  private readonly running = new Set<Promise<void>>();
  private stopped = false;

  constructor(private readonly options: DiskSyncOptions) {}

  /** Resumes the requests a previous run journaled but did not complete. */
  start(): void {
    for (const request of this.options.journal.pendingDiskSyncs()) this.schedule(request.vmUuid, request.cause, 0);
  }

  /** Asks for a sync of `vmUuid`; returns at once (a running or waiting request absorbs it). */
  request(vmUuid: string, cause: string): void {
    if (this.stopped) return;
    this.options.journal.requestDiskSync(vmUuid, cause, this.options.clock.nowMs());
    const entry = this.entries.get(vmUuid);
    if (entry === undefined) return this.schedule(vmUuid, cause, 0);
    // Waiting out a backoff: a new request (libvirt came back, the control plane asks) tries now.
    if (entry.cancelTimer !== null) {
      entry.cancelTimer();
      entry.cancelTimer = this.options.timers.after(0, () => this.attempt(vmUuid));
    }
  }

  isPending(vmUuid: string): boolean {
    return this.entries.has(vmUuid);
  }

  pending(): PendingSync[] {
    return [...this.entries].map(([vmUuid, entry]) => ({ vmUuid, cause: entry.cause, attempts: entry.attempts, lastError: entry.lastError })).sort((a, b) => a.vmUuid.localeCompare(b.vmUuid));
  }

  async stop(): Promise<void> {
    this.stopped = true;
    for (const entry of this.entries.values()) entry.cancelTimer?.();
    await Promise.allSettled([...this.running]);
  }

  private schedule(vmUuid: string, cause: string, delayMs: number): void {
    const entry = this.entries.get(vmUuid) ?? { cause, attempts: 0, lastError: "", reportedPending: false, cancelTimer: null };
    this.entries.set(vmUuid, entry);
    entry.cancelTimer = this.options.timers.after(delayMs, () => this.attempt(vmUuid));
  }

  private attempt(vmUuid: string): void {
    const entry = this.entries.get(vmUuid);
    if (entry === undefined || this.stopped) return;
    entry.cancelTimer = null;
    if (this.running.size >= concurrentAttemptsMax) {
      entry.cancelTimer = this.options.timers.after(slotWaitMs, () => this.attempt(vmUuid));
      return;
    }
    const task = this.sync(vmUuid, entry).finally(() => this.running.delete(task));
    this.running.add(task);
  }

  private async sync(vmUuid: string, entry: SyncEntry): Promise<void> {
    const { hypervisor, storage, journal, clock, timers, logger } = this.options;
    const timeoutMs = this.options.attemptTimeoutMs ?? defaultAttemptTimeoutMs;
    entry.attempts += 1;
    try {
      const domain = await within(hypervisor.lookupDomain(vmUuid), timeoutMs, timers, "libvirt");
      if (domain === null) {
        this.entries.delete(vmUuid);
        journal.reportDiskChain({ vmUuid, disks: [], pending: false, error: "the domain is not defined on this host", attempts: entry.attempts }, clock.nowMs(), false);
        return this.options.onJournaled();
      }
      const chains = diskChains(await within(hypervisor.getDomainXml(vmUuid), timeoutMs, timers, "libvirt"));
      await within(storage.verify(chains.flatMap((chain) => chain.files)), timeoutMs, timers, "storage");
      if (this.stopped) return;
      this.entries.delete(vmUuid);
      journal.reportDiskChain({ vmUuid, disks: chains.map(({ target, files }) => ({ target, files })), pending: false, error: "", attempts: entry.attempts }, clock.nowMs(), false);
      logger.info({ vm: domain.name, attempts: entry.attempts, cause: entry.cause, disks: chains.length }, "disk chains synchronized");
      this.options.onJournaled();
    } catch (error) {
      if (this.stopped) return;
      entry.lastError = errorMessage(error);
      const delayMs = backoffDelayMs(diskSyncBackoff, entry.attempts - 1, this.options.rng.next());
      // Warn on the first failure and every tenth after it; each retry is logged, quieter.
      const level = entry.attempts % warnEveryAttempts === 1 ? "warn" : "info";
      logger[level]({ vm: vmUuid, attempt: entry.attempts, delayMs, err: entry.lastError }, "disk chain sync failed; retrying");
      if (!entry.reportedPending) {
        entry.reportedPending = true;
        journal.reportDiskChain({ vmUuid, disks: [], pending: true, error: entry.lastError, attempts: entry.attempts }, clock.nowMs(), false);
        this.options.onJournaled();
      }
      entry.cancelTimer = timers.after(delayMs, () => this.attempt(vmUuid));
    }
  }
}
