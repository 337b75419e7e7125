// The one hook through which primary duties start and stop (DESIGN §3).
// Polled on a short interval and before any command, it turns the lease rules
// into transitions: duties start when this replica's takeover has committed
// and the previous primary's lease has certainly run out; they stop at once
// when leadership or the lease is lost. Each transition is logged with wall
// times so that runs can prove two primaries' duty periods never overlapped.
import type { Clock } from "../../common/env.js";
import type { Logger } from "../../common/logging.js";
import type { PrimaryTracker } from "./primary-tracker.js";

export interface DutyListener {
  start(term: number): void;
  stop(reason: string): void;
}

export class DutyGate {
  private running = false;
  private readonly listeners = new Set<DutyListener>();

  constructor(
    private readonly tracker: PrimaryTracker,
    private readonly clock: Clock,
    private readonly logger: Logger,
    /** Wall time at which this replica's lease runs out, if it leads. */
    private readonly leaseExpiresAtMs: () => number | null,
  ) {}

  subscribe(listener: DutyListener): () => void {
    this.listeners.add(listener);
    if (this.running) listener.start(this.tracker.primaryTerm());
    return () => this.listeners.delete(listener);
  }

  isRunning(): boolean {
    return this.running;
  }

  poll(): void {
    const blocker = this.tracker.commandBlocker();
    if (blocker === null && !this.running) {
      this.running = true;
      const term = this.tracker.primaryTerm();
      this.logger.info({ term, dutiesStartedAtMs: this.clock.nowMs() }, "primary duties started");
      for (const listener of this.listeners) listener.start(term);
    } else if (blocker !== null && this.running) {
      this.running = false;
      const leaseExpiresAtMs = this.leaseExpiresAtMs();
      // Duties ended no later than the lease's end, even if this replica only notices now (after a pause).
      const stoppedAtMs = Math.min(this.clock.nowMs(), leaseExpiresAtMs ?? this.clock.nowMs());
      this.logger.warn({ term: this.tracker.primaryTerm(), dutiesStoppedAtMs: stoppedAtMs, reason: blocker }, "primary duties stopped");
      for (const listener of this.listeners) listener.stop(blocker);
    }
  }
}
