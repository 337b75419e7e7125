// The pure Raft core, in the shape of etcd's raft: no I/O, no timers, no clock, no randomness of
// its own. Inputs are tick() (logical time), step(message) and the local requests (propose,
// proposeConfChange, transferLeadership, readIndex, campaignNow). The output is a Ready (see
// raft-types.ts for the caller's duties and their order) followed by advance(ready).
//
// Features: pre-vote, check-quorum with a leader lease, pipelined replication with fast conflict
// backtracking, the current-term commit rule, leadership transfer (TimeoutNow), snapshots for
// followers behind the compaction point, single-server membership changes, read index.
//
// Invariants the core keeps (checked by assertions here and by the simulator across replicas):
//  1. Election safety: at most one leader per term (a replica votes once per term, and a leader
//     needs a majority of its configuration).
//  2. Leader append-only: a leader never overwrites or deletes entries in its log.
//  3. Log matching: an append is accepted only after (previousIndex, previousTerm) matches.
//  4. Leader completeness: votes go only to candidates whose log is at least as up to date.
//  5. Commit rule: a leader advances its commit index only to an entry of its own term that a
//     majority holds; earlier entries commit with it (Raft §5.4.2, figure 8).
//  6. Lease: a leader steps down once it has not heard from a majority for electionTimeoutTicks;
//     a follower that heard from its leader within electionTimeoutTicks ignores (pre-)votes, unless
//     the campaign is a transfer the leader itself started.
//  7. At most one configuration change is uncommitted at a time, and a leader proposes one only
//     after committing an entry of its own term.
//
// The drive loop at the edge (single-threaded; see Ready for why the order matters):
//
//   const raft = new Raft({ id, storage, rng, electionTimeoutTicks: 10, heartbeatIntervalTicks: 1,
//                           appliedIndex: stateMachine.appliedIndex() });
//   on timer every tickMs:     raft.tick()
//   on peer message m:         raft.step(m)              // a rejection is a value: log it
//   on client write w:         raft.propose(encode(w))   // accepted → wait for (index, term) applied
//   on connection to leader lost: raft.campaignNow()
//   then, while raft.hasReady():
//     const ready = raft.ready();
//     storage.write(ready.snapshot, ready.entries, ready.hardState);   // one transaction, fsync
//     transport.send(ready.messages);
//     stateMachine.restore(ready.snapshot); stateMachine.apply(ready.committedEntries);
//     reads.answer(ready.readStates);
//     raft.advance(ready);
import { assert } from "../../common/assert.js";
import type { Rng } from "../../common/env.js";
import {
  ConfigurationHistory,
  confChangeProblem,
  encodeConfChange,
  type ConfChange,
} from "./raft-configuration.js";
import { RaftLog } from "./raft-log.js";
import { Progress, ProgressState } from "./raft-progress.js";
import { committedIndex, quorumContactTick, quorumSize, voteResult, VoteResult } from "./raft-quorum.js";
import { ReadIndexQueue, type PendingRead, type ReadRequest } from "./raft-read-index.js";
import type { RaftStorage } from "./raft-storage.js";
import {
  EntryKind,
  InjectedBug,
  MessageType,
  ProposalRejection,
  RequestRejection,
  Role,
  StepRejection,
  type AppendMessage,
  type AppendResponseMessage,
  type Entry,
  type HardState,
  type HeartbeatMessage,
  type HeartbeatResponseMessage,
  type InstallSnapshotMessage,
  type LogIndex,
  type Message,
  type ProposalOutcome,
  type ReadContext,
  type ReadIndexResponseMessage,
  type ReadState,
  type Ready,
  type ReplicaId,
  type RequestOutcome,
  type Snapshot,
  type SnapshotMetadata,
  type SoftState,
  type StepOutcome,
  type Term,
  type Tick,
  type VoteRequestMessage,
  type VoteResponseMessage,
} from "./raft-types.js";

/** Bounds on every queue and batch the core builds. */
export interface RaftLimits {
  /** Bytes of entries in one append message (at least one entry is always sent). */
  readonly appendBytesMax: number;
  /** Unacknowledged appends pipelined to one follower. */
  readonly inflightMessagesMax: number;
  /** Entries appended but not yet committed before proposals are refused. */
  readonly uncommittedEntriesMax: number;
  /** Bytes of committed entries handed out in one Ready. */
  readonly applyBytesMax: number;
  /** Read-index requests pending on a leader. */
  readonly readRequestsMax: number;
}

export const defaultRaftLimits: RaftLimits = {
  appendBytesMax: 1024 * 1024,
  inflightMessagesMax: 256,
  uncommittedEntriesMax: 10_000,
  // Applying is synchronous on the replica's event loop: a bounded batch keeps heartbeats flowing
  // (a leader stalled past the election timeout loses its followers).
  applyBytesMax: 512 * 1024,
  readRequestsMax: 4096,
};

export interface RaftConfig {
  readonly id: ReplicaId;
  readonly storage: RaftStorage;
  /** Draws the randomized election timeout; seeded in tests and the simulator. */
  readonly rng: Rng;
  /** Ticks without hearing from a leader before a follower campaigns (randomized up to twice this). */
  readonly electionTimeoutTicks: number;
  readonly heartbeatIntervalTicks: number;
  /** The state machine's persisted applied index; defaults to the snapshot index. */
  readonly appliedIndex?: LogIndex;
  readonly limits?: Partial<RaftLimits>;
  /** Test only: see InjectedBug. */
  readonly injectedBug?: InjectedBug | null;
}

export interface PeerStatus {
  readonly id: ReplicaId;
  readonly matchIndex: LogIndex;
  readonly nextIndex: LogIndex;
  readonly state: ProgressState;
  readonly lastContactTick: Tick;
}

/**
 * The leader lease as the core sees it, in ticks of this replica. The primary-lease layer converts
 * ticks to time and adds its clock-drift bound.
 */
export interface LeaseStatus {
  readonly becameLeaderTick: Tick;
  /** The newest tick at which a majority of voters (counting this leader) had been heard from. */
  readonly quorumContactTick: Tick;
  /** Whether that contact is younger than electionTimeoutTicks. */
  readonly hasQuorumContact: boolean;
  /** The tick at which this leader steps down unless a majority is heard from again. */
  readonly expiresAtTick: Tick;
}

