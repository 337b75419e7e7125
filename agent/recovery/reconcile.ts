// Reconciling a journaled job with what libvirt shows now (DESIGN §9). Pure: the edge
// (job-tracker.ts) gathers an Observation, this decides, the edge journals the verdict.
//
// 1. libvirt not answering, or the domain not defined here => unknown. Never guess finished.
// 2. The job still runs in libvirt (block job on the disk, migration job on the domain) => running.
// 3. A block job that is gone: the live chain proves completed or aborted
//    (common/block-job-proof.ts); a domain that stopped before an active commit or copy pivoted
//    aborted it; anything else => unknown.
// 4. A migration that is gone (an incoming one whose domain is not here never arrived): out => completed when the domain stopped with reason "migrated" or
//    left the host, failed when it still executes here; in => completed when the domain executes
//    here, failed when it is gone or stopped.
import { isBlockJobKind, proveFromChain } from "../../common/block-job-proof.js";
import type { JobOutcome, JobRecord } from "../journal.js";

export interface Observation {
  /** null when libvirt answered; otherwise why it did not. */
  libvirtError: string | null;
  domain: { state: string; reason: string } | null;
  /** The libvirt block job type running on the job's disk ("active_commit", ...), or null. */
  blockJobType: string | null;
  /** The domain job running now ("migration_out", ...), or null. */
  domainJobOperation: string | null;
  /** The disk's live chain, top first; null when the disk is not in the XML or the XML was not read. */
  chainNow: string[] | null;
}

export type Verdict =
  | { kind: "running" }
  | { kind: "finished"; outcome: JobOutcome; detail: string }
  | { kind: "unknown"; detail: string };

const executingStates: ReadonlySet<string> = new Set(["running", "blocked", "paused", "shutdown", "pmsuspended"]);

/** libvirt's block-job type names for each of our kinds. */
const libvirtBlockJobTypes: Record<string, readonly string[]> = {
  commit: ["commit", "active_commit"],
  "active-commit": ["active_commit", "commit"],
  copy: ["copy"],
  pull: ["pull"],
};

export function reconcileJob(job: JobRecord, observation: Observation): Verdict {
  if (observation.libvirtError !== null) return { kind: "unknown", detail: `libvirt is not answering: ${observation.libvirtError}` };
  if (observation.domain === null) {
    // An incoming migration defines its domain first: none here means it never arrived.
    if (job.kind === "migrate-in") return { kind: "finished", outcome: "failed", detail: "the domain never arrived on this host" };
    return { kind: "unknown", detail: "the domain is no longer defined on this host" };
  }
  return isBlockJobKind(job.kind) ? reconcileBlockJob(job, observation) : reconcileMigration(job, observation);
}

function reconcileBlockJob(job: JobRecord, observation: Observation): Verdict {
  const expected = libvirtBlockJobTypes[job.kind] ?? [];
  if (observation.blockJobType !== null && expected.includes(observation.blockJobType)) return { kind: "running" };
  const chainNow = observation.chainNow;
  if (chainNow === null) return { kind: "unknown", detail: `disk ${job.disk} is not in the domain XML` };
  const proof = proveFromChain({ kind: job.kind as Parameters<typeof proveFromChain>[0]["kind"], chainBefore: job.chainBefore, top: job.top, target: job.target }, chainNow);
  if (proof !== null) return { kind: "finished", outcome: proof.outcome, detail: proof.detail };
  const pivots = job.kind === "active-commit" || job.kind === "copy";
  if (pivots && !executingStates.has(observation.domain!.state) && chainNow[0] === job.chainBefore[0]) {
    return { kind: "finished", outcome: "aborted", detail: `the domain stopped (${observation.domain!.reason}) before the job pivoted` };
  }
  return { kind: "unknown", detail: `the job is gone and the chain (${chainNow.join(" <- ")}) proves neither completion nor abort` };
}

function reconcileMigration(job: JobRecord, observation: Observation): Verdict {
  const domain = observation.domain!;
  const operation = job.kind === "migrate-out" ? "migration_out" : "migration_in";
  if (observation.domainJobOperation === operation) return { kind: "running" };
  const executing = executingStates.has(domain.state);
  if (job.kind === "migrate-out") {
    if (!executing && domain.reason === "migrated") return { kind: "finished", outcome: "completed", detail: "the domain stopped here because it migrated" };
    if (executing) return { kind: "finished", outcome: "failed", detail: `the domain still runs here (${domain.state}, ${domain.reason}) and no migration job is active` };
    return { kind: "unknown", detail: `the domain is ${domain.state} (${domain.reason}): not proof that it migrated` };
  }
  if (executing) return { kind: "finished", outcome: "completed", detail: `the domain runs here (${domain.state}, ${domain.reason})` };
  return { kind: "finished", outcome: "failed", detail: `the domain is ${domain.state} (${domain.reason}) here: it did not arrive` };
}
