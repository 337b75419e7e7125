// Usage: libvirt HOST fail-next OPERATION MESSAGE... | libvirt HOST slow-next OPERATION DURATION | libvirt HOST fail-next migrate before-landing|after-landing|hang
//      | libvirt HOST connection lost|restored
// Scripts libvirtd on HOST: the next OPERATION (start, shutdown, destroy, suspend, resume) fails with
// MESSAGE; the next live migration from HOST goes wrong in the given way (simulated once the
// migration issue adds migrations; recorded now); or its connection to the agent drops / comes back
// (the agent re-reads the inventory). slow-next: the next OPERATION takes DURATION longer (slow storage).
import { migrationFaults, type HypervisorOperation, type MigrationFault } from "../hypervisor.js";
import { parseDuration, usageError, type SimCommand } from "./sim-command.js";

const operations: readonly HypervisorOperation[] = ["start", "shutdown", "destroy", "suspend", "resume"];

export const libvirt: SimCommand = {
  name: "libvirt",
  usage: "libvirt HOST fail-next OPERATION MESSAGE... | libvirt HOST slow-next OPERATION DURATION | libvirt HOST fail-next migrate before-landing|after-landing|hang | libvirt HOST connection lost|restored",
  run(world, args) {
    const [hostId, verb, operand] = args;
    if (hostId === undefined || verb === undefined) throw usageError(this, "name a host and a verb");
    const host = world.requireAgent(hostId).host;
    if (verb === "fail-next" && operand === "migrate") {
      const fault = args[3] as MigrationFault;
      if (!migrationFaults.includes(fault)) throw usageError(this, `a migration fails ${migrationFaults.join(", ")}`);
      host.faults.nextMigration = fault;
      world.trace.line("sim", `libvirt on ${hostId}: the next migration fails ${fault} (migrations are not simulated yet)`);
      return;
    }
    if (verb === "fail-next") {
      if (!operations.includes(operand as HypervisorOperation)) throw usageError(this, `operation must be one of ${operations.join(", ")}`);
      const message = args.slice(3).join(" ") || "internal error: simulated failure";
      const queue = host.faults.failNext.get(operand as HypervisorOperation) ?? [];
      queue.push(message);
      host.faults.failNext.set(operand as HypervisorOperation, queue);
      world.trace.line("sim", `libvirt on ${hostId}: the next ${operand} fails: ${message}`);
      return;
    }
    if (verb === "slow-next") {
      if (!operations.includes(operand as HypervisorOperation)) throw usageError(this, `operation must be one of ${operations.join(", ")}`);
      const extraMs = parseDuration(args[3] ?? "");
      const queue = host.faults.slowNext.get(operand as HypervisorOperation) ?? [];
      queue.push(extraMs);
      host.faults.slowNext.set(operand as HypervisorOperation, queue);
      world.trace.line("sim", `libvirt on ${hostId}: the next ${operand} takes ${extraMs} ms longer`);
      return;
    }
    if (verb === "connection" && (operand === "lost" || operand === "restored")) {
      world.trace.line("sim", `libvirt on ${hostId}: connection ${operand}`);
      host.connectionChange(operand);
      return;
    }
    throw usageError(this, `unknown verb ${verb}`);
  },
};