export interface RaftStatus {
  readonly id: ReplicaId;
  readonly term: Term;
  readonly vote: ReplicaId | null;
  readonly role: Role;
  readonly leader: ReplicaId | null;
  readonly commitIndex: LogIndex;
  readonly appliedIndex: LogIndex;
  readonly firstIndex: LogIndex;
  readonly lastIndex: LogIndex;
  readonly voters: readonly ReplicaId[];
  readonly currentTick: Tick;
  readonly leadTransferee: ReplicaId | null;
  /** Leader only. */
  readonly lease: LeaseStatus | null;
  /** Leader only: one row per other voter, sorted by id. */
  readonly peers: readonly PeerStatus[] | null;
}

const CampaignKind = { preElection: "preElection", election: "election", transfer: "transfer" } as const;
type CampaignKind = (typeof CampaignKind)[keyof typeof CampaignKind];

const accepted: StepOutcome & RequestOutcome = { accepted: true };

/** Messages only a leader sends; a replica accepts them from senders it does not know yet. */
function isLeaderMessage(message: Message): boolean {
  switch (message.type) {
    case MessageType.append:
    case MessageType.heartbeat:
    case MessageType.installSnapshot:
      return true;
    default:
      return false;
  }
}

export class Raft {
  readonly id: ReplicaId;
  private readonly log: RaftLog;
  private readonly configuration: ConfigurationHistory;
  private readonly rng: Rng;
  private readonly electionTimeoutTicks: number;
  private readonly heartbeatIntervalTicks: number;
  private readonly limits: RaftLimits;
  private readonly injectedBug: InjectedBug | null;

  private term: Term;
  private vote: ReplicaId | null;
  private leader: ReplicaId | null = null;
  private role: Role = Role.follower;
  /** Leader only: every voter but this replica. */
  private progress = new Map<ReplicaId, Progress>();
  /** (Pre-)candidate only: the answers received in this campaign. */
  private readonly votes = new Map<ReplicaId, boolean>();
  private electionElapsedTicks = 0;
  private heartbeatElapsedTicks = 0;
  private randomizedElectionTimeoutTicks = 0;
  private currentTick: Tick = 0;
  private becameLeaderTick: Tick = 0;
  private leadTransferee: ReplicaId | null = null;
  /** Leader only: the index of the empty entry that opened this term. */
  private termStartIndex: LogIndex = 0;
  private readonly reads: ReadIndexQueue;

  private outbox: Message[] = [];
  private readStates: ReadState[] = [];
  private persistedHardState: HardState;
  private readyOutstanding = false;
  /** Leader: proposals were appended since the last Ready; one append per follower goes out with the next. */
  private appendsPending = false;
  private tickRole: () => void = () => this.tickElection();
  private stepRole: (message: Message) => void = (message) => this.stepFollower(message);

  constructor(config: RaftConfig) {
    assert(config.heartbeatIntervalTicks > 0, "heartbeats are at least one tick apart");
    assert(config.electionTimeoutTicks > config.heartbeatIntervalTicks, "the election timeout spans several heartbeats");
    this.id = config.id;
    this.rng = config.rng;
    this.electionTimeoutTicks = config.electionTimeoutTicks;
    this.heartbeatIntervalTicks = config.heartbeatIntervalTicks;
    this.limits = { ...defaultRaftLimits, ...config.limits };
    this.injectedBug = config.injectedBug ?? null;
    this.reads = new ReadIndexQueue(this.limits.readRequestsMax);

    const storage = config.storage;
    const initial = storage.initialState();
    const snapshotIndex = storage.snapshot().metadata.index;
    this.configuration = new ConfigurationHistory(snapshotIndex, initial.confState);
    this.replayConfigurationChanges(storage, snapshotIndex);
    // A snapshot holds committed state only, whatever the stored commit index says.
    this.log = new RaftLog(storage, {
      commitIndex: Math.max(initial.hardState.commitIndex, snapshotIndex),
      appliedIndex: config.appliedIndex ?? snapshotIndex,
    });
    this.term = initial.hardState.term;
    this.vote = initial.hardState.vote;
    this.persistedHardState = initial.hardState;
    this.becomeFollower(this.term, null);
  }

  // ===========================================================================================
  // Inputs
  // ===========================================================================================

  /** One unit of logical time. The caller ticks at a fixed interval (vigild: every 100 ms). */
  tick(): void {
    this.currentTick += 1;
    this.tickRole();
    this.checkInvariants();
  }

  /** A message from a peer. Rejections are values with a reason; state is then unchanged. */
  step(message: Message): StepOutcome {
    const addressing = this.addressingProblem(message);
    if (addressing !== null) return addressing;
    const membership = this.membershipProblem(message);
    if (membership !== null) return membership;
    if (message.term > this.term) {
      const ignored = this.stepHigherTerm(message);
      if (ignored !== null) return ignored;
    } else if (message.term < this.term) {
      return this.stepLowerTerm(message);
    }
    if (message.type === MessageType.vote || message.type === MessageType.preVote) {
      this.handleVoteRequest(message);
    } else {
      this.stepRole(message);
    }
    this.checkInvariants();
    return accepted;
  }

  /** Appends `data` if this replica leads. Done when applied at the returned (index, term). */
  propose(data: Uint8Array): ProposalOutcome {
    const problem = this.proposalProblem();
    if (problem !== null) return problem;
    const entry = this.appendAsLeader(EntryKind.normal, data);
    return { accepted: true, index: entry.index, term: entry.term };
  }

  /** Adds or removes one voter. In force on every replica as soon as it appends the entry. */
  proposeConfChange(change: ConfChange): ProposalOutcome {
    const problem = this.proposalProblem() ?? this.confChangeRefusal(change);
    if (problem !== null) return problem;
    const entry = this.appendAsLeader(EntryKind.configurationChange, encodeConfChange(change));
    return { accepted: true, index: entry.index, term: entry.term };
  }

  /** Hands leadership to `transferee` once its log is caught up. Proposals are refused meanwhile. */
  transferLeadership(transferee: ReplicaId): RequestOutcome {
    if (this.role !== Role.leader) return refuse(RequestRejection.notLeader, `${this.id} is not the leader`);
    if (transferee === this.id) return refuse(RequestRejection.alreadyLeader, `${this.id} already leads`);
    if (!this.progress.has(transferee)) return refuse(RequestRejection.unknownMember, `${transferee} is not a voter`);
    if (this.leadTransferee === transferee) return accepted;
    this.leadTransferee = transferee;
    // The transfer must finish within one election timeout, else it is abandoned (tickLeader).
    this.electionElapsedTicks = 0;
    const progress = this.progressOf(transferee);
    if (progress.matchIndex === this.log.lastIndex()) this.sendTimeoutNow(transferee);
    else this.sendAppend(transferee, true);
    return accepted;
  }

