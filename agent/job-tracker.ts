// Tracks in-flight jobs against libvirt (DESIGN §9), the edge around recovery/reconcile.ts:
// - recover(): on start, before the agent reports ready. Re-adopts every domain (state, reason,
//   XML), reconciles each journaled job (running / finished with a provable outcome / unknown),
//   journals jobs started by others meanwhile, and reports disk chains that changed.
// - libvirt's block-job events end jobs live (or, for "ready", re-adopt them).
// - Block jobs started by others send no event until they end, so a scan looks for them every
//   `scanIntervalMs`; it also re-reconciles unknown jobs (running ones end by their events; all
//   are reconciled again when libvirt's connection is restored, since events of the gap are lost).
// All of it runs one step at a time (one chain), so a live event and a recovery never race on a
// job; the journal makes each completion exactly-once anyway (journal.ts invariant 4).
import { isBlockJobKind, type BlockJobKind } from "../common/block-job-proof.js";
import type { Cancel, Clock, Timers } from "../common/env.js";
import { errorMessage } from "../common/errors.js";
import type { Logger } from "../common/logging.js";
import { diskChains, type DiskChain } from "./domain-disks.js";
import { within } from "./disk-sync.js";
import type { BlockJobEvent, DomainInfo, Hypervisor } from "./hypervisor.js";
import type { JobRecord, Journal } from "./journal.js";
import { reconcileJob, type Observation, type Verdict } from "./recovery/reconcile.js";

export interface JobTrackerOptions {
  hypervisor: Hypervisor;
  journal: Journal;
  clock: Clock;
  timers: Timers;
  logger: Logger;
  diskSync: { request(vmUuid: string, cause: string): void; isPending(vmUuid: string): boolean };
  onJournaled(): void;
  /** How often to look for block jobs others started (0: never). */
  scanIntervalMs: number;
  /** Bound on each libvirt call of recovery and scans: a wedged libvirtd makes jobs unknown, not the agent stuck. */
  libvirtTimeoutMs?: number;
  /** Migrations the command executor is watching itself (migration.ts): scans leave them alone. */
  ownsJob?(jobId: string): boolean;
}

export interface RecoveryReport {
  domains: number;
  running: number;
  finished: number;
  unknown: number;
  /** Jobs others started while the agent was down, journaled now. */
  discovered: number;
  /** Domains whose disk chains changed since last reported: each got a disk sync. */
  chainsReported: number;
  libvirtError: string | null;
  durationMs: number;
}

/** libvirt's block job type names to ours ("backup" jobs are not tracked). */
const kindsByLibvirtType: Record<string, BlockJobKind> = { commit: "commit", active_commit: "active-commit", copy: "copy", pull: "pull" };
const outcomesByStatus: Record<string, "completed" | "failed" | "aborted"> = { completed: "completed", failed: "failed", canceled: "aborted" };
const executingStates: ReadonlySet<string> = new Set(["running", "blocked", "paused", "shutdown", "pmsuspended"]);
export const defaultScanIntervalMs = 5_000;
const defaultLibvirtTimeoutMs = 10_000;

/** One domain as recovery sees it: libvirt's facts and its parsed chains (null when the XML could not be read). */
interface DomainView {
  domain: DomainInfo;
  chains: DiskChain[] | null;
}

type Counts = Omit<RecoveryReport, "domains" | "libvirtError" | "durationMs">;

export class JobTracker {
  private chain: Promise<unknown> = Promise.resolve();
  private readonly unsubscribers: (() => void)[] = [];
  private cancelScan: Cancel | null = null;
  private stopped = false;

  constructor(private readonly options: JobTrackerOptions) {}

  /** Subscribes to libvirt's block-job events and reconnects; call before recover(). */
  start(): void {
    const { hypervisor } = this.options;
    this.unsubscribers.push(hypervisor.onBlockJob((event) => void this.enqueue(() => this.handleBlockJob(event))));
    this.unsubscribers.push(
      hypervisor.onConnectionChange((change) => {
        if (change === "restored") void this.enqueue(() => this.sweep(true));
      }),
    );
  }

