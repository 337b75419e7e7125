// Deliberate bugs the simulator can switch on, to prove its checkers catch real mistakes in the
// production code paths. Each maps to a test-only switch in production code (never set there) or,
// for the lease wait, to the wiring the simulator shares with vigild's main.
import { InjectedBug as RaftBug } from "../../controlplane/replication/raft-types.js";
import { GatewayInjectedBug } from "../../controlplane/api/agent-gateway.js";
import { JournalInjectedBug } from "../../agent/journal.js";

export const SimBug = {
  /** agent/journal.ts admits a command whose term is below the highest seen. */
  agentAcceptsStaleTerm: JournalInjectedBug.acceptStaleTerm,
  /** controlplane/api/agent-gateway.ts acknowledges events when received, before they commit. */
  ackBeforeCommit: GatewayInjectedBug.ackBeforeCommit,
  /** The new primary does not wait for the previous primary's lease before commanding agents. */
  noTakeoverWait: "no-takeover-wait",
  /** The Raft core grants votes without the log check (raft-types.ts). */
  voteIgnoresLog: RaftBug.voteIgnoresLog,
  /** The Raft core commits old-term entries by counting (raft-types.ts, figure 8). */
  commitOldTermByCounting: RaftBug.commitOldTermByCounting,
} as const;
export type SimBug = (typeof SimBug)[keyof typeof SimBug];

export const simBugNames: readonly SimBug[] = Object.values(SimBug);

export function isSimBug(text: string): text is SimBug {
  return (simBugNames as readonly string[]).includes(text);
}

export function raftBugOf(bugs: ReadonlySet<SimBug>): RaftBug | null {
  if (bugs.has(SimBug.voteIgnoresLog)) return RaftBug.voteIgnoresLog;
  if (bugs.has(SimBug.commitOldTermByCounting)) return RaftBug.commitOldTermByCounting;
  return null;
}