  /**
   * Asks for a linearizable read. The answer arrives as a ReadState (context, index) in a later
   * Ready: serve the read once applied ≥ index. Requests that are lost (leader change, dropped
   * message) never answer; the caller times out and retries.
   */
  readIndex(context: ReadContext): RequestOutcome {
    if (this.role === Role.leader) return this.handleReadRequest({ context, requester: this.id });
    if (this.leader === null) return refuse(RequestRejection.noLeader, `${this.id} knows no leader`);
    this.send({ type: MessageType.readIndex, from: this.id, to: this.leader, term: this.term, context });
    return accepted;
  }

  /**
   * Starts a pre-vote now instead of waiting for the election timeout: the edge calls this when
   * its connection to the leader closes. Pre-vote makes it harmless when the leader is in fact
   * healthy: voters still hearing from it ignore the request.
   */
  campaignNow(): RequestOutcome {
    if (this.role === Role.leader) return refuse(RequestRejection.alreadyLeader, `${this.id} already leads`);
    if (!this.promotable()) return refuse(RequestRejection.notPromotable, `${this.id} is not a voter`);
    this.campaign(CampaignKind.preElection);
    return accepted;
  }

  /**
   * The edge saw `leader`'s process go (its stream closed): stop honouring its lease, so this
   * replica grants the survivors' pre-votes at once instead of after the election timeout.
   * Safe: primary duties do not rely on votes being withheld, but on a new primary waiting out
   * the old lease (DESIGN §3), and reads go through read index, not the lease.
   */
  forgetLeader(leader: ReplicaId): void {
    if (this.role === Role.follower && this.leader === leader) this.leader = null;
  }

  /** The transport could not reach `peer`: stop pipelining to it and probe instead. */
  reportUnreachable(peer: ReplicaId): void {
    if (this.role !== Role.leader) return;
    const progress = this.progress.get(peer);
    if (progress !== undefined && progress.state === ProgressState.replicate) progress.becomeProbe();
  }

  /** The transport finished (or failed) sending a snapshot to `peer`. */
  reportSnapshot(peer: ReplicaId, succeeded: boolean): void {
    if (this.role !== Role.leader) return;
    const progress = this.progress.get(peer);
    if (progress === undefined || progress.state !== ProgressState.snapshot) return;
    if (!succeeded) {
      progress.snapshotFailed();
      return;
    }
    // Wait for the follower's acknowledgement before sending appends after the snapshot.
    progress.becomeProbe();
    progress.probeSent = true;
  }

  // ===========================================================================================
  // Output
  // ===========================================================================================

  hasReady(): boolean {
    if (this.appendsPending) return true;
    if (this.outbox.length > 0 || this.readStates.length > 0) return true;
    if (this.log.unstable.entries.length > 0 || this.log.unstable.snapshot !== null) return true;
    if (!sameHardState(this.hardState(), this.persistedHardState)) return true;
    return this.log.hasNextCommittedEntries();
  }

  /** What the caller must do now; see Ready for the order. Call advance(ready) afterwards. */
  ready(): Ready {
    assert(!this.readyOutstanding, "advance the previous Ready before asking for another");
    if (this.appendsPending) {
      this.appendsPending = false;
      if (this.role === Role.leader) this.broadcastAppend();
    }
    const hardState = this.hardState();
    const ready: Ready = {
      softState: this.softState(),
      hardState: sameHardState(hardState, this.persistedHardState) ? null : hardState,
      entries: [...this.log.unstable.entries],
      snapshot: this.log.unstable.snapshot,
      committedEntries: this.log.nextCommittedEntries(this.limits.applyBytesMax),
      messages: this.outbox,
      readStates: this.readStates,
    };
    this.outbox = [];
    this.readStates = [];
    this.readyOutstanding = true;
    return ready;
  }

  /** The caller persisted, sent and applied `ready`. */
  advance(ready: Ready): void {
    assert(this.readyOutstanding, "advance follows ready");
    this.readyOutstanding = false;
    if (ready.hardState !== null) this.persistedHardState = ready.hardState;
    if (ready.snapshot !== null) {
      this.log.unstable.stableSnapshotTo(ready.snapshot.metadata.index);
      this.log.appliedTo(Math.max(this.log.appliedIndex, ready.snapshot.metadata.index));
    }
    const lastEntry = ready.entries[ready.entries.length - 1];
    if (lastEntry !== undefined) this.log.unstable.stableTo(lastEntry.index, lastEntry.term);
    const lastCommitted = ready.committedEntries[ready.committedEntries.length - 1];
    if (lastCommitted !== undefined) this.log.appliedTo(lastCommitted.index);
    this.configuration.compactTo(this.log.storage.snapshot().metadata.index);
  }

  // ===========================================================================================
  // Observation
  // ===========================================================================================

  status(): RaftStatus {
    const leading = this.role === Role.leader;
    return {
      id: this.id,
      term: this.term,
      vote: this.vote,
      role: this.role,
      leader: this.leader,
      commitIndex: this.log.commitIndex,
      appliedIndex: this.log.appliedIndex,
      firstIndex: this.log.firstIndex(),
      lastIndex: this.log.lastIndex(),
      voters: this.configuration.latest().voters,
      currentTick: this.currentTick,
      leadTransferee: this.leadTransferee,
      lease: leading ? this.leaseStatus() : null,
      peers: leading ? this.peerStatuses() : null,
    };
  }

  softState(): SoftState {
    return { role: this.role, leader: this.leader };
  }

  hardState(): HardState {
    return { term: this.term, vote: this.vote, commitIndex: this.log.commitIndex };
  }

  /** The term of the entry at `index` in this replica's log (persisted or not); null if absent. */
  termAt(index: LogIndex): Term | null {
    return this.log.term(index);
  }

