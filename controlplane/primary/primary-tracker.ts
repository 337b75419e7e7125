// Holds this replica's view of the primary lease (edge state: monotonic time
// from the injected clock) and answers with the pure rules of lease.ts.
import type { Clock } from "../../common/env.js";
import { commandsAllowed, primaryState, type LeaseView, type PrimaryState } from "./lease.js";

export interface LeaseTimings {
  previousLeaseWaitMs: number;
  takeoverGraceMs: number;
}

export class PrimaryTracker {
  private takeoverAtMs: number | null = null;
  private relinquishing = false;
  private term = 0;

  constructor(
    private readonly clock: Clock,
    private readonly timings: () => LeaseTimings,
    /** Whether the replica still holds the leader lease (quorum contact within the lease period). */
    private readonly leaseHeld: () => boolean,
  ) {}

  /** Our own PrimaryTakeover for `term` was applied: the takeover period starts now. */
  tookOver(term: number): void {
    this.term = term;
    this.takeoverAtMs = this.clock.monotonicMs();
    this.relinquishing = false;
  }

  /** A graceful hand-over has begun: duties drain and no new command goes out. */
  relinquish(): void {
    this.relinquishing = true;
  }

  /** The hand-over failed (the transferee did not take over in time): resume as primary. */
  cancelRelinquish(): void {
    this.relinquishing = false;
  }

  /** Leadership or the lease is lost: every duty stops at once. */
  stepDown(): void {
    this.takeoverAtMs = null;
    this.relinquishing = false;
  }

  primaryTerm(): number {
    return this.term;
  }

  view(): LeaseView {
    return { takeoverAtMs: this.takeoverAtMs, relinquishing: this.relinquishing, ...this.timings() };
  }

  state(): PrimaryState {
    if (!this.leaseHeld()) return "none";
    return primaryState(this.view(), this.clock.monotonicMs());
  }

  /** Why commands may not go out now, or null. */
  commandBlocker(): string | null {
    const view = this.view();
    const now = this.clock.monotonicMs();
    if (view.takeoverAtMs === null) return "this replica is not the primary";
    // Duties stop at once when the lease is lost, before Raft itself steps down.
    if (!this.leaseHeld()) return "the primary lost quorum contact; its duties are stopped";
    if (view.relinquishing) return "the primary is relinquishing";
    if (!commandsAllowed(view, now)) {
      const waitMs = Math.ceil(view.takeoverAtMs + view.previousLeaseWaitMs - now);
      return `the primary is in takeover; commands resume in ${waitMs} ms, when the previous primary's lease has certainly run out`;
    }
    return null;
  }
}
