// Usage: job cancel REF [via REPLICA] | job show REF | job list — the operator's JobService calls.
// REF: ID | latest | latest-migrate | latest-flush | latest-unflush | vm:NAME (jobs.ts). `cancel`
// goes through the production JobService.Cancel handler of the leader (or REPLICA); `show` and
// `list` log what JobService.List returns on the most caught-up replica, as vigilctl would print it.
import type { Job } from "../../../common/generated/vigil/v1/Job.js";
import { describeJob, jobHandlers, jobRefUsage, listJobs, resolveJob } from "../jobs.js";
import { unaryCall } from "../replica-node.js";
import { mostCaughtUp } from "./expect.js";
import { CommandError, takeVia, usageError, type SimCommand } from "./sim-command.js";

export const job: SimCommand = {
  name: "job",
  usage: `job cancel REF [via REPLICA] | job show REF | job list — REF: ${jobRefUsage}`,
  async run(world, rawArgs) {
    const { args, via } = takeVia(rawArgs);
    const [verb, ref] = args;
    if (verb === "list") {
      const jobs = await listJobs(mostCaughtUp(world));
      world.trace.line("op", jobs.length === 0 ? "job list: no jobs" : `job list: ${jobs.length} jobs`);
      for (const listed of jobs) world.trace.line("op", `  ${describeJob(listed)}`);
      return;
    }
    if ((verb !== "cancel" && verb !== "show") || ref === undefined) throw usageError(this, "name a verb and a job");
    const found = resolveJob(await listJobs(mostCaughtUp(world)), ref);
    if (verb === "show") {
      world.trace.line("op", `job show ${ref}: ${typeof found === "string" ? found : describeJob(found)}`);
      return;
    }
    // An unknown REF other than an id is the scenario's mistake only if it names no job at all:
    // an id is passed through, so the handler's own NOT_FOUND shows in the log.
    if (typeof found === "string" && (ref === "latest" || ref.startsWith("latest-") || ref.startsWith("vm:"))) {
      world.trace.line("op", `job cancel ${ref}: ${found}`);
      return;
    }
    const id = typeof found === "string" ? ref : found.id;
    if (id === "") throw new CommandError(`job cancel ${ref}: the job has no id`);
    world.operator.call<Job>(`job cancel ${id}`, via, (process, callback) => jobHandlers(process).Cancel(unaryCall({ id }), callback), describeJob, "leader-only");
  },
};