  /**
   * Metadata for a snapshot of the state machine at `index` (≤ applied) that the caller takes.
   * Call it between advance() and the next input, or use trySnapshotMetadataAt.
   */
  snapshotMetadataAt(index: LogIndex): SnapshotMetadata {
    const metadata = this.trySnapshotMetadataAt(index);
    assert(metadata !== null, "the snapshot index is still in the log");
    return metadata;
  }

  /**
   * Like snapshotMetadataAt, but null when `index` has left the log meanwhile (a snapshot from the
   * leader is being installed and its Ready not yet advanced): skip that compaction.
   */
  trySnapshotMetadataAt(index: LogIndex): SnapshotMetadata | null {
    assert(index <= this.log.appliedIndex, "only applied state is snapshotted");
    const term = this.log.term(index);
    if (term === null || index < this.configuration.baseIndex()) return null;
    return { index, term, confState: this.configuration.at(index) };
  }

  // ===========================================================================================
  // Message admission
  // ===========================================================================================

  private addressingProblem(message: Message): StepOutcome | null {
    if (message.to !== this.id) return reject(StepRejection.misaddressed, `message for ${message.to} reached ${this.id}`);
    if (message.from === this.id) return reject(StepRejection.misaddressed, `message claims to come from ${this.id} itself`);
    return null;
  }

  /**
   * A sender outside our configuration may not answer us, ask us for anything or hand over
   * leadership. Exceptions, because a replica learns its membership only from the log and may
   * not know a legitimate member yet (Raft dissertation §4.1):
   *  - messages only a leader sends (append, heartbeat, snapshot), and anything from the leader
   *    we follow: a joining or lagging replica must accept its log from it;
   *  - a vote request from a log strictly ahead of ours: it may hold configurations we have not
   *    seen. (A log not ahead holds no configuration we lack, so such a sender is truly unknown.)
   */
  private membershipProblem(message: Message): StepOutcome | null {
    if (this.configuration.isVoter(message.from)) return null;
    if (isLeaderMessage(message) || message.from === this.leader) return null;
    const voteRequest = message.type === MessageType.vote || message.type === MessageType.preVote;
    if (voteRequest && this.logIsBehind(message.lastLogIndex, message.lastLogTerm)) return null;
    return reject(StepRejection.unknownMember, `${message.from} is not a voter in ${this.id}'s configuration (${message.type} ignored)`);
  }

  /** Whether a log ending at (lastIndex, lastTerm) is strictly more up to date than ours. */
  private logIsBehind(lastIndex: LogIndex, lastTerm: Term): boolean {
    const ourLastTerm = this.log.lastTerm();
    if (lastTerm !== ourLastTerm) return lastTerm > ourLastTerm;
    return lastIndex > this.log.lastIndex();
  }

  private stepHigherTerm(message: Message): StepOutcome | null {
    if (message.type === MessageType.vote || message.type === MessageType.preVote) {
      const transfer = message.type === MessageType.vote && message.transfer;
      if (!transfer && this.inLease()) {
        return reject(StepRejection.leaderLease, `${message.type} from ${message.from} for term ${message.term} while leader ${this.leader} is live`);
      }
    }
    // A pre-vote changes nothing, and a granted pre-vote answer carries the term we asked about.
    if (message.type === MessageType.preVote) return null;
    if (message.type === MessageType.preVoteResponse && !message.reject) return null;
    this.becomeFollower(message.term, isLeaderMessage(message) ? message.from : null);
    return null;
  }

  private stepLowerTerm(message: Message): StepOutcome {
    if (message.type === MessageType.append || message.type === MessageType.heartbeat) {
      // Tell the stale leader about our term so that it steps down; with check-quorum and pre-vote
      // it may otherwise never learn of it (our votes are not what it waits for).
      this.sendAppendResponse(message.from, { index: 0, reject: false, rejectHintIndex: 0, rejectHintTerm: 0 });
    } else if (message.type === MessageType.preVote) {
      this.send({ type: MessageType.preVoteResponse, from: this.id, to: message.from, term: this.term, reject: true });
    }
    return reject(StepRejection.staleTerm, `${message.type} from ${message.from} has term ${message.term}, below ${this.id}'s term ${this.term}`);
  }

  private inLease(): boolean {
    if (this.role === Role.leader) return true;
    return this.leader !== null && this.electionElapsedTicks < this.electionTimeoutTicks;
  }

  private handleVoteRequest(message: VoteRequestMessage): void {
    const preVote = message.type === MessageType.preVote;
    const responseType = preVote ? MessageType.preVoteResponse : MessageType.voteResponse;
    const canVote =
      this.vote === message.from || (this.vote === null && this.leader === null) || (preVote && message.term > this.term);
    const upToDate =
      this.injectedBug === InjectedBug.voteIgnoresLog || this.log.isUpToDate(message.lastLogIndex, message.lastLogTerm);
    if (!canVote || !upToDate) {
      this.send({ type: responseType, from: this.id, to: message.from, term: this.term, reject: true });
      return;
    }
    // A granted pre-vote answers in the term asked about, so the pre-candidate counts it.
    this.send({ type: responseType, from: this.id, to: message.from, term: message.term, reject: false });
    if (preVote) return;
    assert(message.term === this.term, "a vote is granted in the current term");
    this.electionElapsedTicks = 0;
    this.vote = message.from;
  }

  // ===========================================================================================
  // Roles
  // ===========================================================================================

  private becomeFollower(term: Term, leader: ReplicaId | null): void {
    this.reset(term);
    this.leader = leader;
    this.role = Role.follower;
    this.tickRole = () => this.tickElection();
    this.stepRole = (message) => this.stepFollower(message);
  }

  private becomePreCandidate(): void {
    assert(this.role !== Role.leader, "a leader never pre-campaigns");
    // The term and vote stay: a pre-vote must not disturb anyone, this replica included.
    this.votes.clear();
    this.leader = null;
    this.electionElapsedTicks = 0;
    this.resetRandomizedElectionTimeout();
    this.role = Role.preCandidate;
    this.tickRole = () => this.tickElection();
    this.stepRole = (message) => this.stepCandidate(message);
  }

  private becomeCandidate(): void {
    assert(this.role !== Role.leader, "a leader never campaigns");
    this.reset(this.term + 1);
    this.vote = this.id;
    this.role = Role.candidate;
    this.tickRole = () => this.tickElection();
    this.stepRole = (message) => this.stepCandidate(message);
  }

