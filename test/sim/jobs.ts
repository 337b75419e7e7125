// The control plane's jobs (migrations, flushes, unflushes) as the public API shows them: the
// simulator reads them through the production JobService handlers (controlplane/api/job-service.ts),
// not through the tables behind them, so scenarios, expectations and the job invariants follow the
// API contract (proto Job) whatever the schema.
import * as grpc from "@grpc/grpc-js";
import type { Job as JobInput, Job__Output } from "../../common/generated/vigil/v1/Job.js";
import type { JobServiceHandlers } from "../../common/generated/vigil/v1/JobService.js";
import { jobServiceHandlers } from "../../controlplane/api/job-service.js";
import { unaryCall, type ReplicaProcess } from "./replica-node.js";
import { codecs } from "./wire.js";

export type Job = Job__Output;

/** The job states no job leaves (control.proto Job.state). */
export const finalJobStates: ReadonlySet<string> = new Set(["succeeded", "rolled-back", "failed", "canceled"]);
export const jobStates: readonly string[] = ["pending", "running", "adjudicating", "succeeded", "rolled-back", "failed", "canceled"];

const handlersByProcess = new WeakMap<ReplicaProcess, JobServiceHandlers>();
const localHandlersByProcess = new WeakMap<ReplicaProcess, JobServiceHandlers>();

/**
 * The JobService handlers of one replica process, wired from its context as controlplane/server.ts
 * wires them (replica-node.ts does not hold them yet).
 */
export function jobHandlers(process: ReplicaProcess): JobServiceHandlers {
  let handlers = handlersByProcess.get(process);
  if (handlers === undefined) {
    handlers = jobServiceHandlers(process.context);
    handlersByProcess.set(process, handlers);
  }
  return handlers;
}

/**
 * The same handlers reading this replica's applied state without the read barrier: the barrier
 * (a Raft round trip, for a linearizable answer) would need simulated time and send messages,
 * and a checker must neither wait for the run nor change it. Expectations read the most caught-up
 * replica, as the other expectations do.
 */
function localJobHandlers(process: ReplicaProcess): JobServiceHandlers {
  let handlers = localHandlersByProcess.get(process);
  if (handlers === undefined) {
    const log = process.context.log;
    const localLog = new Proxy(log, {
      get(target, property) {
        if (property === "readBarrier") return () => Promise.resolve();
        const value: unknown = Reflect.get(target, property, target);
        return typeof value === "function" ? (value as (...args: unknown[]) => unknown).bind(target) : value;
      },
    });
    handlers = jobServiceHandlers({ ...process.context, log: localLog });
    localHandlersByProcess.set(process, handlers);
  }
  return handlers;
}

/** An API answer that is an error: the status name and its details, as the operator logs them. */
export class JobApiError extends Error {
  override name = "JobApiError";
}

/** JobService.List on `process`, read locally (it answers within the current event's microtasks). */
export function listJobs(process: ReplicaProcess, filter: { vm?: string; host?: string } = {}): Promise<Job[]> {
  return new Promise((resolve, reject) => {
    localJobHandlers(process).List(unaryCall({ vm: filter.vm ?? "", host: filter.host ?? "" }), (error, response) => {
      if (error !== null && error !== undefined) reject(new JobApiError(`JobService.List: ${grpc.status[error.code ?? grpc.status.UNKNOWN]}: ${error.details ?? ""}`));
      // Through the wire form, as a client decodes it: every field present, 64-bit numbers as numbers.
      else resolve(codecs().jobList.decode(codecs().jobList.encode(response ?? {})).jobs);
    });
  });
}

/** A handler's Job answer as a client decodes it (the wire form fills every field). */
export function decodedJob(job: JobInput): Job {
  return codecs().jobList.decode(codecs().jobList.encode({ jobs: [job] })).jobs[0]!;
}

/** Every job with its flush/unflush steps flattened in (a child migration appears once). */
export function withSteps(jobs: readonly Job[]): Job[] {
  const seen = new Map<string, Job>();
  const visit = (job: Job) => {
    if (!seen.has(job.id)) seen.set(job.id, job);
    for (const step of job.steps ?? []) visit(step);
  };
  for (const job of jobs) visit(job);
  return [...seen.values()];
}

/** Newest first: by start time, then in the list's own order (JobService lists newest first). */
function newestFirst(jobs: readonly Job[]): Job[] {
  return jobs
    .map((job, position) => ({ job, position }))
    .sort((a, b) => Number(b.job.startedMs) - Number(a.job.startedMs) || a.position - b.position)
    .map((entry) => entry.job);
}

export const jobRefUsage = "ID | latest | latest-migrate | latest-flush | latest-unflush | vm:NAME (the VM's newest job)";

/** The job a scenario names, or a sentence saying why there is none. */
export function resolveJob(jobs: readonly Job[], ref: string): Job | string {
  const all = withSteps(jobs);
  let candidates: Job[];
  if (ref === "latest") candidates = all;
  else if (ref.startsWith("latest-")) candidates = all.filter((job) => job.kind === ref.slice("latest-".length));
  else if (ref.startsWith("vm:")) candidates = all.filter((job) => job.vm === ref.slice(3));
  else {
    const job = all.find((candidate) => candidate.id === ref);
    return job ?? `no job ${ref} (the control plane lists ${all.length === 0 ? "no jobs" : all.map((candidate) => candidate.id).join(", ")})`;
  }
  const job = newestFirst(candidates)[0];
  return job ?? `no job matches ${ref} (the control plane lists ${all.length === 0 ? "no jobs" : `${all.length}: ${all.map((candidate) => `${candidate.id} ${candidate.kind}`).join(", ")}`})`;
}

/** One line about a job (a handler's answer or a listed one), for the log. */
export function describeJob(answer: JobInput): string {
  const job = decodedJob(answer);
  const subject = job.kind === "migrate" ? `${job.vm} ${job.host} -> ${job.target || "?"}${job.mode ? ` (${job.mode}${job.forceLive ? ", force-live" : ""})` : ""}` : `host ${job.host}`;
  const progress = job.totalBytes > 0 ? `, ${Math.round((Number(job.processedBytes) / Number(job.totalBytes)) * 100)}%` : "";
  const detail = [job.phase, job.error].filter((text) => text !== "").join("; ");
  return `job ${job.id} ${job.kind} ${subject}: ${job.state}${progress}${detail === "" ? "" : ` (${detail})`}${job.parent ? ` [step of ${job.parent}]` : ""}`;
}
