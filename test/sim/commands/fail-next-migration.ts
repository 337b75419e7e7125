// Usage: fail-next-migration HOST before-landing|after-landing|hang — the next migration libvirt
// starts from HOST goes wrong (SimHost.faults.nextMigration, migration.ts):
//   before-landing  the call fails mid-transfer; the domain keeps running on HOST, the destination has nothing
//   after-landing   the domain lands (runs on the destination, shut off on HOST, definition kept), yet the call fails
//   hang            the transfer never converges; the call returns only when the job is aborted (AbortJob),
//                   which leaves the domain running on HOST
// (`libvirt HOST fail-next migrate KIND` says the same.)
import type { World } from "../world.js";
import { migrationFaults, type MigrationFault } from "../hypervisor.js";
import { usageError, type SimCommand } from "./sim-command.js";

export function scriptMigrationFault(world: World, hostId: string, fault: MigrationFault): void {
  world.requireAgent(hostId).host.faults.nextMigration = fault;
  world.trace.line("sim", `libvirt on ${hostId}: the next migration from it fails ${fault}`);
}

export const failNextMigration: SimCommand = {
  name: "fail-next-migration",
  usage: `fail-next-migration HOST ${migrationFaults.join("|")}`,
  run(world, args) {
    const [hostId, fault] = args;
    if (hostId === undefined || args.length !== 2 || !migrationFaults.includes(fault as MigrationFault)) throw usageError(this, "name a host and how the migration fails");
    scriptMigrationFault(world, hostId, fault as MigrationFault);
  },
};