  /** Recovery on start (see the file comment); then the periodic scan begins. */
  async recover(): Promise<RecoveryReport> {
    const report = await this.enqueue(() => this.runRecovery());
    this.scheduleScan();
    return report;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.cancelScan?.();
    for (const unsubscribe of this.unsubscribers.splice(0)) unsubscribe();
    await this.chain;
  }

  /** Counts of unresolved jobs by state, for metrics. */
  unresolvedCounts(): { running: number; unknown: number } {
    const jobs = this.options.journal.unresolvedJobs();
    return { running: jobs.filter((job) => job.state === "running").length, unknown: jobs.filter((job) => job.state === "unknown").length };
  }

  private enqueue<T>(step: () => Promise<T>): Promise<T> {
    const next = this.chain.then(step);
    this.chain = next.catch((error: unknown) => this.options.logger.error({ err: errorMessage(error) }, "job tracking step failed"));
    return next;
  }

  private call<T>(promise: Promise<T>): Promise<T> {
    return within(promise, this.options.libvirtTimeoutMs ?? defaultLibvirtTimeoutMs, this.options.timers, "libvirt");
  }

  private scheduleScan(): void {
    if (this.stopped || this.options.scanIntervalMs <= 0) return;
    this.cancelScan = this.options.timers.after(this.options.scanIntervalMs, () => {
      void this.enqueue(() => this.sweep(false)).finally(() => this.scheduleScan());
    });
  }

  private async runRecovery(): Promise<RecoveryReport> {
    const { clock, logger } = this.options;
    const startedMs = clock.monotonicMs();
    const { views, libvirtError, counts } = await this.reconcileAndDiscover(true);
    const report: RecoveryReport = { domains: views.size, ...counts, libvirtError, durationMs: Math.round(clock.monotonicMs() - startedMs) };
    logger.info(report, "recovery finished");
    return report;
  }

  /** A scan, or a full reconcile after libvirt came back: the same steps as recovery. */
  private async sweep(recovered: boolean): Promise<void> {
    if (this.stopped) return;
    const { counts, libvirtError } = await this.reconcileAndDiscover(recovered);
    if (counts.finished + counts.discovered + counts.chainsReported > 0 || recovered) {
      this.options.logger.info({ ...counts, libvirtError, recovered }, recovered ? "jobs reconciled after libvirt came back" : "job scan changed something");
    }
  }

  private async reconcileAndDiscover(recovered: boolean): Promise<{ views: Map<string, DomainView>; libvirtError: string | null; counts: Counts }> {
    const counts: Counts = { running: 0, finished: 0, unknown: 0, discovered: 0, chainsReported: 0 };
    let domains: DomainInfo[] | null = null;
    let libvirtError: string | null = null;
    try {
      domains = await this.call(this.options.hypervisor.listDomains());
    } catch (error) {
      libvirtError = errorMessage(error);
    }
    // A periodic scan leaves running block jobs to libvirt's events: resolving one from the chain here
    // would race its completion event (which would then look like a second job). Recovery and the
    // sweep after a reconnect (events of the gap are lost) reconcile them all.
    // Migrations send no event when they end: one re-adopted by recovery (the agent restarted while
    // it ran) is re-reconciled by every scan until it ends, unless the executor watches it itself.
    const owned = (job: JobRecord) => this.options.ownsJob?.(job.jobId) === true;
    const watchedByScan = (job: JobRecord) => job.state === "unknown" || job.kind === "migrate-out";
    const jobs = this.options.journal.unresolvedJobs().filter((job) => !owned(job) && (recovered || watchedByScan(job)));
    const views = domains === null ? new Map<string, DomainView>() : await this.readViews(domains, new Set(jobs.map((job) => job.vmUuid)));
    for (const job of jobs) {
      const verdict = reconcileJob(job, await this.observe(job, views, libvirtError));
      this.applyVerdict(job, verdict, recovered || job.state === "unknown");
      counts[verdict.kind] += 1;
    }
    if (domains !== null) {
      for (const view of views.values()) {
        counts.discovered += await this.discover(view, recovered);
        if (this.requestSyncIfChanged(view)) counts.chainsReported += 1;
      }
    }
    return { views, libvirtError, counts };
  }

