// Simulated fence devices (DESIGN §5). The primary's fencing duty does not exist yet (the HA
// issue adds it); this is the interface it will drive and the simulated device behind it, so
// scenarios can already script results (`fence h1 fail`) and the checker already has the records
// it needs for invariant 5 (no fencing in maintenance, in grace windows, past the threshold).
import type { SimHost } from "./hypervisor.js";

export type FenceOutcome = "off" | "failed" | "timeout";

/** What a fence driver does: power a host off and confirm it; fence-agents and self-fencing implement it. */
export interface FenceDevice {
  readonly hostId: string;
  powerOff(): Promise<FenceOutcome>;
  powerStatus(): Promise<"on" | "off" | "unknown">;
}

/** One fencing attempt as the checkers see it. */
export interface FenceRecord {
  hostId: string;
  atMs: number;
  outcome: FenceOutcome;
}

/**
 * A fence device in front of a simulated host: it powers the host off (through the world, which
 * kills its processes) unless the scenario scripted a failure for the next attempts.
 */
export class SimFenceDevice implements FenceDevice {
  /** Outcomes the next attempts return, oldest first; empty means the device works. */
  readonly scripted: FenceOutcome[] = [];
  readonly records: FenceRecord[] = [];

  constructor(
    private readonly host: SimHost,
    private readonly powerDown: (hostId: string) => void,
  ) {}

  get hostId(): string {
    return this.host.hostId;
  }

  async powerOff(): Promise<FenceOutcome> {
    const outcome = this.scripted.shift() ?? "off";
    if (outcome === "off" && this.host.powered) this.powerDown(this.host.hostId);
    this.records.push({ hostId: this.host.hostId, atMs: this.host.scheduler.nowMs, outcome });
    return outcome;
  }

  async powerStatus(): Promise<"on" | "off" | "unknown"> {
    return this.host.powered ? "on" : "off";
  }
}
