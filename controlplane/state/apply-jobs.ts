// Applies the agents' job and disk-chain events and the primary's job commands to vm_jobs,
// vm_disks and vm_disk_syncs (DESIGN §9). Part of apply: deterministic, inside the batch
// transaction, times only from the entry (the proposer's atMs).
//
// 1. A job is keyed by (host, job id). A finished job never changes again.
// 2. "unknown" starts the job.unknownTimeout clock (unknown_since_ms); "running" again clears it.
// 3. A VM reported executing on another host while a block job is unresolved records that host
//    (moved_to): the primary then asks it to synchronize the VM's disks (job-duty.ts).
// 4. A synced chain from the host the VM moved to resolves the job when the chain proves its end
//    (common/block-job-proof.ts); otherwise the job stays as it was. Nothing is guessed.
import type { DiskChainReport__Output } from "../../common/generated/vigil/v1/DiskChainReport.js";
import type { JobFinished__Output } from "../../common/generated/vigil/v1/JobFinished.js";
import type { JobStarted__Output } from "../../common/generated/vigil/v1/JobStarted.js";
import { isBlockJobKind, proveFromChain } from "../../common/block-job-proof.js";
import type { Statement } from "better-sqlite3";
import type { StateCommand } from "./commands.js";
import type { StateReader, VmJobRecord } from "./store.js";

export interface JobApplyContext {
  atMs: number;
  event(event: { kind: string; host?: string; vm?: string; job?: string; message: string }): void;
}

/** Finished jobs kept per VM for `vm show`; older ones are dropped as new ones finish. */
export const finishedJobsPerVmMax = 10;
const executingStates: ReadonlySet<string> = new Set(["running", "blocked", "paused", "shutdown", "pmsuspended"]);

function chainText(files: readonly string[]): string {
  return files.length === 0 ? "-" : files.join(" <- ");
}

export class JobApplier {
  constructor(
    private readonly statement: (sql: string) => Statement,
    private readonly reader: StateReader,
  ) {}

  private vmName(uuid: string): string {
    return this.reader.vmByUuid(uuid)?.name ?? uuid;
  }

  private describe(job: Pick<VmJobRecord, "kind" | "jobId" | "host">): string {
    return `${job.kind} job ${job.jobId} on ${job.host}`;
  }

  jobStarted(context: JobApplyContext, host: string, started: JobStarted__Output, recovered: boolean): void {
    const uuid = started.vmUuid.toLowerCase();
    const existing = this.reader.vmJob(host, started.jobId);
    const vm = this.vmName(uuid);
    const tag = recovered ? " (recovered)" : "";
    if (existing === undefined) {
      this.statement(
        `INSERT INTO vm_jobs (host, job_id, vm_uuid, kind, disk, state, outcome, detail, recovered, chain_before, top, target, command_id, started_ms, updated_ms)
         VALUES (?, ?, ?, ?, ?, 'running', '', '', ?, ?, ?, ?, ?, ?, ?)`,
      ).run(host, started.jobId, uuid, started.kind, started.disk, recovered ? 1 : 0, JSON.stringify(started.chainBefore), started.top, started.target, started.commandId, context.atMs, context.atMs);
      const disk = started.disk === "" ? "" : ` (disk ${started.disk}: ${chainText(started.chainBefore)})`;
      return context.event({ kind: "job", host, vm, job: started.jobId, message: `vm ${vm}: ${started.kind} job ${started.jobId} on ${host} running${disk}${tag}` });
    }
    if (existing.state !== "unknown") return;
    this.statement("UPDATE vm_jobs SET state = 'running', detail = '', unknown_since_ms = 0, updated_ms = ? WHERE host = ? AND job_id = ?").run(context.atMs, host, started.jobId);
    context.event({ kind: "job", host, vm, job: started.jobId, message: `vm ${vm}: ${this.describe(existing)}: unknown => running${tag}` });
  }

