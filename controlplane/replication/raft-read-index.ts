// Linearizable reads without a log write (Raft dissertation §6.4, "read index"): the leader records
// its commit index, confirms with a heartbeat round that a majority still follows it, and then the
// read may be served once that index is applied.
//
// Invariants:
//  1. Rounds have strictly increasing sequence numbers; a later acknowledgement confirms every
//     earlier round too (leadership was confirmed at an even later moment).
//  2. A round is released only when a majority of the current voters acknowledged it.
//  3. Reads wait for the leader to commit an entry of its own term first: before that, its commit
//     index may trail what an earlier leader committed.
//  4. Pending reads are bounded (readRequestsMax) and dropped when leadership is lost; the caller
//     retries after its own timeout.
import { assert } from "../../common/assert.js";
import type { LogIndex, ReadContext, ReplicaId } from "./raft-types.js";

export interface ReadRequest {
  readonly context: ReadContext;
  /** The replica whose client asked: the leader itself or a follower that forwarded the request. */
  readonly requester: ReplicaId;
}

export interface PendingRead extends ReadRequest {
  readonly sequence: number;
  readonly index: LogIndex;
}

export class ReadIndexQueue {
  /** Reads waiting for the leader's first commit in its term. */
  private waiting: ReadRequest[] = [];
  /** Reads waiting for a majority to confirm leadership, oldest first. */
  private rounds: PendingRead[] = [];
  private lastSequence = 0;

  constructor(readonly readRequestsMax: number) {
    assert(readRequestsMax > 0, "at least one read may be pending");
  }

  get size(): number {
    return this.waiting.length + this.rounds.length;
  }

  full(): boolean {
    return this.size >= this.readRequestsMax;
  }

  /** The newest round's sequence (0 when none): heartbeats carry it. */
  newestSequence(): number {
    const newest = this.rounds[this.rounds.length - 1];
    return newest === undefined ? 0 : newest.sequence;
  }

  wait(request: ReadRequest): void {
    assert(!this.full(), "the read queue has room");
    this.waiting.push(request);
  }

  /** Takes the reads that waited for the first commit of the term. */
  takeWaiting(): ReadRequest[] {
    const taken = this.waiting;
    this.waiting = [];
    return taken;
  }

  startRound(request: ReadRequest, index: LogIndex): PendingRead {
    assert(this.rounds.length < this.readRequestsMax, "the read queue has room");
    this.lastSequence += 1;
    const round: PendingRead = { ...request, sequence: this.lastSequence, index };
    this.rounds.push(round);
    return round;
  }

  /**
   * Releases every round up to the newest one that a majority confirmed. `confirmedBy(sequence)`
   * tells whether a majority has acknowledged that sequence or a later one.
   */
  release(confirmedBy: (sequence: number) => boolean): PendingRead[] {
    let releaseCount = 0;
    for (let position = this.rounds.length - 1; position >= 0; position -= 1) {
      if (confirmedBy(this.rounds[position]!.sequence)) {
        releaseCount = position + 1;
        break;
      }
    }
    return this.rounds.splice(0, releaseCount);
  }

  clear(): void {
    this.waiting = [];
    this.rounds = [];
  }
}
