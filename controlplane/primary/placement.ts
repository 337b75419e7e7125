// Where a VM may run, and where it runs best (DESIGN §6). Pure: hosts and the VM in, a host or
// the reason there is none out. Shared by HA restarts and, later, migration and flush.
//  1. A host is a candidate only when ready: alive, connected to the primary, not in maintenance.
//  2. The VM's node limit, when not empty, names the only allowed hosts.
//  3. Capacity: the VM's memory must fit in what the host has left (its memory minus what is
//     provisioned there, and no more than it reports free).
//  4. Candidates are ranked by the VM's selector; ties go to the lower host id, so a decision
//     repeats exactly.
import type { Selector } from "../state/commands.js";

export interface PlacementHost {
  id: string;
  ready: boolean;
  /** Why the host is not ready (shown when no host is), or "". */
  notReadyReason: string;
  memoryBytes: number;
  /** What the host reports free, or null when it has not reported. */
  freeMemoryBytes: number | null;
  provisionedMemoryBytes: number;
  provisionedVcpus: number;
  vmCount: number;
  load: number;
}

export interface PlacementVm {
  name: string;
  memoryBytes: number;
  vcpus: number;
  limit: readonly string[];
  selector: Selector;
}

export type Placement = { host: string } | { host: null; reason: string };

/** Memory a host can still give a VM. */
export function availableMemoryBytes(host: PlacementHost): number {
  const unprovisioned = host.memoryBytes - host.provisionedMemoryBytes;
  return host.freeMemoryBytes === null ? unprovisioned : Math.min(unprovisioned, host.freeMemoryBytes);
}

/** Lower is better, per selector. */
function score(host: PlacementHost, selector: Selector): number {
  switch (selector) {
    case "mem":
      return -availableMemoryBytes(host);
    case "memprov":
      return host.provisionedMemoryBytes;
    case "load":
      return host.load;
    case "vcpus":
      return host.provisionedVcpus;
    case "vms":
      return host.vmCount;
  }
}

function gib(bytes: number): string {
  return `${(bytes / 1024 ** 3).toFixed(1)} GiB`;
}

export function placeVm(vm: PlacementVm, hosts: readonly PlacementHost[]): Placement {
  const allowed = vm.limit.length === 0 ? hosts : hosts.filter((host) => vm.limit.includes(host.id));
  if (allowed.length === 0) return { host: null, reason: `no host of its limit (${vm.limit.join(",")}) is known` };
  const ready = allowed.filter((host) => host.ready);
  if (ready.length === 0) {
    const why = allowed.map((host) => `${host.id}: ${host.notReadyReason || "not ready"}`).join("; ");
    return { host: null, reason: `no allowed host is ready (${why})` };
  }
  const fitting = ready.filter((host) => availableMemoryBytes(host) >= vm.memoryBytes);
  if (fitting.length === 0) {
    const best = [...ready].sort((a, b) => availableMemoryBytes(b) - availableMemoryBytes(a) || a.id.localeCompare(b.id))[0]!;
    return { host: null, reason: `no ready allowed host has ${gib(vm.memoryBytes)} free (most: ${best.id} with ${gib(Math.max(0, availableMemoryBytes(best)))})` };
  }
  const ranked = [...fitting].sort((a, b) => score(a, vm.selector) - score(b, vm.selector) || a.id.localeCompare(b.id));
  return { host: ranked[0]!.id };
}

/** The hosts after `vm` is placed on `hostId`: what the next placement of the same round sees. */
export function reserve(hosts: readonly PlacementHost[], hostId: string, vm: PlacementVm): PlacementHost[] {
  return hosts.map((host) =>
    host.id !== hostId
      ? host
      : {
          ...host,
          provisionedMemoryBytes: host.provisionedMemoryBytes + vm.memoryBytes,
          freeMemoryBytes: host.freeMemoryBytes === null ? null : host.freeMemoryBytes - vm.memoryBytes,
          provisionedVcpus: host.provisionedVcpus + vm.vcpus,
          vmCount: host.vmCount + 1,
        },
  );
}
