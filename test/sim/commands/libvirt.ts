// Usage: libvirt HOST fail-next OPERATION MESSAGE... | libvirt HOST slow-next OPERATION DURATION | libvirt HOST fail-next migrate before-landing|after-landing|hang
//      | libvirt HOST connection lost|restored
// Scripts libvirtd on HOST: the next OPERATION (start, shutdown, destroy, suspend, resume) fails with
// MESSAGE; the next migration from HOST goes wrong in the given way (fail-next-migration.ts); or its
// connection to the agent drops / comes back (the agent re-reads the inventory; a migration call in
// flight fails while libvirtd carries the migration on). slow-next: the next OPERATION takes DURATION longer (slow storage).
//      | libvirt HOST down|up — libvirtd stops (calls fail at once, QEMU and guests run on) or starts again
//      | libvirt HOST disk VM TARGET FILE... — VM's disk TARGET has this backing chain (top first), as set up outside vigil
//      | libvirt HOST define VM running|shutoff — someone defines (and starts) VM on HOST outside vigil, without events
//      | libvirt HOST migrated-away VM — VM's QEMU on HOST stopped because it migrated away (reason "migrated")
//      | libvirt HOST migrate VM DEST [offline] — someone runs `virsh migrate --live --p2p --persistent` (or
//        --offline) of VM from HOST to DEST, outside vigil: the simulated migration (migration.ts) runs
//      | libvirt HOST abort-job VM — someone runs `virsh domjobabort VM` on HOST
import { executingStates, migrationFaults, uuidOf, type HypervisorOperation, type MigrationFault } from "../hypervisor.js";
import { scriptMigrationFault } from "./fail-next-migration.js";
import { parseDuration, usageError, type SimCommand } from "./sim-command.js";

const operations: readonly HypervisorOperation[] = ["start", "shutdown", "destroy", "suspend", "resume"];

export const libvirt: SimCommand = {
  name: "libvirt",
  usage:
    "libvirt HOST fail-next OPERATION MESSAGE... | libvirt HOST slow-next OPERATION DURATION | libvirt HOST fail-next migrate before-landing|after-landing|hang | libvirt HOST connection lost|restored | libvirt HOST down|up | libvirt HOST disk VM TARGET FILE... | libvirt HOST define VM running|shutoff | libvirt HOST migrated-away VM | libvirt HOST migrate VM DEST [offline] | libvirt HOST abort-job VM",
  run(world, args) {
    const [hostId, verb, operand] = args;
    if (hostId === undefined || verb === undefined) throw usageError(this, "name a host and a verb");
    const host = world.requireAgent(hostId).host;
    if (verb === "fail-next" && operand === "migrate") {
      const fault = args[3] as MigrationFault;
      if (!migrationFaults.includes(fault)) throw usageError(this, `a migration fails ${migrationFaults.join(", ")}`);
      scriptMigrationFault(world, hostId, fault);
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
    if (verb === "down" || verb === "up") {
      world.trace.line("sim", `libvirtd on ${hostId} ${verb === "down" ? "stopped" : "started"}`);
      host.setLibvirtd(verb === "up");
      return;
    }
    if (verb === "disk") {
      const domain = operand === undefined ? undefined : host.byNameOrUuid(operand);
      const [target, ...files] = args.slice(3);
      if (domain === undefined || target === undefined || files.length === 0) throw usageError(this, "libvirt HOST disk VM TARGET FILE...");
      domain.disks = [...domain.disks.filter((disk) => disk.target !== target), { target, chain: files }].sort((a, b) => a.target.localeCompare(b.target));
      world.trace.line("sim", `libvirt on ${hostId}: ${domain.name} ${target} is ${files.join(" <- ")}`);
      return;
    }
    if (verb === "migrated-away") {
      const domain = operand === undefined ? undefined : host.byNameOrUuid(operand);
      if (domain === undefined || !executingStates.has(domain.state)) throw usageError(this, "libvirt HOST migrated-away VM (a running VM)");
      world.trace.line("sim", `libvirt on ${hostId}: ${domain.name} migrated away`);
      host.transition(domain, "shutoff", "migrated", { event: "stopped", detail: "migrated" });
      return;
    }
    if (verb === "migrate") {
      const domain = operand === undefined ? undefined : host.byNameOrUuid(operand);
      const destination = args[3];
      const offline = args[4] === "offline";
      if (domain === undefined || destination === undefined || args.length > (offline ? 5 : 4)) throw usageError(this, "libvirt HOST migrate VM DEST [offline]");
      const what = `virsh migrate ${domain.name} from ${hostId} to ${destination}${offline ? " (offline)" : ""}`;
      world.trace.line("sim", `someone runs ${what}, outside vigil`);
      try {
        host.beginMigration(domain, { destinationUri: `qemu+tls://${destination}/system`, persistOnDestination: true, offline }, (outcome) => world.trace.line("sim", `${what}: ${outcome.ok ? "completed" : `failed: ${outcome.message}`}`));
      } catch (error) {
        world.trace.line("sim", `${what}: refused: ${(error as Error).message}`);
      }
      return;
    }
    if (verb === "abort-job") {
      const domain = operand === undefined ? undefined : host.byNameOrUuid(operand);
      if (domain === undefined) throw usageError(this, "libvirt HOST abort-job VM");
      const migration = host.outgoing.get(domain.uuid);
      world.trace.line("sim", `someone runs virsh domjobabort ${domain.name} on ${hostId}`);
      try {
        if (migration === undefined) throw new Error("Requested operation is not valid: no job is active on the domain");
        migration.abort();
      } catch (error) {
        world.trace.line("sim", `virsh domjobabort ${domain.name}: ${(error as Error).message}`);
      }
      return;
    }
    if (verb === "define") {
      const state = args[3];
      if (operand === undefined || (state !== "running" && state !== "shutoff")) throw usageError(this, "libvirt HOST define VM running|shutoff");
      const elsewhere = [...world.agents.values()].map((other) => other.host.byNameOrUuid(operand)).find((domain) => domain !== undefined);
      const disks = (elsewhere?.disks ?? []).map((disk) => ({ target: disk.target, chain: [...disk.chain] }));
      host.define({ name: operand, uuid: uuidOf(operand), state, reason: state === "running" ? "booted" : "unknown", vcpus: elsewhere?.vcpus ?? 1, memoryBytes: elsewhere?.memoryBytes ?? 1024 ** 3, persistent: true, disks });
      world.trace.line("sim", `someone defines ${operand} on ${hostId}${executingStates.has(state) ? " and starts it" : ""}, outside vigil`);
      world.checkState();
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