  /** XML of every executing domain and of every domain a job names; an unreadable XML gets a retrying disk sync. */
  private async readViews(domains: DomainInfo[], withJobs: ReadonlySet<string>): Promise<Map<string, DomainView>> {
    const views = new Map<string, DomainView>();
    for (const domain of domains) {
      if (!executingStates.has(domain.state) && !withJobs.has(domain.uuid)) {
        views.set(domain.uuid, { domain, chains: null });
        continue;
      }
      try {
        views.set(domain.uuid, { domain, chains: diskChains(await this.call(this.options.hypervisor.getDomainXml(domain.uuid))) });
      } catch (error) {
        this.options.logger.warn({ vm: domain.name, err: errorMessage(error) }, "could not read the domain XML; a disk sync will retry");
        views.set(domain.uuid, { domain, chains: null });
        this.options.diskSync.request(domain.uuid, "recovery");
      }
    }
    return views;
  }

  private async observe(job: JobRecord, views: Map<string, DomainView>, libvirtError: string | null): Promise<Observation> {
    const view = views.get(job.vmUuid);
    const observation: Observation = { libvirtError, domain: view === undefined ? null : { state: view.domain.state, reason: view.domain.reason }, blockJobType: null, domainJobOperation: null, chainNow: null };
    if (libvirtError !== null || view === undefined) return observation;
    const { hypervisor } = this.options;
    try {
      if (isBlockJobKind(job.kind)) {
        if (executingStates.has(view.domain.state)) observation.blockJobType = (await this.call(hypervisor.getBlockJobInfo(job.vmUuid, job.disk)))?.type ?? null;
        observation.chainNow = view.chains?.find((chain) => chain.target === job.disk)?.files ?? null;
      } else if (executingStates.has(view.domain.state)) {
        observation.domainJobOperation = await this.migrationJobOperation(job, observation);
      }
    } catch (error) {
      observation.libvirtError = errorMessage(error);
    }
    return observation;
  }

  /**
   * The domain job running on a migrating domain. libvirt refuses job stats of a domain that is
   * not running: one that stopped since it was listed (its migration just ended) has no job, and
   * `observation.domain` is updated to what libvirt shows now.
   */
  private async migrationJobOperation(job: JobRecord, observation: Observation): Promise<string | null> {
    const { hypervisor } = this.options;
    try {
      const domainJob = await this.call(hypervisor.getJobStats(job.vmUuid));
      return domainJob.type === "none" ? null : domainJob.operation;
    } catch (error) {
      const now = await this.call(hypervisor.lookupDomain(job.vmUuid));
      if (now === null || executingStates.has(now.state)) throw error;
      observation.domain = { state: now.state, reason: now.reason };
      return null;
    }
  }

  private applyVerdict(job: JobRecord, verdict: Verdict, recovered: boolean): void {
    const { journal, clock, logger } = this.options;
    const log = logger.child({ vm: job.vmUuid, job: job.jobId });
    const now = clock.nowMs();
    let changed = false;
    switch (verdict.kind) {
      case "running":
        changed = journal.setJobState(job.jobId, "running", "", now, recovered);
        if (changed || recovered) log.info({ kind: job.kind, disk: job.disk }, "job re-adopted: still running");
        break;
      case "unknown":
        changed = journal.setJobState(job.jobId, "unknown", verdict.detail, now, recovered);
        if (changed) log.warn({ kind: job.kind, detail: verdict.detail }, "job state unknown");
        break;
      case "finished":
        changed = journal.finishJob(job.jobId, { outcome: verdict.outcome, detail: verdict.detail }, now, recovered);
        if (changed) {
          log.info({ kind: job.kind, outcome: verdict.outcome, detail: verdict.detail, recovered }, "job finished");
          if (isBlockJobKind(job.kind)) this.options.diskSync.request(job.vmUuid, "job");
        }
        break;
    }
    if (changed) this.options.onJournaled();
  }

