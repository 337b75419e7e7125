// The primary's watch over unresolved agent jobs (DESIGN §9). Pure: (state, input, now) ->
// (state, effects); job-duty.ts performs the effects.
//
// 1. A VM that moved host before its block job resolved (another host reported it executing, or its
//    owner is now another host) gets its disks synchronized on the new host: first the request is
//    committed (DiskSyncRequested, visible in the event log), then SynchronizeDisks is sent to that
//    host's agent, again every `resendIntervalMs` while the host has not answered with a synced or
//    failed chain since the first send.
// 2. A job unknown for job.unknownTimeout is escalated once (JobEscalated): an error event, the job
//    stays unknown and keeps blocking HA and migration (job-blocker.ts). Never a guess.
// 3. Every effect is retried no faster than `resendIntervalMs` (a proposal or send may be lost
//    with a stream or a leader), so the duty is bounded.
import { isBlockJobKind } from "../../common/block-job-proof.js";
import type { VmDiskSyncRecord, VmJobRecord } from "../state/store.js";

export interface JobWatchInput {
  /** Jobs still running or unknown. */
  jobs: readonly VmJobRecord[];
  /** Owner host of each VM with an unresolved job (vms.host). */
  owners: ReadonlyMap<string, string | null>;
  /** The VM's last disk sync as applied, by VM uuid. */
  diskSyncs: ReadonlyMap<string, VmDiskSyncRecord>;
  connectedHosts: ReadonlySet<string>;
  unknownTimeoutMs: number;
}

export interface JobWatchState {
  /** When each effect was last issued, by key; in memory, per primary term. */
  readonly lastIssuedMs: ReadonlyMap<string, number>;
  /** When SynchronizeDisks was first sent for a job to a host, by key. */
  readonly firstSentMs: ReadonlyMap<string, number>;
}

export type JobWatchEffect =
  | { kind: "propose-sync-request"; vmUuid: string; hostId: string; jobHost: string; jobId: string }
  | { kind: "send-sync"; vmUuid: string; hostId: string; jobHost: string; jobId: string }
  | { kind: "escalate"; jobHost: string; jobId: string; unknownForMs: number };

export const resendIntervalMs = 30_000;

export function initialJobWatchState(): JobWatchState {
  return { lastIssuedMs: new Map(), firstSentMs: new Map() };
}

/** Where the VM of `job` runs now when that is not the job's host, else null. */
export function movedTo(job: Pick<VmJobRecord, "host" | "movedTo">, owner: string | null | undefined): string | null {
  if (job.movedTo !== "" && job.movedTo !== job.host) return job.movedTo;
  if (owner !== null && owner !== undefined && owner !== job.host) return owner;
  return null;
}

export function decideJobWatch(state: JobWatchState, input: JobWatchInput, nowMs: number): { state: JobWatchState; effects: JobWatchEffect[] } {
  const lastIssuedMs = new Map(state.lastIssuedMs);
  const firstSentMs = new Map(state.firstSentMs);
  const effects: JobWatchEffect[] = [];
  const due = (key: string) => {
    const last = lastIssuedMs.get(key);
    if (last !== undefined && nowMs - last < resendIntervalMs) return false;
    lastIssuedMs.set(key, nowMs);
    return true;
  };
  for (const job of input.jobs) {
    const id = `${job.host}/${job.jobId}`;
    // Only block jobs change disks; a migration's VM is meant to move (issue 8 adjudicates it).
    const target = isBlockJobKind(job.kind) ? movedTo(job, input.owners.get(job.vmUuid)) : null;
    if (target !== null) {
      const identity = { vmUuid: job.vmUuid, hostId: target, jobHost: job.host, jobId: job.jobId };
      const sendKey = `send:${id}>${target}`;
      if (job.syncRequestedOn !== target) {
        if (due(`request:${id}>${target}`)) effects.push({ kind: "propose-sync-request", ...identity });
      } else if (input.connectedHosts.has(target) && !answered(input.diskSyncs.get(job.vmUuid), target, firstSentMs.get(sendKey)) && due(sendKey)) {
        if (!firstSentMs.has(sendKey)) firstSentMs.set(sendKey, nowMs);
        effects.push({ kind: "send-sync", ...identity });
      }
    }
    const unknownForMs = nowMs - job.unknownSinceMs;
    if (job.state === "unknown" && !job.escalated && unknownForMs >= input.unknownTimeoutMs && due(`escalate:${id}`)) {
      effects.push({ kind: "escalate", jobHost: job.host, jobId: job.jobId, unknownForMs });
    }
  }
  return { state: { lastIssuedMs, firstSentMs }, effects };
}

/** The target answered our first send with a chain (synced) or a definite "not here" (failed). */
function answered(sync: VmDiskSyncRecord | undefined, target: string, firstSentMs: number | undefined): boolean {
  if (sync === undefined || firstSentMs === undefined) return false;
  return sync.host === target && sync.state !== "pending" && sync.updatedMs >= firstSentMs;
}
