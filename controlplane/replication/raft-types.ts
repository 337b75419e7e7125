// The vocabulary of the pure Raft core: ids, log entries, persistent state, messages and Ready.
// Nothing here does I/O; the edge maps these types to SQLite rows and to peer.proto messages.
import { assert } from "../../common/assert.js";

/** A replica's id as configured (`vigild --id`). Branded so it cannot be mixed up with other strings. */
export type ReplicaId = string & { readonly __brand: "ReplicaId" };

export function replicaId(text: string): ReplicaId {
  assert(text.length > 0, "a replica id is never empty");
  return text as ReplicaId;
}

/** An election term. 0 is "before any election"; terms only ever grow on one replica. */
export type Term = number;
/** A 1-based log position. 0 means "before the first entry". */
export type LogIndex = number;
/** Logical time: the number of tick() calls the core has seen since it was created. Never persisted. */
export type Tick = number;
/** An opaque key that the caller attaches to a read-index request and gets back on its ReadState. */
export type ReadContext = string;

export const EntryKind = {
  normal: "normal",
  configurationChange: "configurationChange",
} as const;
export type EntryKind = (typeof EntryKind)[keyof typeof EntryKind];

/**
 * One log entry. A normal entry with empty data is the no-op a new leader appends.
 * Invariants:
 *  1. index ≥ 1 and term ≥ 1.
 *  2. Log matching: two logs holding an entry with the same index and term hold identical entries up to it.
 *  3. Entries are immutable once created; the core shares them between its log, Ready and messages.
 */
export interface Entry {
  readonly index: LogIndex;
  readonly term: Term;
  readonly kind: EntryKind;
  readonly data: Uint8Array;
}

/**
 * What must survive a crash besides the log.
 * Invariants:
 *  1. term never decreases on one replica.
 *  2. vote is cast at most once per term (a new term clears it).
 *  3. commitIndex never decreases and is ≤ the last persisted log index.
 */
export interface HardState {
  readonly term: Term;
  readonly vote: ReplicaId | null;
  readonly commitIndex: LogIndex;
}

/**
 * The voting membership. voters is sorted and has no duplicates.
 * The configuration in force on a replica is the last one in its log (effective when appended,
 * not when committed), or the snapshot's when the log holds no configuration change.
 */
export interface ConfState {
  readonly voters: readonly ReplicaId[];
}

/** Where a snapshot sits in the log, and the membership as of that index. */
export interface SnapshotMetadata {
  readonly index: LogIndex;
  readonly term: Term;
  readonly confState: ConfState;
}

/** An opaque state-machine image (for vigil: an SQLite online backup) plus its metadata. */
export interface Snapshot {
  readonly metadata: SnapshotMetadata;
  readonly data: Uint8Array;
}

export const Role = {
  follower: "follower",
  preCandidate: "pre-candidate",
  candidate: "candidate",
  leader: "leader",
} as const;
export type Role = (typeof Role)[keyof typeof Role];

/** Volatile state worth showing: who leads as far as this replica knows. */
export interface SoftState {
  readonly role: Role;
  readonly leader: ReplicaId | null;
}

/** A linearizable read may be served once the state machine has applied `index`. */
export interface ReadState {
  readonly index: LogIndex;
  readonly context: ReadContext;
}

// ---------------------------------------------------------------------------------------------
// Messages between replicas. Every message carries the sender's term.
// ---------------------------------------------------------------------------------------------

export const MessageType = {
  append: "append",
  appendResponse: "appendResponse",
  heartbeat: "heartbeat",
  heartbeatResponse: "heartbeatResponse",
  preVote: "preVote",
  preVoteResponse: "preVoteResponse",
  vote: "vote",
  voteResponse: "voteResponse",
  installSnapshot: "installSnapshot",
  timeoutNow: "timeoutNow",
  readIndex: "readIndex",
  readIndexResponse: "readIndexResponse",
} as const;
export type MessageType = (typeof MessageType)[keyof typeof MessageType];

interface MessageHeader {
  readonly from: ReplicaId;
  readonly to: ReplicaId;
  readonly term: Term;
}