  /** Journals block jobs running on the view's disks that the journal does not know yet. */
  private async discover(view: DomainView, recovered: boolean): Promise<number> {
    if (view.chains === null || !executingStates.has(view.domain.state)) return 0;
    let discovered = 0;
    for (const chain of view.chains) {
      if (this.options.journal.unresolvedJobOn(view.domain.uuid, chain.target) !== null) continue;
      let type: string | null;
      try {
        type = (await this.call(this.options.hypervisor.getBlockJobInfo(view.domain.uuid, chain.target)))?.type ?? null;
      } catch {
        continue; // a driver without block jobs (the test driver), or a disk that just went away
      }
      const kind = type === null ? undefined : kindsByLibvirtType[type];
      if (kind === undefined) continue;
      if (this.beginObservedJob(view.domain, chain, kind, recovered) !== null) discovered += 1;
    }
    return discovered;
  }

  private beginObservedJob(domain: DomainInfo, chain: DiskChain | null, kind: BlockJobKind, recovered: boolean): JobRecord | null {
    const { journal, clock, logger } = this.options;
    const files = chain?.files ?? [];
    const target = chain?.mirror?.file ?? (kind === "pull" ? (files[0] ?? "") : "");
    const job = journal.beginJob({ vmUuid: domain.uuid, kind, disk: chain?.target ?? "", chainBefore: files, top: kind === "active-commit" ? (files[0] ?? "") : "", target, commandId: "" }, clock.nowMs(), recovered);
    if (job !== null) {
      logger.info({ vm: domain.name, job: job.jobId, kind, disk: job.disk, chain: files.join(" <- ") }, "block job seen");
      this.options.onJournaled();
    }
    return job;
  }

  /**
   * Asks the disk sync to report a domain's chains when they differ from those last reported (a
   * job that ran entirely while the agent was down, a snapshot taken by hand): the sync confirms
   * them on storage first and retries while it cannot.
   */
  private requestSyncIfChanged(view: DomainView): boolean {
    if (view.chains === null) return false;
    const disks = view.chains.map(({ target, files }) => ({ target, files }));
    const reported = this.options.journal.reportedDisks(view.domain.uuid);
    // A domain without disks has nothing to tell until it had some.
    if ((reported === null && disks.length === 0) || JSON.stringify(reported) === JSON.stringify(disks)) return false;
    if (this.options.diskSync.isPending(view.domain.uuid)) return false;
    this.options.diskSync.request(view.domain.uuid, "chain changed");
    return true;
  }

  private async handleBlockJob(event: BlockJobEvent): Promise<void> {
    const kind = kindsByLibvirtType[event.jobType];
    if (kind === undefined || this.stopped) return;
    const { journal, hypervisor, logger } = this.options;
    logger.info({ vm: event.name, disk: event.disk, jobType: event.jobType, status: event.status }, "block job event");
    let job = journal.unresolvedJobOn(event.uuid, event.disk);
    if (job === null) {
      // Started by someone else and never seen by a scan: journal it now, with the chain as it is.
      const domain = await this.call(hypervisor.lookupDomain(event.uuid)).catch(() => null);
      const xml = domain === null ? null : await this.call(hypervisor.getDomainXml(event.uuid)).catch(() => null);
      const chain = xml === null ? null : (diskChains(xml).find((disk) => disk.target === event.disk) ?? null);
      const known = domain ?? { name: event.name, uuid: event.uuid, state: "running" as const, reason: "", vcpus: 0, memoryBytes: 0, persistent: false };
      job = this.beginObservedJob(known, chain ?? { target: event.disk, files: [], mirror: null }, kind, false);
      if (job === null) return;
    }
    const outcome = outcomesByStatus[event.status];
    if (outcome === undefined) {
      // "ready": the job runs (waiting for pivot); an unknown one is known again.
      this.applyVerdict(job, { kind: "running" }, false);
      return;
    }
    this.applyVerdict(job, { kind: "finished", outcome, detail: `libvirt reported ${event.status}` }, false);
  }
}
