// Converts hypervisor facts into the messages the control plane receives.
import { cpus, freemem, loadavg, totalmem } from "node:os";
import type { DomainStatus } from "../common/generated/vigil/v1/DomainStatus.js";
import type { HostStats } from "../common/generated/vigil/v1/HostStats.js";
import type { DomainInfo } from "./hypervisor.js";

const activeStates: ReadonlySet<string> = new Set(["running", "paused", "blocked", "pmsuspended"]);

export function domainStatus(domain: DomainInfo): DomainStatus {
  return {
    name: domain.name,
    uuid: domain.uuid,
    state: domain.state,
    reason: domain.reason,
    vcpus: domain.vcpus,
    memoryBytes: domain.memoryBytes,
    persistent: domain.persistent,
  };
}

/** Host capacity and load for placement (DESIGN §6 selectors mem, memprov, load, vcpus, vms). */
export function hostStats(domains: DomainInfo[]): HostStats {
  const active = domains.filter((domain) => activeStates.has(domain.state));
  return {
    cpus: cpus().length,
    memoryBytes: totalmem(),
    freeMemoryBytes: freemem(),
    memoryProvisionedBytes: active.reduce((sum, domain) => sum + domain.memoryBytes, 0),
    load: loadavg()[0] ?? 0,
    vcpusProvisioned: active.reduce((sum, domain) => sum + domain.vcpus, 0),
    vmCount: active.length,
  };
}
