// The end state a scenario's golden log closes with: every replica, agent and VM as they stand.
import type { World } from "./world.js";

export function describeFinalState(world: World): string[] {
  const lines: string[] = [];
  for (const node of world.replicas.values()) {
    const process = node.liveProcess();
    if (process === null) {
      lines.push(`${node.id}: not running`);
      continue;
    }
    const status = process.replica.status();
    const self = status.members.find((member) => member.id === node.id);
    const primary = process.context.primary.state();
    const paused = node.slot.state === "paused" ? ", paused" : "";
    lines.push(`${node.id}: ${self?.role ?? "unknown"} in term ${status.term}, applied ${process.replica.stateMachine.reader.appliedIndex()}, primary state ${primary}${paused}`);
  }
  const leader = world.currentLeader();
  const reader = leader === null ? null : world.requireReplica(leader).liveProcess()!.replica.stateMachine.reader;
  for (const agent of world.agents.values()) {
    const journal = agent.journalFacts();
    const link = agent.process?.link;
    const state = !agent.host.powered ? "host powered off" : !agent.slot.isAlive() ? "agent not running" : link?.isConnected() ? "agent connected" : "agent not connected";
    lines.push(`${agent.hostId}: ${state}; journal seq ${journal.lastSeq}, acked ${journal.lastAckedSeq}, outbox ${journal.outbox}, highest term ${journal.highestTerm}`);
    for (const domain of agent.host.sortedDomains()) {
      const replicated = reader?.vmByUuid(domain.uuid);
      const view = replicated === undefined ? "unknown to the leader" : `${replicated.state} on ${replicated.host ?? "-"} per the leader, restart=${replicated.restart} priority=${replicated.priority}`;
      lines.push(`${agent.hostId}: vm ${domain.name} ${domain.state} (${domain.reason}); ${view}`);
    }
  }
  return lines;
}