  private becomeLeader(): void {
    assert(this.role === Role.candidate, "only a candidate becomes leader");
    assert(this.vote === this.id, "a leader voted for itself");
    this.reset(this.term);
    this.leader = this.id;
    this.role = Role.leader;
    this.tickRole = () => this.tickLeader();
    this.stepRole = (message) => this.stepLeader(message);
    this.becameLeaderTick = this.currentTick;
    this.syncProgressWithConfiguration();
    // Raft §8: an empty entry of the new term lets earlier entries commit (invariant 5).
    this.termStartIndex = this.appendAsLeader(EntryKind.normal, new Uint8Array(0)).index;
  }

  private reset(term: Term): void {
    assert(term >= this.term, "the term never decreases");
    if (term !== this.term) {
      this.term = term;
      this.vote = null;
    }
    this.leader = null;
    this.electionElapsedTicks = 0;
    this.heartbeatElapsedTicks = 0;
    this.resetRandomizedElectionTimeout();
    this.leadTransferee = null;
    this.votes.clear();
    this.reads.clear();
    this.progress = new Map();
    this.termStartIndex = 0;
  }

  /** Uniform in [electionTimeoutTicks, 2 * electionTimeoutTicks), so that split votes resolve. */
  private resetRandomizedElectionTimeout(): void {
    const spreadTicks = Math.floor(this.rng.next() * this.electionTimeoutTicks);
    this.randomizedElectionTimeoutTicks = this.electionTimeoutTicks + Math.min(spreadTicks, this.electionTimeoutTicks - 1);
  }

  private promotable(): boolean {
    return this.configuration.isVoter(this.id);
  }

  private tickElection(): void {
    this.electionElapsedTicks += 1;
    if (!this.promotable()) return;
    if (this.electionElapsedTicks < this.randomizedElectionTimeoutTicks) return;
    this.electionElapsedTicks = 0;
    this.campaign(CampaignKind.preElection);
  }

  private tickLeader(): void {
    this.heartbeatElapsedTicks += 1;
    this.electionElapsedTicks += 1;
    if (this.electionElapsedTicks >= this.electionTimeoutTicks) {
      this.electionElapsedTicks = 0;
      this.leadTransferee = null;
    }
    if (this.currentTick - this.currentQuorumContactTick() >= this.electionTimeoutTicks) {
      this.becomeFollower(this.term, null);
      return;
    }
    this.retryLostSnapshots();
    if (this.heartbeatElapsedTicks >= this.heartbeatIntervalTicks) {
      this.heartbeatElapsedTicks = 0;
      this.broadcastHeartbeat();
    }
  }

  private campaign(kind: CampaignKind): void {
    assert(this.promotable(), "only a voter campaigns");
    if (kind === CampaignKind.preElection) this.becomePreCandidate();
    else this.becomeCandidate();
    this.votes.set(this.id, true);
    if (this.tallyVotes() === VoteResult.won) {
      this.winCampaign();
      return;
    }
    const voteTerm = kind === CampaignKind.preElection ? this.term + 1 : this.term;
    const type = kind === CampaignKind.preElection ? MessageType.preVote : MessageType.vote;
    const lastLogIndex = this.log.lastIndex();
    const lastLogTerm = this.log.lastTerm();
    for (const voter of this.configuration.latest().voters) {
      if (voter === this.id) continue;
      this.send({ type, from: this.id, to: voter, term: voteTerm, lastLogIndex, lastLogTerm, transfer: kind === CampaignKind.transfer });
    }
  }

  private winCampaign(): void {
    if (this.role === Role.preCandidate) this.campaign(CampaignKind.election);
    else this.becomeLeader();
  }

  private tallyVotes(): VoteResult {
    return voteResult(this.configuration.latest().voters, this.votes);
  }

  // ===========================================================================================
  // Per-role message handling
  // ===========================================================================================

  private stepFollower(message: Message): void {
    switch (message.type) {
      case MessageType.append:
        this.heardFromLeader(message.from);
        this.handleAppend(message);
        return;
      case MessageType.heartbeat:
        this.heardFromLeader(message.from);
        this.handleHeartbeat(message);
        return;
      case MessageType.installSnapshot:
        this.heardFromLeader(message.from);
        this.handleInstallSnapshot(message);
        return;
      case MessageType.timeoutNow:
        if (this.promotable()) this.campaign(CampaignKind.transfer);
        return;
      case MessageType.readIndex:
        this.refuseForwardedRead(message.from, message.context);
        return;
      case MessageType.readIndexResponse:
        this.handleReadIndexResponse(message);
        return;
      default:
        return; // answers to an earlier candidacy or leadership: nothing left to do with them
    }
  }

  private stepCandidate(message: Message): void {
    switch (message.type) {
      case MessageType.append:
      case MessageType.heartbeat:
      case MessageType.installSnapshot:
        // Someone won this term (or, for a pre-candidate, still leads it).
        this.becomeFollower(message.term, message.from);
        this.stepFollower(message);
        return;
      case MessageType.voteResponse:
      case MessageType.preVoteResponse:
        this.handleVoteResponse(message);
        return;
      case MessageType.readIndex:
        this.refuseForwardedRead(message.from, message.context);
        return;
      default:
        return;
    }
  }

  private stepLeader(message: Message): void {
    switch (message.type) {
      case MessageType.appendResponse:
        this.handleAppendResponse(message);
        return;
      case MessageType.heartbeatResponse:
        this.handleHeartbeatResponse(message);
        return;
      case MessageType.readIndex:
        this.handleForwardedRead(message.from, message.context);
        return;
      case MessageType.append:
      case MessageType.heartbeat:
      case MessageType.installSnapshot:
        assert(false, `two leaders in term ${this.term}: ${this.id} and ${message.from}`);
        return;
      default:
        return;
    }
  }

  private heardFromLeader(leader: ReplicaId): void {
    assert(this.leader === null || this.leader === leader, `two leaders in term ${this.term}: ${this.leader} and ${leader}`);
    this.electionElapsedTicks = 0;
    this.leader = leader;
  }

  private handleVoteResponse(message: VoteResponseMessage): void {
    const expected = this.role === Role.preCandidate ? MessageType.preVoteResponse : MessageType.voteResponse;
    if (message.type !== expected) return;
    this.votes.set(message.from, !message.reject);
    const result = this.tallyVotes();
    if (result === VoteResult.won) this.winCampaign();
    else if (result === VoteResult.lost) this.becomeFollower(this.term, null);
  }

