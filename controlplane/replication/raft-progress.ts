// What a leader knows about one follower's log, and how fast it may send to it.
//
// Invariants:
//  1. 0 ≤ matchIndex < nextIndex: entries up to matchIndex are known to be on the follower.
//  2. probe: at most one append in flight (probeSent), nextIndex walks back on rejections.
//  3. replicate: appends are pipelined optimistically (nextIndex runs ahead of matchIndex), at most
//     inflightMessagesMax of them unacknowledged.
//  4. snapshot: nothing is sent until the follower acknowledges pendingSnapshotIndex or the
//     snapshot is reported failed or times out.
import { assert } from "../../common/assert.js";
import type { LogIndex, Tick } from "./raft-types.js";

export const ProgressState = {
  probe: "probe",
  replicate: "replicate",
  snapshot: "snapshot",
} as const;
export type ProgressState = (typeof ProgressState)[keyof typeof ProgressState];

/** A bounded FIFO of the last indexes of unacknowledged appends. */
export class Inflights {
  private readonly lastIndexes: LogIndex[] = [];

  constructor(readonly capacity: number) {
    assert(capacity > 0, "the inflight window holds at least one append");
  }

  get count(): number {
    return this.lastIndexes.length;
  }

  full(): boolean {
    return this.lastIndexes.length >= this.capacity;
  }

  add(lastIndex: LogIndex): void {
    assert(!this.full(), "no append is sent into a full inflight window");
    const newest = this.lastIndexes[this.lastIndexes.length - 1];
    assert(newest === undefined || lastIndex > newest, "inflight appends end at increasing indexes");
    this.lastIndexes.push(lastIndex);
  }

  /** The follower acknowledged everything up to `index`. */
  freeUpTo(index: LogIndex): void {
    let freed = 0;
    while (freed < this.lastIndexes.length && this.lastIndexes[freed]! <= index) freed += 1;
    if (freed > 0) this.lastIndexes.splice(0, freed);
  }

  /** A heartbeat came back while the window was full: assume the oldest append was lost. */
  freeFirst(): void {
    this.lastIndexes.shift();
  }

  reset(): void {
    this.lastIndexes.length = 0;
  }
}

export class Progress {
  matchIndex: LogIndex = 0;
  nextIndex: LogIndex;
  state: ProgressState = ProgressState.probe;
  /** probe: an append is outstanding; the next heartbeat response clears it. */
  probeSent = false;
  /** snapshot: the index of the snapshot sent; 0 otherwise. */
  pendingSnapshotIndex: LogIndex = 0;
  snapshotSentTick: Tick = 0;
  /** The last tick at which a response from this follower arrived in the current term. */
  lastContactTick: Tick;
  /** The newest read-index round this follower has confirmed. */
  readAcknowledgedSequence = 0;
  readonly inflights: Inflights;

  constructor(options: { nextIndex: LogIndex; inflightMessagesMax: number; contactTick: Tick }) {
    assert(options.nextIndex >= 1, "nextIndex is 1-based");
    this.nextIndex = options.nextIndex;
    this.lastContactTick = options.contactTick;
    this.inflights = new Inflights(options.inflightMessagesMax);
  }

  isPaused(): boolean {
    switch (this.state) {
      case ProgressState.probe:
        return this.probeSent;
      case ProgressState.replicate:
        return this.inflights.full();
      case ProgressState.snapshot:
        return true;
    }
  }

  becomeProbe(): void {
    // After a snapshot the follower holds at least the snapshot, so probing resumes after it.
    const resumeAfter = this.state === ProgressState.snapshot ? Math.max(this.matchIndex, this.pendingSnapshotIndex) : this.matchIndex;
    this.setState(ProgressState.probe);
    this.nextIndex = resumeAfter + 1;
  }

  becomeReplicate(): void {
    this.setState(ProgressState.replicate);
    this.nextIndex = this.matchIndex + 1;
  }

  becomeSnapshot(snapshotIndex: LogIndex, tick: Tick): void {
    this.setState(ProgressState.snapshot);
    this.pendingSnapshotIndex = snapshotIndex;
    this.snapshotSentTick = tick;
  }

  /** The snapshot was lost or refused: probe again from what the follower surely holds. */
  snapshotFailed(): void {
    assert(this.state === ProgressState.snapshot, "only a snapshot in flight can fail");
    this.pendingSnapshotIndex = 0;
    this.becomeProbe();
  }

  /** An acknowledgement up to `index`. Returns false when it tells nothing new. */
  maybeUpdate(index: LogIndex): boolean {
    if (index <= this.matchIndex) return false;
    this.matchIndex = index;
    this.nextIndex = Math.max(this.nextIndex, index + 1);
    this.probeSent = false;
    return true;
  }

  /** Appends up to `lastIndex` were just sent (replicate state): run ahead optimistically. */
  sentEntries(lastIndex: LogIndex): void {
    assert(this.state === ProgressState.replicate, "only replicate pipelines appends");
    assert(lastIndex >= this.nextIndex, "sent entries start at nextIndex");
    this.nextIndex = lastIndex + 1;
    this.inflights.add(lastIndex);
  }

  /**
   * The follower rejected an append after `rejectedIndex`; `hintIndex` is where to probe next.
   * Returns false for a stale rejection (one about an append we no longer care about).
   */
  maybeDecreaseTo(rejectedIndex: LogIndex, hintIndex: LogIndex): boolean {
    if (this.state === ProgressState.replicate) {
      if (rejectedIndex <= this.matchIndex) return false;
      this.nextIndex = this.matchIndex + 1;
      return true;
    }
    if (this.nextIndex - 1 !== rejectedIndex) return false;
    this.nextIndex = Math.max(Math.min(rejectedIndex, hintIndex + 1), this.matchIndex + 1);
    this.probeSent = false;
    return true;
  }

  private setState(state: ProgressState): void {
    this.state = state;
    this.probeSent = false;
    this.pendingSnapshotIndex = 0;
    this.inflights.reset();
  }
}
