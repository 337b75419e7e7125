// Turns replicated records and in-memory session facts into API messages.
import type { Host } from "../../common/generated/vigil/v1/Host.js";
import type { Vm } from "../../common/generated/vigil/v1/Vm.js";
import type { ClusterConfig } from "../context.js";
import type { AgentSession } from "../primary/sessions.js";
import type { HostRecord, VmRecord } from "../state/store.js";

/** Keepalives missed since the last one this replica saw; a disconnected host counts from then too. */
export function missedKeepalives(session: AgentSession | undefined, config: ClusterConfig, nowMs: number): number {
  if (session === undefined) return config.savingThrows;
  return Math.max(0, Math.floor((nowMs - session.lastHeartbeatMs) / config.keepaliveIntervalMs) - 1);
}

export function hostView(host: HostRecord, session: AgentSession | undefined, vmCount: number, config: ClusterConfig, nowMs: number, replicaId: string): Host {
  const missed = missedKeepalives(session, config, nowMs);
  const alive = session !== undefined && missed < config.savingThrows;
  const stats = session?.stats;
  return {
    id: host.id,
    state: host.maintenance ? "maintenance" : host.state,
    alive,
    vms: vmCount,
    liveness: alive ? (missed === 0 ? "alive" : "suspect") : "suspect",
    connected: session !== undefined,
    bootId: host.bootId,
    agentVersion: host.agentVersion,
    migrationUri: host.migrationUri,
    appliedSeq: host.appliedSeq,
    eventsApplied: host.eventsApplied,
    lastSeenMs: session?.lastHeartbeatMs ?? 0,
    missedKeepalives: missed,
    maintenance: host.maintenance,
    cpus: stats?.cpus ?? host.cpus,
    memoryBytes: stats?.memoryBytes ?? host.memoryBytes,
    freeMemoryBytes: stats?.freeMemoryBytes ?? 0,
    memoryProvisionedBytes: stats?.memoryProvisionedBytes ?? 0,
    load: stats?.load ?? 0,
    connectedReplica: session === undefined ? "" : (session.via ?? replicaId),
  };
}

export function vmView(vm: VmRecord): Vm {
  return {
    name: vm.name,
    uuid: vm.uuid,
    host: vm.host ?? "",
    state: vm.state,
    restart: vm.restart,
    reason: vm.reason,
    priority: vm.priority,
    limit: vm.limit,
    selector: vm.selector,
    autorestart: vm.autorestart,
    maxRestarts: vm.maxRestarts,
    vcpus: vm.vcpus,
    memoryBytes: vm.memoryBytes,
    lastHost: vm.lastHost,
    desiredState: vm.desiredState,
  };
}
