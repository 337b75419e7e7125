// Where a VM may migrate to (DESIGN §8). Pure: the placement hosts (ha-duty.ts plannerHosts: ready
// means alive, connected, not in maintenance and in state ready, so never flushing or flushed) and
// the VM in, a target or the reason there is none out. Shared by `vm migrate` and flush/unflush.
//  1. A VM never migrates to the host it runs on.
//  2. A target needs a migration URI (the agent's --migration-uri): the source dials it.
//  3. Without an explicit target, placement.ts chooses by the VM's limit, selector and capacity.
import type { HostProvisioned, HostRecord } from "../state/store.js";
import { plannerHosts } from "./ha-duty.js";
import { placeVm, type Placement, type PlacementHost, type PlacementVm } from "./placement.js";
import type { SessionRegistry } from "./sessions.js";

export interface MigrationHost extends PlacementHost {
  migrationUri: string;
  liveness: string;
}

/** Why `host`'s agent cannot run a migration of its VM now, or null: a source need not be ready (flushing, in maintenance), only alive and connected. */
export function sourceProblem(host: MigrationHost): string | null {
  if (host.liveness !== "alive") return `source ${host.id} is ${host.liveness}`;
  if (host.notReadyReason === "not connected") return `source ${host.id} is not connected: its agent runs the migration`;
  return null;
}

/** Why `host` cannot receive a migration now, or null. */
export function targetProblem(host: MigrationHost): string | null {
  if (!host.ready) return `host ${host.id} is not ready (${host.notReadyReason || "not ready"})`;
  if (host.migrationUri === "") return `host ${host.id} has no migration URI (its agent's --migration-uri)`;
  return null;
}

/** The best target for `vm`, which runs on `source`, among `hosts`. */
export function chooseMigrationTarget(vm: PlacementVm, source: string, hosts: readonly MigrationHost[]): Placement {
  const candidates = hosts
    .filter((host) => host.id !== source)
    .map((host) => (host.ready && host.migrationUri === "" ? { ...host, ready: false, notReadyReason: "no migration URI" } : host));
  if (candidates.length === 0) return { host: null, reason: `no host other than ${source} is known` };
  if (vm.limit.length > 0 && vm.limit.every((id) => id === source)) return { host: null, reason: `its limit (${vm.limit.join(",")}) allows no host but ${source}` };
  return placeVm(vm, candidates);
}

/** The placement hosts with each host's migration URI, from committed records and this primary's sessions. */
export function migrationHosts(hosts: readonly HostRecord[], provisioned: ReadonlyMap<string, HostProvisioned>, sessions: Pick<SessionRegistry, "get">): MigrationHost[] {
  const uris = new Map(hosts.map((host) => [host.id, host.migrationUri]));
  return plannerHosts(hosts, provisioned, sessions).map((host) => ({ ...host, migrationUri: uris.get(host.id) ?? "" }));
}
