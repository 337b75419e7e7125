// The embedded default: one replica, so a proposal is committed as soon as it
// is durable. Proposals made in the same turn of the event loop share one
// transaction and one fsync (group commit), and applying them advances
// applied_index in that same transaction (DESIGN §3).
import type { Clock } from "../../common/env.js";
import { assert } from "../../common/assert.js";
import type { AppliedNotice } from "../state/apply.js";
import { StateMachine } from "../state/apply.js";
import { encodeEntry, type StateCommand } from "../state/commands.js";
import type { Db } from "../state/store.js";
import { LogClosedError, type LeadershipChange, type ReplicatedLog, type ReplicationStatus } from "./log.js";

interface PendingProposal {
  command: StateCommand;
  resolve: (notices: AppliedNotice[]) => void;
  reject: (error: Error) => void;
}

export interface SingleReplicaOptions {
  db: Db;
  replicaId: string;
  address: string;
  clock: Clock;
  /** Entries kept behind applied_index; older ones are deleted, since one replica needs no catch-up. */
  retainedEntriesMax?: number;
  /** Proposals per transaction at most, so one batch never holds the loop for long. */
  batchEntriesMax?: number;
}

const entryTypeNormal = 0;

export class SingleReplicaLog implements ReplicatedLog {
  readonly replicaId: string;
  readonly stateMachine: StateMachine;
  private readonly db: Db;
  private readonly clock: Clock;
  private readonly address: string;
  private readonly retainedEntriesMax: number;
  private readonly batchEntriesMax: number;
  private term = 0;
  private lastIndex = 0;
  private pending: PendingProposal[] = [];
  private flushScheduled = false;
  private closed = false;
  private readonly appliedListeners = new Set<(notices: AppliedNotice[]) => void>();
  private readonly leadershipListeners = new Set<(change: LeadershipChange) => void>();

  constructor(options: SingleReplicaOptions) {
    this.db = options.db;
    this.clock = options.clock;
    this.replicaId = options.replicaId;
    this.address = options.address;
    this.retainedEntriesMax = options.retainedEntriesMax ?? 10_000;
    this.batchEntriesMax = options.batchEntriesMax ?? 1_000;
    this.stateMachine = new StateMachine(this.db);
  }

  /**
   * Starts a new term, as a Raft election of one would: every start raises the
   * fencing token, so agents refuse anything a previous incarnation still sends.
   */
  start(): void {
    const row = this.db.prepare("SELECT term FROM hard_state WHERE id = 1").get() as { term: number } | undefined;
    this.term = (row?.term ?? 0) + 1;
    this.db
      .prepare(
        `INSERT INTO hard_state (id, term, vote, commit_index) VALUES (1, ?, ?, 0)
         ON CONFLICT (id) DO UPDATE SET term = excluded.term, vote = excluded.vote`,
      )
      .run(this.term, this.replicaId);
    const last = this.db.prepare("SELECT MAX(idx) AS idx FROM log_entries").get() as { idx: number | null };
    this.lastIndex = Math.max(last.idx ?? 0, this.stateMachine.reader.appliedIndex());
    for (const listener of this.leadershipListeners) listener({ leader: true, term: this.term });
  }

  currentTerm(): number {
    return this.term;
  }

  isLeader(): boolean {
    return !this.closed && this.term > 0;
  }

  propose(command: StateCommand): Promise<AppliedNotice[]> {
    if (this.closed) return Promise.reject(new LogClosedError("the replica is stopping"));
    assert(this.term > 0, "propose after start()");
    return new Promise((resolve, reject) => {
      this.pending.push({ command, resolve, reject });
      this.scheduleFlush();
    });
  }

  readBarrier(): Promise<void> {
    // With one replica every committed write is already applied here.
    return Promise.resolve();
  }

  status(): ReplicationStatus {
    const applied = this.stateMachine.reader.appliedIndex();
    return {
      term: this.term,
      leaderId: this.replicaId,
      leaderAddress: this.address,
      members: [{ id: this.replicaId, address: this.address, role: "leader", healthy: true, commitIndex: this.lastIndex, appliedIndex: applied }],
    };
  }

  onApplied(listener: (notices: AppliedNotice[]) => void): () => void {
    this.appliedListeners.add(listener);
    return () => this.appliedListeners.delete(listener);
  }

  onLeadershipChange(listener: (change: LeadershipChange) => void): () => void {
    this.leadershipListeners.add(listener);
    return () => this.leadershipListeners.delete(listener);
  }

  async close(): Promise<void> {
    if (this.pending.length > 0) this.flush();
    this.closed = true;
  }

  private scheduleFlush(): void {
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    setImmediate(() => {
      this.flushScheduled = false;
      this.flush();
      if (this.pending.length > 0) this.scheduleFlush();
    });
  }

  private flush(): void {
    const batch = this.pending.splice(0, this.batchEntriesMax);
    if (batch.length === 0) return;
    const atMs = this.clock.nowMs();
    let results: AppliedNotice[][];
    try {
      results = this.db.transaction(() => this.appendAndApply(batch, atMs))();
    } catch (error) {
      for (const proposal of batch) proposal.reject(error as Error);
      return;
    }
    const all = results.flat();
    for (const [position, proposal] of batch.entries()) proposal.resolve(results[position]!);
    if (all.length > 0) for (const listener of this.appliedListeners) listener(all);
  }

  private appendAndApply(batch: PendingProposal[], atMs: number): AppliedNotice[][] {
    const insert = this.db.prepare("INSERT INTO log_entries (idx, term, type, data) VALUES (?, ?, ?, ?)");
    const results: AppliedNotice[][] = [];
    for (const proposal of batch) {
      const index = this.lastIndex + 1;
      const payload = { atMs, term: this.term, replicaId: this.replicaId, command: proposal.command };
      insert.run(index, this.term, entryTypeNormal, encodeEntry(payload));
      results.push(this.stateMachine.applyEntry(index, payload));
      this.lastIndex = index;
    }
    this.stateMachine.setAppliedIndex(this.lastIndex);
    this.db.prepare("UPDATE hard_state SET commit_index = ? WHERE id = 1").run(this.lastIndex);
    this.db.prepare("DELETE FROM log_entries WHERE idx <= ?").run(this.lastIndex - this.retainedEntriesMax);
    return results;
  }
}
