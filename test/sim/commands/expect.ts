// Usage: expect WHAT... — asserts the state now; a false expectation fails the scenario.
//   expect leader REPLICA|none          expect primary REPLICA|none (may command agents now)
//   expect vm VM STATE [on HOST]        (replicated state, on the replica most caught up)
//   expect domain HOST VM STATE         (what libvirt says on HOST)
//   expect agent HOST connected|disconnected
//   expect outbox HOST N                expect highest-term HOST N
//   expect applied HOST all             (every running replica applied every event HOST journaled, once)
//   expect converged                    (every running replica applied the same index)
//   expect host HOST LIVENESS           (committed liveness: alive, suspect, dead, fencing, fenced, fence-failed)
//   expect ha VM STATE                  (HA state: none, restarting, pending, failed)
//   expect skip-trace VM none|live|orphaned
//   expect fences HOST N                (power-off attempts HOST's fence device received)
//   expect job VM KIND STATE [OUTCOME] [recovered]   (the VM's newest job of KIND, replicated state)
//   expect jobs VM N                    (how many jobs the control plane holds for VM)
//   expect disks VM TARGET FILE...      (the VM's disk chain as the control plane has it, top first)
//   expect disk-sync VM STATE [on HOST] (pending | synced | failed)
//   expect blocked VM yes|no            (whether an unknown job keeps HA and migration away: unresolvedJobBlocker)
//   expect agent-job HOST VM STATE      (the agent journal's newest job for VM: running | unknown | finished)
//   expect vm VM host HOST              (the VM's owner in replicated state: the host allowed to run it)
//   expect job REF FIELD VALUE...       (a control-plane job as JobService.List shows it; REF: ID | latest |
//                                        latest-migrate | latest-flush | latest-unflush | vm:NAME; FIELD: state
//                                        (a state, or "final"), kind, mode, host, target, vm, parent,
//                                        origin-state, force-live (yes|no), steps (a count), error and phase
//                                        (the words must appear in it))
//   expect libvirt-migration VM PHASE   (libvirt's migration of VM on any host: none | transfer | switch-over | confirm)
// Any expectation may end with `within DURATION`: simulated time runs (in 100 ms steps) until it
// holds, and it fails if it still does not at the end (e.g. expect job latest state succeeded within 30s).
import { unresolvedJobBlocker } from "../../../controlplane/primary/job-blocker.js";
import { Journal } from "../../../agent/journal.js";
import { uuidOf } from "../hypervisor.js";
import { finalJobStates, JobApiError, listJobs, resolveJob, type Job } from "../jobs.js";
import { CommandError, parseDuration, usageError, type SimCommand } from "./sim-command.js";
import type { World } from "../world.js";

/** A false expectation: the scenario's claim about the cluster does not hold. */
export class ExpectationFailed extends Error {
  override name = "ExpectationFailed";
}

function check(condition: boolean, what: string, actual: string): void {
  if (!condition) throw new ExpectationFailed(`expected ${what}, but ${actual}`);
}

/** The running replica that applied the most (the one a linearizable read would agree with). */
export function mostCaughtUp(world: World) {
  let best: { node: ReturnType<World["requireReplica"]>; applied: number } | null = null;
  for (const node of world.replicas.values()) {
    const process = node.liveProcess();
    if (process === null) continue;
    const applied = process.replica.stateMachine.reader.appliedIndex();
    if (best === null || applied > best.applied) best = { node, applied };
  }
  if (best === null) throw new ExpectationFailed("expected a running replica, but none runs");
  return best.node.liveProcess()!;
}

/** How often a `within` expectation is tried again, in simulated time. */
const retryEveryMs = 100;

/** The job fields `expect job REF FIELD VALUE` reads (proto Job, as vigilctl shows it). */
const jobFields: Record<string, (job: Job) => string> = {
  state: (job) => job.state,
  kind: (job) => job.kind,
  mode: (job) => job.mode,
  host: (job) => job.host,
  target: (job) => job.target,
  vm: (job) => job.vm,
  parent: (job) => job.parent,
  "origin-state": (job) => job.originState,
  "force-live": (job) => (job.forceLive ? "yes" : "no"),
  steps: (job) => String(job.steps.length),
  error: (job) => job.error,
  phase: (job) => job.phase,
};