  // ---- follower side of replication ----

  private handleAppend(message: AppendMessage): void {
    if (message.previousIndex < this.log.commitIndex) {
      this.sendAppendResponse(message.from, { index: this.log.commitIndex, reject: false, rejectHintIndex: 0, rejectHintTerm: 0 });
      return;
    }
    const result = this.log.maybeAppend(message);
    if (result !== null) {
      const lastNewTerm = message.entries.at(-1)?.term ?? message.previousTerm;
      assert(this.log.matchTerm(result.lastNewIndex, lastNewTerm), "the follower holds what it acknowledges");
      this.recordAppendedConfiguration(result.appended);
      this.sendAppendResponse(message.from, { index: result.lastNewIndex, reject: false, rejectHintIndex: 0, rejectHintTerm: 0 });
      return;
    }
    // Fast backtracking: point the leader at our last entry whose term could still match.
    const hint = this.log.findConflictByTerm(Math.min(message.previousIndex, this.log.lastIndex()), message.previousTerm);
    this.sendAppendResponse(message.from, {
      index: message.previousIndex,
      reject: true,
      rejectHintIndex: hint.index,
      rejectHintTerm: hint.term,
    });
  }

  private handleHeartbeat(message: HeartbeatMessage): void {
    this.log.commitTo(message.commitIndex);
    this.send({ type: MessageType.heartbeatResponse, from: this.id, to: message.from, term: this.term, readSequence: message.readSequence });
  }

  private handleInstallSnapshot(message: InstallSnapshotMessage): void {
    const restored = this.restoreSnapshot(message.snapshot);
    const index = restored ? this.log.lastIndex() : this.log.commitIndex;
    this.sendAppendResponse(message.from, { index, reject: false, rejectHintIndex: 0, rejectHintTerm: 0 });
  }

  /** Returns false when the snapshot tells us nothing our log does not already hold. */
  private restoreSnapshot(snapshot: Snapshot): boolean {
    const { index, term, confState } = snapshot.metadata;
    if (index <= this.log.commitIndex) return false;
    if (this.log.matchTerm(index, term)) {
      // Our log already holds the snapshot's last entry: it is committed; keep the rest.
      this.log.commitTo(index);
      return false;
    }
    this.log.restore(snapshot);
    this.configuration.resetTo(index, confState);
    return true;
  }

  private recordAppendedConfiguration(appended: readonly Entry[]): void {
    const first = appended[0];
    if (first === undefined) return;
    if (first.index <= this.configuration.latestIndex()) this.configuration.truncateFrom(first.index);
    this.configuration.recordEntries(appended);
  }

  // ---- leader side of replication ----

  private appendAsLeader(kind: EntryKind, data: Uint8Array): Entry {
    assert(this.role === Role.leader, "only a leader appends on its own");
    const entry: Entry = { index: this.log.lastIndex() + 1, term: this.term, kind, data };
    assert(this.log.lastTerm() <= this.term, "a leader's log holds no entry from a later term");
    this.log.append([entry]);
    assert(this.log.lastIndex() === entry.index, "a leader only ever appends");
    if (kind === EntryKind.configurationChange) {
      this.configuration.recordEntries([entry]);
      this.syncProgressWithConfiguration();
    }
    if (this.maybeCommit()) this.afterLeaderCommit();
    // One append per follower per Ready carries every proposal made since the last one: sending
    // per proposal cost 2 messages and 2 responses per entry (bench/replication profile).
    if (this.role === Role.leader) this.appendsPending = true;
    return entry;
  }

  /** Progress rows exist for exactly the voters other than this replica. */
  private syncProgressWithConfiguration(): void {
    const voters = this.configuration.latest().voters;
    for (const voter of voters) {
      if (voter === this.id || this.progress.has(voter)) continue;
      this.progress.set(
        voter,
        new Progress({ nextIndex: this.log.lastIndex() + 1, inflightMessagesMax: this.limits.inflightMessagesMax, contactTick: this.currentTick }),
      );
    }
    for (const peer of [...this.progress.keys()]) {
      if (!voters.includes(peer)) this.progress.delete(peer);
    }
    if (this.leadTransferee !== null && !this.progress.has(this.leadTransferee)) this.leadTransferee = null;
  }

  private progressOf(peer: ReplicaId): Progress {
    const progress = this.progress.get(peer);
    assert(progress !== undefined, `the leader tracks voter ${peer}`);
    return progress;
  }

  private broadcastAppend(): void {
    for (const peer of this.configuration.latest().voters) {
      if (peer !== this.id) this.sendAppend(peer, true);
    }
  }

  private broadcastHeartbeat(): void {
    const readSequence = this.reads.newestSequence();
    for (const peer of this.configuration.latest().voters) {
      if (peer === this.id) continue;
      // Never announce a commit index beyond what the follower is known to hold.
      const commitIndex = Math.min(this.progressOf(peer).matchIndex, this.log.commitIndex);
      this.send({ type: MessageType.heartbeat, from: this.id, to: peer, term: this.term, commitIndex, readSequence });
    }
  }

  /** Sends the follower what it lacks (or a snapshot). Returns whether anything was sent. */
  private sendAppend(peer: ReplicaId, sendIfEmpty: boolean): boolean {
    const progress = this.progressOf(peer);
    if (progress.isPaused()) return false;
    assert(progress.nextIndex <= this.log.lastIndex() + 1, "nextIndex stays within one past the log");
    const previousIndex = progress.nextIndex - 1;
    const previousTerm = this.log.term(previousIndex);
    const entries = previousTerm === null ? null : this.log.entriesFrom(progress.nextIndex, this.limits.appendBytesMax);
    if (previousTerm === null || entries === null) return this.sendSnapshot(peer, progress);
    if (entries.length === 0 && !sendIfEmpty) return false;
    const commitIndex = this.log.commitIndex;
    this.send({ type: MessageType.append, from: this.id, to: peer, term: this.term, previousIndex, previousTerm, entries, commitIndex });
    const last = entries[entries.length - 1];
    if (progress.state === ProgressState.replicate && last !== undefined) progress.sentEntries(last.index);
    if (progress.state === ProgressState.probe) progress.probeSent = true;
    return true;
  }

