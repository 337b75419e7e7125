// Usage: guest VM crash|poweroff|pause|resume | guest VM ignore-acpi on|off — what a guest does by itself
// (not an operation of vigil's): libvirt reports the new state with its reason and event.
import { executingStates } from "../hypervisor.js";
import { onOff, usageError, type SimCommand } from "./sim-command.js";

export const guest: SimCommand = {
  name: "guest",
  usage: "guest VM crash|poweroff|pause|resume | guest VM ignore-acpi on|off",
  run(world, args) {
    const [name, action] = args;
    if (name === undefined || action === undefined) throw usageError(this, "name a VM and what it does");
    // With shared definitions several hosts define the VM: the guest is the one executing, if any.
    const defining = world.hosts().filter((candidate) => candidate.byNameOrUuid(name) !== undefined);
    const host = defining.find((candidate) => executingStates.has(candidate.byNameOrUuid(name)!.state)) ?? defining[0];
    const domain = host?.byNameOrUuid(name);
    if (host === undefined || domain === undefined) throw usageError(this, `no host defines ${name}`);
    if (action === "ignore-acpi") {
      if (onOff(this, args[2])) host.faults.ignoreAcpi.add(domain.uuid);
      else host.faults.ignoreAcpi.delete(domain.uuid);
      world.trace.line("sim", `guest ${name} ${args[2] === "on" ? "ignores" : "honours"} ACPI shutdown`);
      return;
    }
    if (action !== "crash" && action !== "poweroff" && action !== "pause" && action !== "resume") throw usageError(this, `unknown action ${action}`);
    world.trace.line("sim", `guest ${name} on ${host.hostId}: ${action}`);
    if (!host.powered || !host.guestAction(domain, action)) world.trace.line("sim", `guest ${name} cannot ${action} now (${domain.state})`);
  },
};