async function expectJob(world: World, ref: string, field: string, expected: string): Promise<void> {
  let jobs: Job[];
  try {
    jobs = await listJobs(mostCaughtUp(world));
  } catch (error) {
    if (error instanceof JobApiError) throw new ExpectationFailed(`expected job ${ref} ${field} ${expected}, but ${error.message}`);
    throw error;
  }
  const job = resolveJob(jobs, ref);
  if (typeof job === "string") throw new ExpectationFailed(`expected job ${ref} ${field} ${expected}, but there is ${job}`);
  const actual = jobFields[field]!(job);
  const summary = `job ${job.id} is ${job.state}${job.mode ? ` (${job.mode})` : ""}${job.phase ? `, phase "${job.phase}"` : ""}${job.error ? `, error "${job.error}"` : ""}`;
  if (field === "error" || field === "phase") return check(actual.includes(expected), `job ${ref} ${field} containing "${expected}"`, summary);
  if (field === "state" && expected === "final") return check(finalJobStates.has(actual), `job ${ref} in a final state`, summary);
  return check(actual === expected, `job ${ref} ${field} ${expected}`, field === "state" ? summary : `its ${field} is "${actual}" (${summary})`);
}

/** Splits off a trailing `within DURATION`. */
function takeWithin(args: readonly string[]): { args: string[]; withinMs: number | null } {
  if (args.length >= 2 && args[args.length - 2] === "within") return { args: args.slice(0, -2), withinMs: parseDuration(args[args.length - 1]!) };
  return { args: [...args], withinMs: null };
}

export const expect: SimCommand = {
  name: "expect",
  usage:
    "expect leader|primary|vm|domain|agent|outbox|highest-term|applied|converged|host|ha|skip-trace|fences|job|jobs|disks|disk-sync|blocked|agent-job|libvirt-migration ... [within DURATION]",
  async run(world, rawArgs) {
    const { args, withinMs } = takeWithin(rawArgs);
    if (withinMs === null) return expectNow(world, args);
    const startedMs = world.scheduler.nowMs;
    const deadlineMs = startedMs + withinMs;
    for (;;) {
      try {
        await expectNow(world, args);
        if (world.scheduler.nowMs > startedMs) world.trace.line("sim", `expectation met after ${((world.scheduler.nowMs - startedMs) / 1000).toFixed(1)} s`);
        return;
      } catch (error) {
        if (!(error instanceof ExpectationFailed)) throw error;
        if (world.scheduler.nowMs >= deadlineMs) throw new ExpectationFailed(`${error.message} (still, after ${withinMs / 1000} s)`);
      }
      await world.runFor(Math.min(retryEveryMs, deadlineMs - world.scheduler.nowMs));
    }
  },
};

