// May HA (or, later, migration) touch this VM now? One pure predicate, so that the VM sync, the
// restart planner and the migration orchestration agree on what keeps a VM off limits (DESIGN §7).
// Pure: no clock, no I/O; the caller passes the facts it read from replicated state.

/** A skip-trace entry as the predicate needs it (state/store.ts SkipTraceRecord satisfies it). */
export interface TracedOperation {
  operation: string;
  term: number;
  host: string;
  orphanedAtMs: number | null;
  /** The operation's command id; a migration's entry carries its job id (state/apply-orchestrations.ts). */
  commandId?: string;
}

export interface VmBlockerFacts {
  /** The VM's skip-trace entry, live or orphaned, if any. */
  skipTrace: TracedOperation | undefined;
  /** Why the VM's jobs keep it off limits (job-blocker.ts: an unknown job), or null. */
  jobBlocker?: string | null;
}

/** Why the VM must be left alone now, or null when HA may act on it. */
export function vmBlocker(facts: VmBlockerFacts): string | null {
  // Unknown is not finished (DESIGN §9): restarting or moving the VM could run it on a disk chain vigil cannot vouch for.
  if (facts.jobBlocker !== undefined && facts.jobBlocker !== null) return `blocked: ${facts.jobBlocker}`;
  const entry = facts.skipTrace;
  if (entry === undefined) return null;
  if (entry.orphanedAtMs !== null) {
    return `skip-traced: ${entry.operation} on ${entry.host} of departed primary term ${entry.term} (orphaned, waiting for its result or vm.orphanedSkipTimeout)`;
  }
  if (entry.operation === "migrate" && entry.commandId !== undefined) return `held by job ${entry.commandId} (migrate from ${entry.host}, term ${entry.term})`;
  return `skip-traced: ${entry.operation} on ${entry.host} in flight (term ${entry.term})`;
}
