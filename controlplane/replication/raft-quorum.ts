// Majority arithmetic over one voter set: commit index, election tally, last quorum contact.
import { assert } from "../../common/assert.js";
import type { LogIndex, ReplicaId, Tick } from "./raft-types.js";

export function quorumSize(voterCount: number): number {
  assert(voterCount > 0, "a quorum needs at least one voter");
  return Math.floor(voterCount / 2) + 1;
}

/**
 * The largest value that a majority of voters has reached: sort descending and take the
 * quorum-th value. Used for the commit index (values are match indexes) and for the last tick
 * at which a majority was heard from (values are contact ticks).
 */
export function majorityValue(voters: readonly ReplicaId[], valueOf: (voter: ReplicaId) => number): number {
  const values = voters.map(valueOf).sort((left, right) => right - left);
  return values[quorumSize(voters.length) - 1]!;
}

export function committedIndex(voters: readonly ReplicaId[], matchOf: (voter: ReplicaId) => LogIndex): LogIndex {
  return majorityValue(voters, matchOf);
}

export function quorumContactTick(voters: readonly ReplicaId[], contactOf: (voter: ReplicaId) => Tick): Tick {
  return majorityValue(voters, contactOf);
}

export const VoteResult = { won: "won", lost: "lost", pending: "pending" } as const;
export type VoteResult = (typeof VoteResult)[keyof typeof VoteResult];

/** Won once a majority granted; lost once a majority can no longer be reached. */
export function voteResult(voters: readonly ReplicaId[], votes: ReadonlyMap<ReplicaId, boolean>): VoteResult {
  let granted = 0;
  let rejected = 0;
  for (const voter of voters) {
    const vote = votes.get(voter);
    if (vote === true) granted += 1;
    if (vote === false) rejected += 1;
  }
  const needed = quorumSize(voters.length);
  if (granted >= needed) return VoteResult.won;
  if (voters.length - rejected < needed) return VoteResult.lost;
  return VoteResult.pending;
}