async function expectNow(world: World, args: readonly string[]): Promise<void> {
  const [what, first, second, third, fourth] = args;
  switch (what) {
    case "leader": {
      const leader = world.currentLeader() ?? "none";
      return check(leader === first, `leader ${first}`, `the leader is ${leader}`);
    }
    case "primary": {
      const commanding = world.checkedReplicas().filter((replica) => replica.alive() && replica.mayCommand()).map((replica) => replica.id);
      const primary = commanding[0] ?? "none";
      return check(primary === first, `primary ${first}`, `the primary is ${primary}`);
    }
    case "vm": {
      if (first === undefined || second === undefined) throw usageError(expect, "expect vm VM STATE [on HOST] | expect vm VM host HOST");
      const vm = mostCaughtUp(world).replica.stateMachine.reader.findVms(first)[0];
      check(vm !== undefined, `vm ${first}`, "it is not known");
      if (second === "host") return check(vm!.host === third, `vm ${first} owned by ${third}`, `it belongs to ${vm!.host ?? "no host"} (${vm!.state})`);
      check(vm!.state === second, `vm ${first} ${second}`, `it is ${vm!.state} (${vm!.reason})`);
      if (third === "on") check(vm!.host === fourth, `vm ${first} on ${fourth}`, `it is on ${vm!.host}`);
      return;
    }
    case "domain": {
      if (first === undefined || second === undefined || third === undefined) throw usageError(expect, "expect domain HOST VM STATE");
      const domain = world.requireAgent(first).host.byNameOrUuid(second);
      return check(domain?.state === third, `domain ${second} ${third} on ${first}`, `it is ${domain?.state ?? "undefined"}`);
    }
    case "agent": {
      const agent = world.requireAgent(first ?? "");
      const connected = agent.process?.link.isConnected() === true && agent.slot.isAlive();
      return check((second === "connected") === connected, `agent ${first} ${second}`, `it is ${connected ? "connected" : "disconnected"}`);
    }
    case "outbox": {
      const outbox = world.requireAgent(first ?? "").journalFacts().outbox;
      return check(outbox === Number(second), `outbox of ${first} holding ${second}`, `it holds ${outbox}`);
    }
    case "highest-term": {
      const term = world.requireAgent(first ?? "").journalFacts().highestTerm;
      return check(term === Number(second), `${first}'s highest term ${second}`, `it is ${term}`);
    }
    case "applied": {
      const agent = world.requireAgent(first ?? "");
      const lastSeq = agent.journalFacts().lastSeq;
      for (const replica of world.checkedReplicas()) {
        if (!replica.alive()) continue;
        const sequences = replica.hostSequences().get(agent.hostId);
        check(sequences?.appliedSeq === lastSeq && sequences.eventsApplied === lastSeq, `${replica.id} to have applied all ${lastSeq} events of ${agent.hostId} once`, `it applied through ${sequences?.appliedSeq ?? 0} with ${sequences?.eventsApplied ?? 0} applications`);
      }
      return;
    }
    case "host": {
      const host = mostCaughtUp(world).replica.stateMachine.reader.host(first ?? "");
      check(host !== undefined, `host ${first}`, "it is not known");
      return check(host!.liveness === second, `host ${first} ${second}`, `it is ${host!.liveness} (${host!.livenessReason})`);
    }
    case "ha": {
      const vm = mostCaughtUp(world).replica.stateMachine.reader.findVms(first ?? "")[0];
      check(vm !== undefined, `vm ${first}`, "it is not known");
      const haState = vm!.haState === "" ? "none" : vm!.haState;
      return check(haState === second, `vm ${first} HA state ${second}`, `it is ${haState} (${vm!.haReason})`);
    }
    case "skip-trace": {
      const reader = mostCaughtUp(world).replica.stateMachine.reader;
      const vm = reader.findVms(first ?? "")[0];
      check(vm !== undefined, `vm ${first}`, "it is not known");
      const entry = reader.skipTraceOf(vm!.uuid);
      const state = entry === undefined ? "none" : entry.orphanedAtMs === null ? "live" : "orphaned";
      return check(state === second, `vm ${first} skip-trace ${second}`, `it is ${state}${entry ? ` (${entry.operation}, term ${entry.term})` : ""}`);
    }
    case "fences": {
      const device = world.fences.get(first ?? "");
      check(device !== undefined, `a fence device for ${first}`, "there is none");
      return check(device!.records.length === Number(second), `${second} fence attempts on ${first}`, `there were ${device!.records.length}`);
    }
    case "converged": {
      const applied = world.checkedReplicas().filter((replica) => replica.alive()).map((replica) => `${replica.id}=${replica.appliedIndex()}`);
      const indexes = new Set(applied.map((entry) => entry.split("=")[1]));
      return check(indexes.size === 1, "every running replica at the same applied index", `they are at ${applied.join(" ")}`);
    }
    case "job": {
      if (first === undefined || second === undefined || third === undefined) throw usageError(expect, "expect job VM KIND STATE [OUTCOME] [recovered] | expect job REF FIELD VALUE...");
      if (jobFields[second] !== undefined) return expectJob(world, first, second, args.slice(3).join(" "));
      const reader = mostCaughtUp(world).replica.stateMachine.reader;
      const job = reader.vmJobs(uuidOf(first)).find((candidate) => candidate.kind === second);
      check(job !== undefined, `a ${second} job for ${first}`, "there is none");
      const rest = args.slice(4);
      const outcome = rest.find((word) => word !== "recovered") ?? null;
      const actual = `it is ${job!.state}${job!.outcome === "" ? "" : ` ${job!.outcome}`}${job!.recovered ? " (recovered)" : ""}: ${job!.detail}`;
      check(job!.state === third && (outcome === null || job!.outcome === outcome) && (!rest.includes("recovered") || job!.recovered), `${first}'s ${second} job ${args.slice(3).join(" ")}`, actual);
      return;
    }
    case "jobs": {
      const count = mostCaughtUp(world).replica.stateMachine.reader.vmJobs(uuidOf(first ?? "")).length;
      return check(count === Number(second), `${second} jobs for ${first}`, `there are ${count}`);
    }
    case "disks": {
      if (first === undefined || second === undefined) throw usageError(expect, "expect disks VM TARGET FILE...");
      const disk = mostCaughtUp(world).replica.stateMachine.reader.vmDisks(uuidOf(first)).find((candidate) => candidate.target === second);
      const files = args.slice(3).join(" <- ");
      return check(disk !== undefined && disk.files.join(" <- ") === files, `${first} ${second} to be ${files}`, disk === undefined ? "no chain is known" : `it is ${disk.files.join(" <- ")} (from ${disk.host})`);
    }
    case "disk-sync": {
      const sync = mostCaughtUp(world).replica.stateMachine.reader.vmDiskSync(uuidOf(first ?? ""));
      const actual = sync === undefined ? "no sync is known" : `it is ${sync.state} on ${sync.host}: ${sync.error}`;
      return check(sync?.state === second && (third !== "on" || sync.host === fourth), `disk sync of ${first} ${args.slice(2).join(" ")}`, actual);
    }
    case "blocked": {
      const blocker = unresolvedJobBlocker(mostCaughtUp(world).replica.stateMachine.reader.vmJobs(uuidOf(first ?? "")));
      return check((second === "yes") === (blocker !== null), `${first} ${second === "yes" ? "blocked" : "not blocked"} by its jobs`, blocker === null ? "nothing blocks it" : `it is blocked: ${blocker}`);
    }
    case "agent-job": {
      const agent = world.requireAgent(first ?? "");
      const journal = agent.process?.journal ?? new Journal(agent.journalDb);
      const row = agent.journalDb.prepare("SELECT job_id FROM jobs WHERE vm_uuid = ? ORDER BY started_ms DESC, job_id DESC LIMIT 1").get(uuidOf(second ?? "")) as { job_id: string } | undefined;
      const job = row === undefined ? null : journal.job(row.job_id);
      return check(job?.state === third, `${first}'s journal to hold ${second}'s job ${third}`, job === null ? "it holds none" : `it is ${job.state} ${job.outcome}: ${job.detail}`);
    }
    case "libvirt-migration": {
      if (first === undefined || second === undefined) throw usageError(expect, "expect libvirt-migration VM none|transfer|switch-over|confirm");
      const migration = world.hosts().map((host) => host.byNameOrUuid(first)).map((domain, position) => (domain === undefined ? undefined : world.hosts()[position]!.migrationOf(domain.uuid))).find((found) => found !== undefined);
      const phase = migration === undefined ? "none" : migration.phase;
      return check(phase === second, `libvirt migrating ${first}: ${second}`, migration === undefined ? "no migration runs" : `it is in ${phase} from ${migration.source.hostId} to ${migration.destination.hostId}`);
    }
    default:
      throw new CommandError(`unknown expectation ${what ?? "(none)"}; usage: ${expect.usage}`);
  }
}