/** Leader → follower: entries after (previousIndex, previousTerm), and the leader's commit index. */
export interface AppendMessage extends MessageHeader {
  readonly type: typeof MessageType.append;
  readonly previousIndex: LogIndex;
  readonly previousTerm: Term;
  readonly entries: readonly Entry[];
  readonly commitIndex: LogIndex;
}

/**
 * Follower → leader.
 * Accepted: `index` is the highest index now known to match the leader's log.
 * Rejected: `index` is the previousIndex that did not match; (rejectHintIndex, rejectHintTerm) is the
 * follower's largest entry at or below it whose term is ≤ the leader's previousTerm, so the leader can
 * skip a whole conflicting term in one round trip (fast backtracking). rejectHintTerm 0 = unknown.
 */
export interface AppendResponseMessage extends MessageHeader {
  readonly type: typeof MessageType.appendResponse;
  readonly index: LogIndex;
  readonly reject: boolean;
  readonly rejectHintIndex: LogIndex;
  readonly rejectHintTerm: Term;
}

/** Leader → follower. commitIndex is capped at the follower's match so it never exceeds its log. */
export interface HeartbeatMessage extends MessageHeader {
  readonly type: typeof MessageType.heartbeat;
  readonly commitIndex: LogIndex;
  /** The newest pending read-index round; echoed back to confirm leadership for reads. 0 = none. */
  readonly readSequence: number;
}

export interface HeartbeatResponseMessage extends MessageHeader {
  readonly type: typeof MessageType.heartbeatResponse;
  readonly readSequence: number;
}

/**
 * (Pre-)candidate → voter. A pre-vote carries the term the sender would campaign in (its term + 1)
 * and changes no state anywhere. `transfer` marks a campaign started by TimeoutNow: voters then
 * ignore their leader lease, because the old leader itself asked for the hand-over.
 */
export interface VoteRequestMessage extends MessageHeader {
  readonly type: typeof MessageType.vote | typeof MessageType.preVote;
  readonly lastLogIndex: LogIndex;
  readonly lastLogTerm: Term;
  readonly transfer: boolean;
}

/** Voter → (pre-)candidate. A granted pre-vote carries the requested (future) term. */
export interface VoteResponseMessage extends MessageHeader {
  readonly type: typeof MessageType.voteResponse | typeof MessageType.preVoteResponse;
  readonly reject: boolean;
}

/** Leader → follower whose next entry was compacted away. */
export interface InstallSnapshotMessage extends MessageHeader {
  readonly type: typeof MessageType.installSnapshot;
  readonly snapshot: Snapshot;
}

/** Leader → caught-up transferee: campaign now, skipping pre-vote and the lease. */
export interface TimeoutNowMessage extends MessageHeader {
  readonly type: typeof MessageType.timeoutNow;
}

/** Follower → leader: a read-index request on behalf of a client of the follower. */
export interface ReadIndexMessage extends MessageHeader {
  readonly type: typeof MessageType.readIndex;
  readonly context: ReadContext;
}

/** Leader → follower: the read may be served at `index`, or was refused (`reject`). */
export interface ReadIndexResponseMessage extends MessageHeader {
  readonly type: typeof MessageType.readIndexResponse;
  readonly context: ReadContext;
  readonly index: LogIndex;
  readonly reject: boolean;
}

export type Message =
  | AppendMessage
  | AppendResponseMessage
  | HeartbeatMessage
  | HeartbeatResponseMessage
  | VoteRequestMessage
  | VoteResponseMessage
  | InstallSnapshotMessage
  | TimeoutNowMessage
  | ReadIndexMessage
  | ReadIndexResponseMessage;

// ---------------------------------------------------------------------------------------------
// Ready: everything the core wants the caller to do.
// ---------------------------------------------------------------------------------------------

