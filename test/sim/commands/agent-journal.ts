// Usage: agent-journal HOST migrate-out|migrate-in VM [TARGET]
// Journals a migration job in HOST's agent journal through the production Journal, as the agent
// does when a migration starts or arrives (migration orchestration is issue 8): recovery then
// reconciles it with libvirt. Use it while the agent is stopped, to stand for "the agent crashed
// during a migration".
import { Journal } from "../../../agent/journal.js";
import { uuidOf } from "../hypervisor.js";
import { usageError, type SimCommand } from "./sim-command.js";

export const agentJournal: SimCommand = {
  name: "agent-journal",
  usage: "agent-journal HOST migrate-out|migrate-in VM [TARGET]",
  run(world, args) {
    const [hostId, kind, vmName, target] = args;
    if (hostId === undefined || (kind !== "migrate-out" && kind !== "migrate-in") || vmName === undefined) throw usageError(this, "name a host, migrate-out or migrate-in, and a VM");
    const agent = world.requireAgent(hostId);
    const journal = agent.process?.journal ?? new Journal(agent.journalDb);
    const job = journal.beginJob({ vmUuid: uuidOf(vmName), kind, disk: "", chainBefore: [], top: "", target: target ?? "", commandId: "" }, world.scheduler.clockOf(agent.slot).nowMs());
    if (job === null) throw usageError(this, `${vmName} already has an unresolved migration in ${hostId}'s journal`);
    world.trace.line("sim", `${hostId}'s journal holds ${kind} job ${job.jobId} for ${vmName}`);
    agent.process?.link.notify();
  },
};
