// Describes an agent journal in one phrase, for kill lines in the log.
import type { AgentNode } from "../agent-node.js";

/** What the journal holds at the moment of a kill: how much is journaled and how much acknowledged. */
export function journalState(agent: AgentNode): string {
  const journal = agent.journalFacts();
  return `journal seq ${journal.lastSeq}, acked ${journal.lastAckedSeq}`;
}