  /** Keeps the pipeline to `peer` full; bounded by the inflight window. */
  private sendAppendsWhileRoom(peer: ReplicaId): void {
    for (let round = 0; round <= this.limits.inflightMessagesMax; round += 1) {
      if (!this.sendAppend(peer, false)) return;
    }
  }

  private sendSnapshot(peer: ReplicaId, progress: Progress): boolean {
    const snapshot = this.log.snapshot();
    assert(snapshot.metadata.index >= this.log.firstIndex() - 1, "a compacted log has a snapshot covering the gap");
    progress.becomeSnapshot(snapshot.metadata.index, this.currentTick);
    this.send({ type: MessageType.installSnapshot, from: this.id, to: peer, term: this.term, snapshot });
    return true;
  }

  private sendTimeoutNow(peer: ReplicaId): void {
    this.send({ type: MessageType.timeoutNow, from: this.id, to: peer, term: this.term });
  }

  private handleAppendResponse(message: AppendResponseMessage): void {
    const progress = this.progressOf(message.from);
    progress.lastContactTick = this.currentTick;
    if (message.reject) {
      this.handleAppendRejection(progress, message);
      return;
    }
    const updated = progress.maybeUpdate(message.index);
    const probeConfirmed = progress.matchIndex === message.index && progress.state === ProgressState.probe;
    if (!updated && !probeConfirmed) return;
    this.advanceProgressState(progress);
    if (this.maybeCommit()) {
      this.afterLeaderCommit();
      if (this.role !== Role.leader) return;
      this.broadcastAppend();
    }
    this.sendAppendsWhileRoom(message.from);
    if (message.from === this.leadTransferee && progress.matchIndex === this.log.lastIndex()) this.sendTimeoutNow(message.from);
  }

  private handleAppendRejection(progress: Progress, message: AppendResponseMessage): void {
    let nextProbeIndex = message.rejectHintIndex;
    if (message.rejectHintTerm > 0) {
      // Skip every entry of ours whose term is above the follower's hint term: none can match.
      nextProbeIndex = this.log.findConflictByTerm(message.rejectHintIndex, message.rejectHintTerm).index;
    }
    if (!progress.maybeDecreaseTo(message.index, nextProbeIndex)) return;
    if (progress.state === ProgressState.replicate) progress.becomeProbe();
    this.sendAppend(message.from, true);
  }

  private advanceProgressState(progress: Progress): void {
    switch (progress.state) {
      case ProgressState.probe:
        progress.becomeReplicate();
        return;
      case ProgressState.snapshot:
        if (progress.matchIndex + 1 < this.log.firstIndex()) return;
        progress.becomeProbe();
        progress.becomeReplicate();
        return;
      case ProgressState.replicate:
        progress.inflights.freeUpTo(progress.matchIndex);
        return;
    }
  }

  private handleHeartbeatResponse(message: HeartbeatResponseMessage): void {
    const progress = this.progressOf(message.from);
    progress.lastContactTick = this.currentTick;
    progress.probeSent = false;
    // A full window with the follower still answering: an append was probably lost; make room.
    if (progress.state === ProgressState.replicate && progress.inflights.full()) progress.inflights.freeFirst();
    if (progress.matchIndex < this.log.lastIndex() || progress.state === ProgressState.probe) this.sendAppend(message.from, true);
    // A caught-up transferee may have lost its TimeoutNow: repeat it (a late copy is a stale term).
    if (message.from === this.leadTransferee && progress.matchIndex === this.log.lastIndex()) this.sendTimeoutNow(message.from);
    if (message.readSequence > progress.readAcknowledgedSequence) {
      progress.readAcknowledgedSequence = message.readSequence;
      this.releaseConfirmedReads();
    }
  }

  private retryLostSnapshots(): void {
    for (const progress of this.progress.values()) {
      if (progress.state !== ProgressState.snapshot) continue;
      if (this.currentTick - progress.snapshotSentTick >= this.electionTimeoutTicks) progress.snapshotFailed();
    }
  }

  /** Invariant 5: only an entry of the current term commits by counting replicas. */
  private maybeCommit(): boolean {
    const voters = this.configuration.latest().voters;
    const index = committedIndex(voters, (voter) => (voter === this.id ? this.log.lastIndex() : this.progressOf(voter).matchIndex));
    if (index <= this.log.commitIndex) return false;
    assert(index <= this.log.lastIndex(), "a majority cannot hold more than the leader's log");
    if (this.injectedBug !== InjectedBug.commitOldTermByCounting && this.log.term(index) !== this.term) return false;
    this.log.commitTo(index);
    return true;
  }

  private committedInCurrentTerm(): boolean {
    return this.termStartIndex > 0 && this.log.commitIndex >= this.termStartIndex;
  }

  private afterLeaderCommit(): void {
    if (!this.committedInCurrentTerm()) return;
    this.startWaitingReads();
    const removed = !this.configuration.isVoter(this.id);
    if (removed && this.log.commitIndex >= this.configuration.latestIndex()) this.stepDownAfterRemoval();
  }

  /** Our own removal committed: hand over to the most caught-up voter at once, then follow. */
  private stepDownAfterRemoval(): void {
    let successor: ReplicaId | null = null;
    for (const [peer, progress] of this.progress) {
      if (progress.matchIndex === this.log.lastIndex() && successor === null) successor = peer;
    }
    if (successor !== null) this.sendTimeoutNow(successor);
    this.becomeFollower(this.term, null);
  }

  private currentQuorumContactTick(): Tick {
    const voters = this.configuration.latest().voters;
    return quorumContactTick(voters, (voter) => (voter === this.id ? this.currentTick : this.progressOf(voter).lastContactTick));
  }

  // ---- proposals ----

  private proposalProblem(): ProposalOutcome | null {
    if (this.role !== Role.leader) return refuseProposal(ProposalRejection.notLeader, this.leader, `${this.id} is not the leader`);
    if (this.leadTransferee !== null) {
      return refuseProposal(ProposalRejection.leadershipTransfer, this.id, `leadership is moving to ${this.leadTransferee}`);
    }
    const uncommitted = this.log.lastIndex() - this.log.commitIndex;
    if (uncommitted >= this.limits.uncommittedEntriesMax) {
      return refuseProposal(ProposalRejection.tooManyUncommitted, this.id, `${uncommitted} entries await commit`);
    }
    return null;
  }