  jobFinished(context: JobApplyContext, host: string, finished: JobFinished__Output, recovered: boolean): void {
    const uuid = finished.vmUuid.toLowerCase();
    const vm = this.vmName(uuid);
    let existing = this.reader.vmJob(host, finished.jobId);
    if (existing?.state === "finished") return;
    if (existing === undefined) {
      // The agent journals JobStarted first; a lost start (journal replaced) still gets a row.
      this.statement(
        `INSERT INTO vm_jobs (host, job_id, vm_uuid, kind, disk, state, outcome, detail, recovered, chain_before, top, target, command_id, started_ms, updated_ms)
         VALUES (?, ?, ?, ?, ?, 'running', '', '', 0, '[]', '', '', '', ?, ?)`,
      ).run(host, finished.jobId, uuid, finished.kind, finished.disk, context.atMs, context.atMs);
      existing = this.reader.vmJob(host, finished.jobId)!;
    }
    const tag = recovered ? " (recovered)" : "";
    if (finished.outcome === "unknown") {
      if (existing.state === "unknown") return;
      this.statement("UPDATE vm_jobs SET state = 'unknown', detail = ?, unknown_since_ms = ?, updated_ms = ? WHERE host = ? AND job_id = ?").run(finished.error, context.atMs, context.atMs, host, finished.jobId);
      return context.event({ kind: "job", host, vm, job: finished.jobId, message: `vm ${vm}: ${this.describe(existing)}: ${existing.state} => unknown: ${finished.error}${tag}` });
    }
    this.finish(context, existing, { outcome: finished.outcome, detail: finished.error, recovered });
  }

  private finish(context: JobApplyContext, job: VmJobRecord, end: { outcome: string; detail: string; recovered: boolean }): void {
    this.statement("UPDATE vm_jobs SET state = 'finished', outcome = ?, detail = ?, recovered = ?, updated_ms = ? WHERE host = ? AND job_id = ?")
      .run(end.outcome, end.detail, end.recovered ? 1 : 0, context.atMs, job.host, job.jobId);
    const vm = this.vmName(job.vmUuid);
    const why = end.detail === "" ? "" : ` (${end.detail})`;
    context.event({ kind: "job", host: job.host, vm, job: job.jobId, message: `vm ${vm}: ${this.describe(job)}: ${job.state} => finished, ${end.outcome}${why}${end.recovered ? " (recovered)" : ""}` });
    this.statement(
      `DELETE FROM vm_jobs WHERE vm_uuid = ? AND state = 'finished' AND rowid NOT IN
         (SELECT rowid FROM vm_jobs WHERE vm_uuid = ? AND state = 'finished' ORDER BY updated_ms DESC, job_id DESC LIMIT ?)`,
    ).run(job.vmUuid, job.vmUuid, finishedJobsPerVmMax);
  }

  diskChain(context: JobApplyContext, host: string, report: DiskChainReport__Output): void {
    const uuid = report.vmUuid.toLowerCase();
    const vm = this.vmName(uuid);
    const previous = this.reader.vmDiskSync(uuid);
    const state = report.pending ? "pending" : report.error !== "" ? "failed" : "synced";
    this.statement(
      `INSERT INTO vm_disk_syncs (vm_uuid, host, state, error, attempts, updated_ms) VALUES (?, ?, ?, ?, ?, ?)
       ON CONFLICT (vm_uuid) DO UPDATE SET host = excluded.host, state = excluded.state, error = excluded.error, attempts = excluded.attempts, updated_ms = excluded.updated_ms`,
    ).run(uuid, host, state, report.error, report.attempts, context.atMs);
    if (state !== "synced") {
      if (previous?.state === state && previous.host === host) return;
      return context.event({ kind: "disk", host, vm, message: `vm ${vm}: disk sync ${state} on ${host} (attempt ${report.attempts}): ${report.error}` });
    }
    const before = this.reader.vmDisks(uuid);
    const unchanged = previous?.state === "synced" && before.length === report.disks.length && before.every((disk, index) => disk.host === host && disk.target === report.disks[index]?.target && JSON.stringify(disk.files) === JSON.stringify(report.disks[index]?.files));
    this.statement("DELETE FROM vm_disks WHERE vm_uuid = ?").run(uuid);
    for (const disk of report.disks) {
      this.statement("INSERT INTO vm_disks (vm_uuid, target, host, files, synced_ms) VALUES (?, ?, ?, ?, ?)").run(uuid, disk.target, host, JSON.stringify(disk.files), context.atMs);
    }
    if (!unchanged) {
      const disks = report.disks.map((disk) => `${disk.target} ${chainText(disk.files)}`).join("; ") || "no disks";
      context.event({ kind: "disk", host, vm, message: `vm ${vm}: disks synced on ${host}: ${disks}` });
    }
    this.resolveMovedJobs(context, host, uuid, report);
  }

