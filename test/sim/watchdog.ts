// A simulated Linux watchdog device: the host's kernel, not the agent, keeps its timer, so it keeps
// counting when the agent dies, and resets the host (a power cycle) when it goes unfed for its
// timeout. A magic close disarms it; a reset or power loss ends it (a new boot has none running).
import type { Watchdog } from "../../agent/watchdog.js";
import type { Cancel } from "../../common/env.js";
import type { SimHost } from "./hypervisor.js";
import { ProcessSlot, type Scheduler } from "./scheduler.js";

export class SimWatchdog implements Watchdog {
  readonly path = "/dev/watchdog";
  /** The host's kernel: its timers outlive any process of the host. */
  private readonly kernel: ProcessSlot;
  private cancel: Cancel | null = null;
  private bootId: string | null = null;

  constructor(
    private readonly host: SimHost,
    private readonly scheduler: Scheduler,
    private readonly timeoutMs: number,
    private readonly reset: (reason: string) => void,
  ) {
    this.kernel = new ProcessSlot(`${host.hostId}/kernel`);
    this.kernel.state = "running";
    this.kernel.incarnation = 1;
  }

  /** open(2): starts (or keeps) the timer of this boot. */
  open(): this {
    if (this.bootId !== this.host.bootId()) this.cancel?.();
    this.bootId = this.host.bootId();
    this.feed();
    return this;
  }

  feed(): void {
    this.cancel?.();
    const bootId = this.host.bootId();
    this.cancel = this.scheduler.timersOf(this.kernel, `${this.host.hostId} watchdog`).after(this.timeoutMs, () => {
      if (!this.host.powered || this.host.bootId() !== bootId) return;
      this.cancel = null;
      this.reset(`the watchdog of ${this.host.hostId} went unfed for ${this.timeoutMs} ms`);
    });
  }

  close(options: { disarm: boolean }): void {
    if (!options.disarm) return;
    this.cancel?.();
    this.cancel = null;
  }
}
