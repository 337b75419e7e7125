// Whether a VM's jobs forbid HA and migration from touching it (DESIGN §9: unknown is not
// finished). Pure. An unknown job means the agent cannot prove how a block job or migration
// ended: restarting or moving the VM could run it on a disk chain that is not what vigil thinks.
// A running job does not block: its host either finishes it (and reports) or dies, and a dead
// host's VM restarted elsewhere gets its disks synchronized (job-watch.ts).
import type { VmJobRecord } from "../state/store.js";

/** The reason HA and migration must leave the VM alone, or null. `jobs` are the VM's jobs (any order). */
export function unresolvedJobBlocker(jobs: readonly Pick<VmJobRecord, "state" | "kind" | "jobId" | "host" | "detail" | "escalated">[]): string | null {
  const unknown = jobs.filter((job) => job.state === "unknown").sort((a, b) => a.host.localeCompare(b.host) || a.jobId.localeCompare(b.jobId));
  const first = unknown[0];
  if (first === undefined) return null;
  const more = unknown.length > 1 ? ` (and ${unknown.length - 1} more)` : "";
  const escalated = first.escalated ? "; escalated: check the disk chain by hand" : "";
  return `${first.kind} job ${first.jobId} on ${first.host} is unknown${more}: ${first.detail}${escalated}`;
}

/** The blocker of every VM that has one, from all unresolved jobs of the cluster (StateReader.unresolvedJobs). */
export function jobBlockersByVm(jobs: readonly VmJobRecord[]): Map<string, string> {
  const byVm = new Map<string, VmJobRecord[]>();
  for (const job of jobs) byVm.set(job.vmUuid, [...(byVm.get(job.vmUuid) ?? []), job]);
  const blockers = new Map<string, string>();
  for (const [vmUuid, vmJobs] of byVm) {
    const blocker = unresolvedJobBlocker(vmJobs);
    if (blocker !== null) blockers.set(vmUuid, blocker);
  }
  return blockers;
}
