// The loop of a periodic primary duty: one step every interval while the duties run, never two
// at once, and none after stop (each start begins a new generation; a step of an old generation
// sees it is stale and ends). The step's errors are logged by the caller and retried next tick.
import type { Cancel, Timers } from "../../common/env.js";

export class DutyTicker {
  private generation = 0;
  private cancelTick: Cancel | null = null;
  private busy = false;

  constructor(
    private readonly timers: Timers,
    private readonly intervalMs: number,
    /** One step; `isCurrent()` turns false once the duty stopped (or restarted) meanwhile. */
    private readonly step: (isCurrent: () => boolean) => Promise<void>,
    private readonly onError: (error: unknown) => void,
  ) {}

  start(): void {
    this.generation += 1;
    this.busy = false;
    this.schedule();
  }

  stop(): void {
    this.generation += 1;
    this.cancelTick?.();
    this.cancelTick = null;
  }

  private schedule(): void {
    const generation = this.generation;
    const isCurrent = () => generation === this.generation;
    this.cancelTick = this.timers.after(this.intervalMs, () => {
      if (!isCurrent() || this.busy) return;
      this.busy = true;
      this.step(isCurrent)
        .catch(this.onError)
        .finally(() => {
          if (!isCurrent()) return;
          this.busy = false;
          this.schedule();
        });
    });
  }
}
