// Usage: blockjob HOST VM DISK commit|active-commit|copy|pull [DURATION] | blockjob HOST VM DISK pivot|abort|fail
// Someone outside vigil (virsh) starts a block job in HOST's libvirtd on VM's DISK, which runs
// DURATION (default 10s) in QEMU: commit and pull then complete, active-commit and copy wait
// "ready"; or ends the disk's job: pivot (completes it), abort (canceled), fail (QEMU reports an error).
// The job runs on whether or not the agent or libvirtd is up; events reach only connected agents.
import { blockJobKinds, isBlockJobKind } from "../../../common/block-job-proof.js";
import { SimLibvirtError } from "../hypervisor.js";
import { parseDuration, usageError, type SimCommand } from "./sim-command.js";

const endings = { pivot: "completed", abort: "canceled", fail: "failed" } as const;

export const blockjob: SimCommand = {
  name: "blockjob",
  usage: `blockjob HOST VM DISK ${blockJobKinds.join("|")} [DURATION] | blockjob HOST VM DISK pivot|abort|fail`,
  run(world, args) {
    const [hostId, vmName, disk, verb, duration] = args;
    if (hostId === undefined || vmName === undefined || disk === undefined || verb === undefined) throw usageError(this, "name a host, a VM, a disk and a verb");
    const host = world.requireAgent(hostId).host;
    const domain = host.byNameOrUuid(vmName);
    if (domain === undefined) throw usageError(this, `${vmName} is not defined on ${hostId}`);
    try {
      if (isBlockJobKind(verb)) {
        const durationMs = duration === undefined ? 10_000 : parseDuration(duration);
        const job = host.startBlockJob(domain, disk, verb, durationMs);
        world.trace.line("sim", `virsh on ${hostId}: ${verb} ${vmName} ${disk} (${durationMs / 1000} s, writes ${job.destination})`);
        return;
      }
      if (verb === "pivot" || verb === "abort" || verb === "fail") {
        const job = host.blockJobs.get(`${domain.uuid}/${disk}`);
        if (job === undefined) throw new SimLibvirtError(`no block job on ${vmName} ${disk}`);
        if (verb === "pivot" && job.phase !== "ready" && (job.kind === "active-commit" || job.kind === "copy")) throw new SimLibvirtError(`${job.kind} on ${disk} is not ready to pivot`);
        world.trace.line("sim", `virsh on ${hostId}: ${verb} the ${job.kind} of ${vmName} ${disk}`);
        host.endBlockJob(job, endings[verb]);
        return;
      }
    } catch (error) {
      if (!(error instanceof SimLibvirtError)) throw error;
      world.trace.line("sim", `virsh on ${hostId} refused: ${error.message}`);
      return;
    }
    throw usageError(this, `unknown verb ${verb}`);
  },
};