  private confChangeRefusal(change: ConfChange): ProposalOutcome | null {
    if (!this.committedInCurrentTerm()) {
      return refuseProposal(ProposalRejection.leaderNotReady, this.id, "the leader has not committed an entry of its term yet");
    }
    if (this.configuration.latestIndex() > this.log.commitIndex) {
      const pendingIndex = this.configuration.latestIndex();
      return refuseProposal(ProposalRejection.configurationChangePending, this.id, `the change at ${pendingIndex} is not committed`);
    }
    const problem = confChangeProblem(this.configuration.latest(), change);
    if (problem !== null) return refuseProposal(ProposalRejection.invalidConfigurationChange, this.id, problem);
    return null;
  }

  // ---- reads ----

  private handleReadRequest(request: ReadRequest): RequestOutcome {
    if (this.reads.full()) return refuse(RequestRejection.tooManyPendingReads, `${this.reads.size} reads are pending`);
    if (!this.committedInCurrentTerm()) {
      this.reads.wait(request);
      return accepted;
    }
    this.startReadRound(request);
    this.broadcastHeartbeat();
    return accepted;
  }

  private handleForwardedRead(requester: ReplicaId, context: ReadContext): void {
    const outcome = this.handleReadRequest({ context, requester });
    if (!outcome.accepted) this.refuseForwardedRead(requester, context);
  }

  private refuseForwardedRead(requester: ReplicaId, context: ReadContext): void {
    this.send({ type: MessageType.readIndexResponse, from: this.id, to: requester, term: this.term, context, index: 0, reject: true });
  }

  private handleReadIndexResponse(message: ReadIndexResponseMessage): void {
    if (message.reject) return;
    this.readStates.push({ index: message.index, context: message.context });
  }

  private startWaitingReads(): void {
    const waiting = this.reads.takeWaiting();
    if (waiting.length === 0) return;
    for (const request of waiting) this.startReadRound(request);
    this.broadcastHeartbeat();
  }

  private startReadRound(request: ReadRequest): void {
    const voters = this.configuration.latest().voters;
    if (voters.length === 1 && voters[0] === this.id) {
      this.completeRead({ ...request, sequence: 0, index: this.log.commitIndex });
      return;
    }
    this.reads.startRound(request, this.log.commitIndex);
  }

  private releaseConfirmedReads(): void {
    const voters = this.configuration.latest().voters;
    const needed = quorumSize(voters.length);
    const confirmedBy = (sequence: number): boolean => {
      let acknowledgements = 0;
      for (const voter of voters) {
        if (voter === this.id || this.progressOf(voter).readAcknowledgedSequence >= sequence) acknowledgements += 1;
      }
      return acknowledgements >= needed;
    };
    for (const read of this.reads.release(confirmedBy)) this.completeRead(read);
  }

  private completeRead(read: PendingRead): void {
    if (read.requester === this.id) {
      this.readStates.push({ index: read.index, context: read.context });
      return;
    }
    const { requester: to, context, index } = read;
    this.send({ type: MessageType.readIndexResponse, from: this.id, to, term: this.term, context, index, reject: false });
  }

  // ---- plumbing ----

  /** Cheap local invariants, checked after every input that may change state. */
  private checkInvariants(): void {
    assert(this.log.commitIndex <= this.log.lastIndex(), "the commit index stays inside the log");
    assert(this.log.appliedIndex <= this.log.commitIndex, "nothing is applied before it commits");
    assert(this.log.lastTerm() <= this.term, "no entry comes from a future term");
    if (this.role === Role.follower) return;
    assert(this.leader === (this.role === Role.leader ? this.id : null), "only a leader knows a leader while campaigning");
    if (this.role === Role.preCandidate) return;
    assert(this.vote === this.id, "a candidate or leader voted for itself");
    if (this.role !== Role.leader) return;
    assert(this.termStartIndex > 0, "a leader opened its term with an entry");
    assert(this.log.lastIndex() >= this.termStartIndex, "a leader never loses its own entries");
    const voters = this.configuration.latest().voters;
    assert(this.progress.size === voters.filter((voter) => voter !== this.id).length, "the leader tracks every other voter");
  }



  private send(message: Message): void {
    this.outbox.push(message);
  }

  private sendAppendResponse(
    to: ReplicaId,
    fields: { index: LogIndex; reject: boolean; rejectHintIndex: LogIndex; rejectHintTerm: Term },
  ): void {
    this.send({
      type: MessageType.appendResponse,
      from: this.id,
      to,
      term: this.term,
      index: fields.index,
      reject: fields.reject,
      rejectHintIndex: fields.rejectHintIndex,
      rejectHintTerm: fields.rejectHintTerm,
    });
  }

  private leaseStatus(): LeaseStatus {
    const contactTick = this.currentQuorumContactTick();
    return {
      becameLeaderTick: this.becameLeaderTick,
      quorumContactTick: contactTick,
      hasQuorumContact: this.currentTick - contactTick < this.electionTimeoutTicks,
      expiresAtTick: contactTick + this.electionTimeoutTicks,
    };
  }

  private peerStatuses(): PeerStatus[] {
    return [...this.progress.entries()]
      .sort(([left], [right]) => (left < right ? -1 : left > right ? 1 : 0))
      .map(([id, progress]) => ({
        id,
        matchIndex: progress.matchIndex,
        nextIndex: progress.nextIndex,
        state: progress.state,
        lastContactTick: progress.lastContactTick,
      }));
  }

  private replayConfigurationChanges(storage: RaftStorage, afterIndex: LogIndex): void {
    const pageBytesMax = 4 * 1024 * 1024;
    const lastIndex = storage.lastIndex();
    let low = afterIndex + 1;
    while (low <= lastIndex) {
      const page = storage.entries(low, lastIndex + 1, pageBytesMax);
      assert(page.length > 0, "storage returns at least one entry per page");
      this.configuration.recordEntries(page);
      low += page.length;
    }
  }
}

function sameHardState(left: HardState, right: HardState): boolean {
  return left.term === right.term && left.vote === right.vote && left.commitIndex === right.commitIndex;
}

function reject(reason: StepRejection, detail: string): StepOutcome {
  return { accepted: false, reason, detail };
}

function refuse(reason: RequestRejection, detail: string): RequestOutcome {
  return { accepted: false, reason, detail };
}

function refuseProposal(reason: ProposalRejection, leader: ReplicaId | null, detail: string): ProposalOutcome {
  return { accepted: false, reason, leader, detail };
}
