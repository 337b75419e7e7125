// The seam between the control plane and replication. The API, the agent
// gateway and the primary duties only propose commands and wait for them to be
// applied; whether one replica or a Raft group stands behind is not their concern.
import type { AppliedNotice } from "../state/apply.js";
import type { StateCommand } from "../state/commands.js";

export type ReplicaRole = "leader" | "follower" | "candidate" | "pre-candidate" | "learner" | "unknown";

export interface MemberStatus {
  id: string;
  address: string;
  role: ReplicaRole;
  healthy: boolean;
  commitIndex: number;
  appliedIndex: number;
}

export interface ReplicationStatus {
  term: number;
  leaderId: string | null;
  leaderAddress: string | null;
  members: MemberStatus[];
}

/** Proposed on a replica that does not lead; carries where the leader is, when known. */
export class NotLeaderError extends Error {
  override name = "NotLeaderError";
  constructor(readonly leaderAddress: string | null) {
    super(leaderAddress === null ? "no leader is known; retry shortly" : `not the leader; the leader is at ${leaderAddress}`);
  }
}

/** The log was closed while a proposal waited. */
export class LogClosedError extends Error {
  override name = "LogClosedError";
}

export interface LeadershipChange {
  leader: boolean;
  term: number;
}

export interface ReplicatedLog {
  readonly replicaId: string;
  /** The current Raft term: the fencing token every command carries (DESIGN §3). */
  currentTerm(): number;
  isLeader(): boolean;
  /** Leads and has heard from a quorum within the lease period, in wall time: duties may run. */
  holdsLease(): boolean;
  /** Resolves once the command is committed and applied on this replica, with what applying it said. */
  propose(command: StateCommand): Promise<AppliedNotice[]>;
  /** Resolves when this replica's state reflects every write committed before the call (linearizable read). */
  readBarrier(): Promise<void>;
  status(): ReplicationStatus;
  /** Hands leadership to `to`; resolves once this replica no longer leads, rejects if it did not move in time. */
  transferLeadership(to: string): Promise<void>;
  /** Adds or removes one voter (single-server change); resolves once the change is applied. */
  changeMembership(change: { kind: "addVoter" | "removeVoter"; replica: string }): Promise<void>;
  onApplied(listener: (notices: AppliedNotice[]) => void): () => void;
  onLeadershipChange(listener: (change: LeadershipChange) => void): () => void;
  close(): Promise<void>;
}