  /** Invariant 4: the chain on the host the VM moved to may prove how a job on the old host ended. */
  private resolveMovedJobs(context: JobApplyContext, host: string, uuid: string, report: DiskChainReport__Output): void {
    const owner = this.reader.vmByUuid(uuid)?.host ?? null;
    for (const job of this.reader.vmJobs(uuid)) {
      if (job.state === "finished" || job.host === host || !isBlockJobKind(job.kind)) continue;
      const moved = job.movedTo === host || job.syncRequestedOn === host || owner === host;
      if (!moved) continue;
      const chain = report.disks.find((disk) => disk.target === job.disk);
      if (chain === undefined) continue;
      const proof = proveFromChain({ kind: job.kind, chainBefore: job.chainBefore, top: job.top, target: job.target }, chain.files);
      if (proof === null) continue;
      this.finish(context, job, { outcome: proof.outcome, detail: `${proof.detail}, per the chain on ${host}`, recovered: true });
    }
  }

  /** Invariant 3: `host` reported the VM; note it on unresolved jobs of other hosts. */
  noteSighting(context: JobApplyContext, host: string, uuid: string, domainState: string): void {
    if (!executingStates.has(domainState)) return;
    for (const job of this.reader.vmJobs(uuid)) {
      // Migrations are adjudicated by the migration duty: their VM is meant to show up elsewhere.
      if (job.state === "finished" || job.host === host || job.movedTo === host || !isBlockJobKind(job.kind)) continue;
      this.statement("UPDATE vm_jobs SET moved_to = ? WHERE host = ? AND job_id = ?").run(host, job.host, job.jobId);
      const vm = this.vmName(uuid);
      context.event({ kind: "job", host, vm, job: job.jobId, message: `vm ${vm}: runs on ${host} while its ${this.describe(job)} is ${job.state}: its disks need a sync on ${host}` });
    }
  }

  command(context: JobApplyContext, command: Extract<StateCommand, { kind: "DiskSyncRequested" | "JobEscalated" }>): void {
    const job = this.reader.vmJob(command.jobHost, command.jobId);
    if (job === undefined || job.state === "finished") return;
    const vm = this.vmName(job.vmUuid);
    if (command.kind === "DiskSyncRequested") {
      this.statement("UPDATE vm_jobs SET sync_requested_on = ? WHERE host = ? AND job_id = ?").run(command.hostId, job.host, job.jobId);
      return context.event({ kind: "job", host: command.hostId, vm, job: job.jobId, message: `vm ${vm}: moved to ${command.hostId} before its ${this.describe(job)} resolved: synchronizing disks on ${command.hostId}` });
    }
    if (job.state !== "unknown" || job.escalated) return;
    this.statement("UPDATE vm_jobs SET escalated = 1 WHERE host = ? AND job_id = ?").run(job.host, job.jobId);
    const seconds = Math.round(command.unknownForMs / 1000);
    context.event({ kind: "error", host: job.host, vm, job: job.jobId, message: `vm ${vm}: ${this.describe(job)} unknown for ${seconds} s (job.unknownTimeout): check its disk chain by hand; HA and migration leave the VM alone until it resolves` });
  }
}
