// What a migration job does next (DESIGN §8). Pure: the job as committed, a few facts the duty
// read (the committed result of the job's current command, whether the source agent still runs
// the migration, hosts' connectivity) and the time in; one action out. The migration duty
// (migration-duty.ts) performs it, commits what it learned, and asks again; because every
// decision starts from replicated state, a new primary continues exactly where the old stopped.
//  1. A pending job sends the migration call (MigrateDomain to the source) once.
//  2. The call's committed result decides: success runs the success path; failure adjudicates.
//     No result: while the source's agent reports the migration running and the deadline has not
//     passed, wait; otherwise adjudicate. A call sent by an earlier primary is never re-sent.
//  3. Adjudication (migration-adjudication.ts) rechecks within migration.recheckTimeout, counted
//     from its committed start.
//  4. A rolled-back verdict falls back to a shutdown migration only when the destination is known
//     not to run the VM, the source is known to run it, the job is not force-live, the VM's policy
//     allows it, and no cancel was asked; a cancel turns the rollback into "canceled".
//  5. The fallback's stages (shutdown, move the definition, start on the target) re-send their
//     own command id after a failover (the agent dedupes it) until the stage's deadline.
import type { DomainStatus__Output } from "../../common/generated/vigil/v1/DomainStatus.js";
import type { FallbackStage } from "../state/commands.js";
import type { JobRecord } from "../state/store.js";
import type { HostReport, Verdict } from "./migration-adjudication.js";
import { aliveDomainStates } from "../state/domain-states.js";

const succeededOutcomes: ReadonlySet<string> = new Set(["COMMAND_OUTCOME_SUCCEEDED", "COMMAND_OUTCOME_DUPLICATE"]);

export interface CommittedResult {
  outcome: string;
  error: string;
}

export interface MigrationFacts {
  /** The committed result of job.commandId, if it came. */
  result: CommittedResult | undefined;
  /** The source's agent reports this job's migrate-out as still running (its JobStarted, no JobFinished). */
  sourceStillMigrating: boolean;
  /** This primary sent job.commandId and still waits for its result. */
  awaitingResult: boolean;
  nowMs: number;
}

export type MigrationAction =
  /** Commit the next command (a new id) for `stage`, then send it. */
  | { kind: "send"; stage: FallbackStage; resend: false }
  /** Send job.commandId again (the fallback's stages: the agent dedupes it). */
  | { kind: "send"; stage: FallbackStage; resend: true }
  /** Nothing to do until `untilMs` (or a result arrives). */
  | { kind: "wait"; untilMs: number; why: string }
  | { kind: "begin-adjudication"; trigger: string }
  | { kind: "query-both" }
  /** The success entry; a shutdown migration then starts the VM on the target. */
  | { kind: "succeed"; detail: string; withStart: boolean }
  | { kind: "end"; state: "succeeded" | "rolled-back" | "failed" | "canceled"; error: string };

/** How often a duty looks again while it waits for a result it cannot be told about. */
export const migrationWatchIntervalMs = 1_000;

function failed(result: CommittedResult): string {
  return result.error || result.outcome;
}

export function nextMigrationAction(job: JobRecord, facts: MigrationFacts): MigrationAction {
  const { result, nowMs } = facts;
  if (job.state === "pending") return { kind: "send", stage: "", resend: false };
  if (job.state === "adjudicating") {
    return nowMs >= job.nextRecheckMs ? { kind: "query-both" } : { kind: "wait", untilMs: job.nextRecheckMs, why: "next adjudication recheck" };
  }
  switch (job.fallbackStage) {
    case "": {
      if (result !== undefined) return succeededOutcomes.has(result.outcome) ? { kind: "succeed", detail: "the migration call succeeded", withStart: false } : { kind: "begin-adjudication", trigger: `the migration call failed: ${failed(result)}` };
      if (facts.awaitingResult && nowMs < job.deadlineMs) return { kind: "wait", untilMs: Math.min(job.deadlineMs, nowMs + migrationWatchIntervalMs), why: "the migration call runs" };
      if (facts.sourceStillMigrating && nowMs < job.deadlineMs) return { kind: "wait", untilMs: Math.min(job.deadlineMs, nowMs + migrationWatchIntervalMs), why: "the source's agent reports the migration running" };
      const trigger = nowMs >= job.deadlineMs ? "no result of the migration call by its deadline (migration.timeout and a margin)" : job.commandTerm === 0 ? "no migration call on record" : "the migration call's result never arrived (the source agent dropped or the primary changed)";
      return { kind: "begin-adjudication", trigger };
    }
    case "shutdown":
    case "move":
    case "start": {
      const stage = job.fallbackStage;
      if (result === undefined) {
        if (facts.awaitingResult && nowMs < job.deadlineMs) return { kind: "wait", untilMs: Math.min(job.deadlineMs, nowMs + migrationWatchIntervalMs), why: `the ${stage} runs` };
        if (nowMs < job.deadlineMs) return { kind: "send", stage, resend: true };
        return { kind: "end", state: "failed", error: fallbackFailure(job, `no result of the ${stage} within its bound`) };
      }
      if (!succeededOutcomes.has(result.outcome)) return { kind: "end", state: "failed", error: fallbackFailure(job, `the ${stage} failed: ${failed(result)}`) };
      if (stage === "shutdown") return { kind: "send", stage: "move", resend: false };
      if (stage === "move") return { kind: "succeed", detail: `shutdown migration: the definition moved to ${job.target}`, withStart: true };
      return { kind: "end", state: "succeeded", error: "" };
    }
  }
}

