// JobService: the control plane's orchestrations (DESIGN §8): migrations, flushes, unflushes and
// their steps, from replicated state; Cancel is a committed request. List and Get read this
// replica's applied state without a read barrier: `--wait` polls them once a second, and a
// follower's view lags the leader's only by its apply delay (the job's updated_ms says how fresh).
import type { Job } from "../../common/generated/vigil/v1/Job.js";
import type { JobServiceHandlers } from "../../common/generated/vigil/v1/JobService.js";
import { hostIdProblem, isVmName } from "../../common/validate.js";
import type { ControlPlaneContext } from "../context.js";
import { finalJobStates } from "../state/commands.js";
import type { JobRecord } from "../state/store.js";
import { failedPrecondition, invalidArgument, notFound, unary } from "./status.js";
import { fullJobView } from "./views.js";

/** `job list` shows the newest jobs up to this many. */
export const jobListMax = 500;

export function jobServiceHandlers(context: ControlPlaneContext): JobServiceHandlers {
  const { log, reader, logger } = context;
  const existingJob = (id: string): JobRecord => {
    if (id.length === 0 || id.length > 128 || /[\u0000-\u001f\u007f]/.test(id)) throw invalidArgument("id", "job id must be 1 to 128 printable characters");
    const job = reader.job(id);
    if (job === undefined) throw notFound(`job "${id}"`);
    return job;
  };
  return {
    List: unary(logger, "JobList", async (request) => {
      if (request.host !== "" && hostIdProblem(request.host) !== null) throw invalidArgument("host", `host id ${hostIdProblem(request.host)}`);
      if (request.vm !== "" && !isVmName(request.vm)) throw invalidArgument("vm", "name or UUID must be 1 to 200 printable characters");
      let vmUuid: string | undefined;
      if (request.vm !== "") {
        const matches = reader.findVms(request.vm);
        if (matches.length === 0) throw notFound(`vm "${request.vm}"`);
        if (matches.length > 1) throw failedPrecondition(`vm name "${request.vm}" is ambiguous (${matches.map((vm) => vm.uuid).join(", ")}); use the UUID`);
        vmUuid = matches[0]!.uuid;
      }
      const jobs = reader.listJobs({ ...(vmUuid === undefined ? {} : { vmUuid }), ...(request.host === "" ? {} : { host: request.host }), limit: jobListMax });
      return { jobs: jobs.map((job): Job => fullJobView(reader, job)) };
    }),
    Get: unary(logger, "JobGet", async (request) => {
      return fullJobView(reader, existingJob(request.id));
    }),
    Cancel: unary(logger, "JobCancel", async (request) => {
      await log.readBarrier();
      const job = existingJob(request.id);
      if (finalJobStates.has(job.state)) throw failedPrecondition(`job ${job.id} is already ${job.state}; only a pending or running job can be canceled`);
      if (job.kind === "shutdown" || job.kind === "start") throw failedPrecondition(`job ${job.id} is a step of ${job.parent}; cancel that instead`);
      await log.propose({ kind: "JobCancelRequested", jobId: job.id, reason: "canceled by an operator" });
      return fullJobView(reader, reader.job(job.id)!);
    }),
  };
}