/**
 * The work the caller must do, in this order, before calling advance(ready):
 *  1. Persist. Write `snapshot` (if any), then `entries` (replacing any stored entries at or after
 *     entries[0].index), then `hardState` (if any) — ideally in one transaction, one fsync.
 *     A crash before this completes must lose the whole Ready, never half of it out of order.
 *  2. Send `messages`. Only after step 1: a vote or an append acknowledgement is a promise about
 *     durable state.
 *  3. Apply. If `snapshot` is set, restore the state machine from it. Then apply `committedEntries`
 *     in order, and persist the applied index with them (for vigil: in the same SQLite transaction).
 *     Entries of kind configurationChange are already in force in the core; apply them to the
 *     application's own membership table.
 *  4. Serve reads: for each of `readStates`, answer the read once applied ≥ its index.
 *  5. Call advance(ready). Do not call ready() again before that.
 * `softState` is always present; compare with the previous one to log role changes.
 */
export interface Ready {
  readonly softState: SoftState;
  /** Null when unchanged since the last Ready. */
  readonly hardState: HardState | null;
  readonly entries: readonly Entry[];
  /** A snapshot received from the leader, to persist and install. Null when none. */
  readonly snapshot: Snapshot | null;
  readonly committedEntries: readonly Entry[];
  readonly messages: readonly Message[];
  readonly readStates: readonly ReadState[];
}

// ---------------------------------------------------------------------------------------------
// Outcomes of inputs: rejections are values, never exceptions (exceptions are programmer errors).
// ---------------------------------------------------------------------------------------------

export const StepRejection = {
  /** The message's term is below ours: it comes from the past. State unchanged. */
  staleTerm: "stale-term",
  /** The sender is not a voter in our configuration and the message is not one a leader sends. */
  unknownMember: "unknown-member",
  /** A (pre-)vote while we still hear from a live leader; ignoring it keeps lease reads safe. */
  leaderLease: "leader-lease",
  /** The message is addressed to another replica, or claims to come from us. */
  misaddressed: "misaddressed",
} as const;
export type StepRejection = (typeof StepRejection)[keyof typeof StepRejection];

export type StepOutcome =
  | { readonly accepted: true }
  | { readonly accepted: false; readonly reason: StepRejection; readonly detail: string };

export const ProposalRejection = {
  notLeader: "not-leader",
  leadershipTransfer: "leadership-transfer",
  tooManyUncommitted: "too-many-uncommitted",
  configurationChangePending: "configuration-change-pending",
  leaderNotReady: "leader-not-ready",
  invalidConfigurationChange: "invalid-configuration-change",
} as const;
export type ProposalRejection = (typeof ProposalRejection)[keyof typeof ProposalRejection];

/** On acceptance the entry sits at (index, term); it is done when applied there with that term. */
export type ProposalOutcome =
  | { readonly accepted: true; readonly index: LogIndex; readonly term: Term }
  | {
      readonly accepted: false;
      readonly reason: ProposalRejection;
      /** The leader as far as we know, so the edge can forward the request. */
      readonly leader: ReplicaId | null;
      readonly detail: string;
    };

export const RequestRejection = {
  notLeader: "not-leader",
  noLeader: "no-leader",
  notPromotable: "not-promotable",
  unknownMember: "unknown-member",
  tooManyPendingReads: "too-many-pending-reads",
  alreadyLeader: "already-leader",
} as const;
export type RequestRejection = (typeof RequestRejection)[keyof typeof RequestRejection];

export type RequestOutcome =
  | { readonly accepted: true }
  | { readonly accepted: false; readonly reason: RequestRejection; readonly detail: string };

/**
 * Test-only faults that make the core deliberately unsafe, so that tests can prove the simulator's
 * checkers catch real bugs. Never set in production.
 */
export const InjectedBug = {
  /** Grant votes without checking that the candidate's log is at least as up to date. */
  voteIgnoresLog: "vote-ignores-log",
  /** Commit by counting replicas even for entries of older terms (Raft paper, figure 8). */
  commitOldTermByCounting: "commit-old-term-by-counting",
} as const;
export type InjectedBug = (typeof InjectedBug)[keyof typeof InjectedBug];

/** A bytes estimate of one entry, for message and apply batch bounds. */
export function entrySizeBytes(entry: Entry): number {
  const headerBytes = 24;
  return entry.data.byteLength + headerBytes;
}
