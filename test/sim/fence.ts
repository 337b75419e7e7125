// Simulated fence devices (DESIGN §5) behind the production FenceDevice interface
// (controlplane/primary/fence-device.ts), which the primary's HA duty drives. Scenarios script
// the outcome of the next attempts (`fence h1 failed`), and every attempt is reported to the
// checker with the reason fencing is forbidden now, if it is (invariant 5).
import type { FenceDevice, PowerOffOutcome, PowerStatus } from "../../controlplane/primary/fence-device.js";
import type { SimHost } from "./hypervisor.js";

/** What the next attempt does: the device's own outcome, or `lies`: it says off, the host stays on. */
export type FenceOutcome = PowerOffOutcome | "lies";
export const fenceOutcomes: readonly FenceOutcome[] = ["off", "failed", "timeout", "lies"];

/** One fencing attempt as the checkers see it. */
export interface FenceRecord {
  hostId: string;
  atMs: number;
  outcome: FenceOutcome;
}

/** How long a simulated device takes to answer. */
const deviceLatencyMs = { off: 2_000, failed: 1_000, timeout: 20_000, lies: 2_000, status: 500 } as const;

export interface SimFenceDeviceOptions {
  host: SimHost;
  powerDown(hostId: string): void;
  /** Why fencing is forbidden now (maintenance, grace), or null: the checker's view. */
  forbidden(hostId: string): string | null;
  record(record: FenceRecord, forbidden: string | null): void;
  /** Resolves after `ms` of simulated time (the world's scheduler). */
  sleep(ms: number): Promise<void>;
}

/**
 * A fence device in front of a simulated host: it powers the host off (through the world, which
 * kills its processes) unless the scenario scripted another outcome for the next attempts.
 */
export class SimFenceDevice implements FenceDevice {
  /** Outcomes the next attempts return, oldest first; empty means the device works. */
  readonly scripted: FenceOutcome[] = [];
  readonly records: FenceRecord[] = [];
  private lastOutcome: FenceOutcome | null = null;

  constructor(private readonly options: SimFenceDeviceOptions) {}

  get hostId(): string {
    return this.options.host.hostId;
  }

  async powerOff(): Promise<{ outcome: PowerOffOutcome; detail: string }> {
    const { host } = this.options;
    const outcome = this.scripted.shift() ?? "off";
    const record = { hostId: host.hostId, atMs: host.scheduler.nowMs, outcome };
    this.records.push(record);
    this.options.record(record, this.options.forbidden(host.hostId));
    this.lastOutcome = outcome;
    await this.options.sleep(deviceLatencyMs[outcome]);
    if (outcome === "off" && host.powered) this.options.powerDown(host.hostId);
    if (outcome === "lies" || outcome === "off") return { outcome: "off", detail: "simulated device: Success: Powered OFF" };
    return { outcome, detail: outcome === "failed" ? "simulated device: connection refused" : "simulated device: no answer within its timeout" };
  }

  async powerStatus(): Promise<{ status: PowerStatus; detail: string }> {
    await this.options.sleep(deviceLatencyMs.status);
    const status: PowerStatus = this.options.host.powered ? "on" : "off";
    return { status, detail: `simulated device: Status: ${status.toUpperCase()}${this.lastOutcome === "lies" ? " (the power-off did not take)" : ""}` };
  }
}