/** What a failed fallback stage leaves behind, for the job's error. */
function fallbackFailure(job: JobRecord, what: string): string {
  switch (job.fallbackStage) {
    case "shutdown":
      return `shutdown migration: ${what}; the VM stays on ${job.host}`;
    case "move":
      return `shutdown migration: ${what}; the VM is shut off on ${job.host} (start it there with vigilctl vm start)`;
    default:
      return `shutdown migration: the VM moved to ${job.target} but ${what}; HA and the operator take it from here`;
  }
}

/** One agent's QueryDomain answer as adjudication reads it. */
export type QueryAnswer =
  | { kind: "answered"; outcome: string; error: string; domain: DomainStatus__Output | null; domainAbsent: boolean }
  | { kind: "no-answer"; why: string }
  /** The host is confirmed fenced (powered off): nothing runs there (DESIGN §8: it counts as "not alive"). */
  | { kind: "fenced" };

export function hostReport(answer: QueryAnswer): HostReport {
  switch (answer.kind) {
    case "fenced":
      return { known: true, state: "shutoff", reason: "host fenced" };
    case "no-answer":
      return { known: false, why: answer.why };
    case "answered":
      if (!succeededOutcomes.has(answer.outcome)) return { known: false, why: answer.error || answer.outcome };
      if (answer.domainAbsent) return { known: true, state: "absent", reason: "no such domain" };
      if (answer.domain === null) return { known: false, why: "the answer carried no domain" };
      return { known: true, state: answer.domain.state, reason: answer.domain.reason };
  }
}


export type VerdictAction =
  | { kind: "succeed"; detail: string }
  | { kind: "recheck"; count: number; atMs: number; deadlineMs: number; phase: string }
  | { kind: "fallback"; detail: string }
  | { kind: "end"; state: "rolled-back" | "canceled"; error: string };

/**
 * What the duty does with `verdict` (adjudicate()'s answer from `source` and `destination`).
 * `sourceStillMigrating`: the source's agent reports the migration still running, so a destination
 * not yet alive proves nothing: recheck (within the same bound) rather than roll back.
 */
export function actOnVerdict(
  job: JobRecord,
  verdict: Verdict,
  reports: { source: HostReport; destination: HostReport },
  context: {
    fallbackAllowed: boolean;
    sourceStillMigrating: boolean;
    /** Why the target cannot take the VM now (migration-target.ts targetProblem), or null: a fallback would shut the VM down for nothing. */
    targetProblem: string | null;
    nowMs: number;
    recheckIntervalMs: number;
    recheckTimeoutMs: number;
  },
): VerdictAction {
  const deadlineMs = job.adjudicationStartedMs + context.recheckTimeoutMs;
  const remainingMs = deadlineMs - context.nowMs;
  const recheck = (atMs: number, detail: string): VerdictAction => ({
    kind: "recheck",
    count: job.recheckCount + 1,
    atMs,
    deadlineMs,
    phase: `adjudicating: recheck ${job.recheckCount + 1}, ${Math.max(0, Math.ceil(remainingMs / 1000))} s left (${detail})`,
  });
  if (verdict.kind === "succeeded") return { kind: "succeed", detail: verdict.detail };
  if (verdict.kind === "recheck") return recheck(verdict.atMs, verdict.detail);
  if (context.sourceStillMigrating && remainingMs > 0) return recheck(context.nowMs + Math.min(context.recheckIntervalMs, remainingMs), `the source's agent reports the migration still running; ${verdict.detail}`);
  if (job.cancelRequested) return { kind: "end", state: "canceled", error: `canceled by an operator; ${verdict.detail}` };
  const { source, destination } = reports;
  const destinationDown = destination.known && !aliveDomainStates.has(destination.state);
  const sourceRuns = source.known && source.state === "running";
  const fallbackPossible = destinationDown && sourceRuns && job.mode === "live";
  if (fallbackPossible && !job.forceLive && context.fallbackAllowed && context.targetProblem === null) return { kind: "fallback", detail: verdict.detail };
  const why = !fallbackPossible
    ? ""
    : job.forceLive
      ? "; force-live: no fallback"
      : !context.fallbackAllowed
        ? "; the VM's migration fallback is off"
        : `; no shutdown migration: ${context.targetProblem}`;
  return { kind: "end", state: "rolled-back", error: `${verdict.detail}${why}` };
}
