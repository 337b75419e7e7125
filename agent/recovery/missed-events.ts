// Lifecycle events missed while the agent was down (DESIGN §9): what changed between the domains
// as last reported (the journal's reported_domains) and the domains libvirt shows now. Pure.
//
// 1. A reported domain whose state or reason changed => one event to its new state, detail = reason.
// 2. A reported domain that is gone => "undefined" (shut off): it left this host.
// 3. A domain never reported is left to the inventory that follows: a lifecycle claim for a VM the
//    control plane gives to another host would be refused (agent-gateway.ts), an inventory is not.
import type { DomainStatus } from "../../common/generated/vigil/v1/DomainStatus.js";
import type { DomainInfo } from "../hypervisor.js";

export interface MissedEvent {
  domain: DomainStatus;
  event: string;
  detail: string;
}

/** libvirt's lifecycle event name for arriving in `state`. */
function eventFor(state: string, reason: string): string {
  switch (state) {
    case "running":
      return reason === "unpaused" || reason === "migrated" ? "resumed" : "started";
    case "paused":
      return "suspended";
    case "crashed":
      return "crashed";
    case "pmsuspended":
      return "pmsuspended";
    default:
      return "stopped";
  }
}

export function missedLifecycleEvents(reported: ReadonlyMap<string, DomainStatus>, current: readonly DomainInfo[]): MissedEvent[] {
  const missed: MissedEvent[] = [];
  const present = new Map(current.map((domain) => [domain.uuid, domain]));
  for (const domain of [...current].sort((a, b) => a.name.localeCompare(b.name) || a.uuid.localeCompare(b.uuid))) {
    const before = reported.get(domain.uuid);
    if (before === undefined || (before.state === domain.state && before.reason === domain.reason)) continue;
    const status: DomainStatus = { name: domain.name, uuid: domain.uuid, state: domain.state, reason: domain.reason, vcpus: domain.vcpus, memoryBytes: domain.memoryBytes, persistent: domain.persistent };
    missed.push({ domain: status, event: eventFor(domain.state, domain.reason), detail: domain.reason });
  }
  for (const [uuid, before] of [...reported].sort(([a], [b]) => a.localeCompare(b))) {
    if (present.has(uuid) || before.state === "shutoff" && before.reason === "undefined") continue;
    missed.push({ domain: { ...before, state: "shutoff", reason: "undefined", persistent: false }, event: "undefined", detail: "removed" });
  }
  return missed;
}
