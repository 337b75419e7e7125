// Adjudication of a migration whose outcome the migration call did not prove (DESIGN §8): the
// call failed, timed out, or the source agent dropped mid-migration. libvirt may have finished
// the migration, or may still be converging, while the call reports failure; rolling back at once
// would hand the VM back to a source that no longer runs it. So both hosts are asked for the VM's
// state, and only what they report decides. Pure: the caller queries the agents, keeps the
// recheck timer and performs the verdict.

/** What one agent answered about the VM, or why no answer came. */
export type HostReport = { known: true; state: string; reason: string } | { known: false; why: string };

export interface AdjudicationInput {
  source: HostReport;
  destination: HostReport;
  /** The VM was paused when the migration started: landing paused on the destination is success. */
  originWasPaused: boolean;
  /** Why adjudication runs: the migration call's error, its timeout, or the source agent dropping. */
  trigger: string;
  /** When adjudication began (the first recheck counts from here). */
  startedAtMs: number;
  nowMs: number;
  recheckIntervalMs: number;
  recheckTimeoutMs: number;
}

export type Verdict =
  /** Run the normal success path: ownership moves, post-migrate then after-migrate, skip-trace released. */
  | { kind: "succeeded"; detail: string }
  /** The VM stays owned by the source; the job fails with `detail`. */
  | { kind: "rolled-back"; detail: string }
  /** Ask both agents again at `atMs`; `remainingMs` is shown to operators waiting on the job. */
  | { kind: "recheck"; atMs: number; remainingMs: number; detail: string };

/** Running counts as alive; so does paused, but only when the VM was paused before it left. */
function isAlive(report: HostReport & { known: true }, originWasPaused: boolean): boolean {
  return report.state === "running" || (originWasPaused && report.state === "paused");
}

function describe(side: string, report: HostReport): string {
  return report.known ? `${side} reports ${report.state}/${report.reason}` : `${side} unknown (${report.why})`;
}

/**
 * libvirt holds the destination's QEMU paused with reason "migration" until the switch-over: the
 * migration may still converge and land, so this is neither alive nor proof that it failed. (A VM
 * that was paused before it left may land paused for good; then paused counts as alive, above.)
 */
function isIncoming(report: HostReport, originWasPaused: boolean): boolean {
  return report.known && !originWasPaused && report.state === "paused" && report.reason === "migration";
}

export function adjudicate(input: AdjudicationInput): Verdict {
  const { source, destination, originWasPaused } = input;
  const seen = `${describe("destination", destination)}; ${describe("source", source)}`;
  const incoming = isIncoming(destination, originWasPaused);
  // A destination that answers "not alive" proves the VM never left the source's ownership:
  // whatever the source says, nothing runs on the destination to hand over to.
  if (destination.known && !incoming && !isAlive(destination, originWasPaused)) {
    return { kind: "rolled-back", detail: `migration failed (${input.trigger}): ${seen}` };
  }
  // Success needs both halves proven: the destination alive AND the source confirmed not alive.
  // An unknown source is never taken as "not alive" (the VM would then run on two hosts).
  if (destination.known && !incoming && source.known && !isAlive(source, originWasPaused)) {
    return { kind: "succeeded", detail: `migration call failed (${input.trigger}) but the migration completed: ${seen}` };
  }
  // Both alive (still converging), or an agent did not answer: wait and ask again, within the bound.
  const elapsedMs = input.nowMs - input.startedAtMs;
  const remainingMs = input.recheckTimeoutMs - elapsedMs;
  if (remainingMs > 0) {
    return { kind: "recheck", atMs: input.nowMs + Math.min(input.recheckIntervalMs, remainingMs), remainingMs, detail: seen };
  }
  const bothAlive = destination.known && !incoming && source.known;
  return {
    kind: "rolled-back",
    detail: bothAlive
      ? `migration call failed (${input.trigger}) while the VM may still be migrating: both hosts still ran it after ${input.recheckTimeoutMs} ms of rechecks (${seen})`
      : `migration call failed (${input.trigger}) and no proof of its outcome came within ${input.recheckTimeoutMs} ms of rechecks (${seen}); the VM stays with its source`,
  };
}
