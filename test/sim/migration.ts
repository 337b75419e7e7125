// A libvirt peer-to-peer migration between two SimHosts, over simulated time, as the QEMU driver's
// protocol v3 runs it (Begin and Perform on the source, Prepare and Finish on the destination,
// Confirm on the source):
//  1. prepare: the destination starts QEMU in incoming mode, the domain paused (migration), event
//     started/migrated. A domain the destination already defines (shut off) receives it.
//  2. transfer: memory is copied at the bandwidth (the option, or the link's speed); progress is
//     what virDomainGetJobStats reports. While the hosts cannot reach each other the transfer stalls;
//     after libvirt's keepalive timeout the migration fails.
//  3. switch-over: the source pauses (suspended/migrated) for the final copy, the downtime.
//  4. finish: the destination resumes (resumed/migrated; a VM paused before the migration lands
//     paused) and, with persist-on-destination, becomes persistent (defined/added or updated).
//  5. confirm: a moment later the source's QEMU stops (stopped/migrated); its definition stays
//     (vigil does not ask libvirt to undefine the source), shut off with reason "migrated".
// A failure before finish kills the destination's QEMU (stopped/failed; a domain it had only for the
// migration disappears) and leaves the source running (resumed/migrated if the switch-over paused it).
// Nothing here draws randomness: a run's timings come from the domain's size and the bandwidth, so
// a seed replays the same phases.
import type { Cancel } from "../../common/env.js";
import type { SimDomain, SimHost } from "./hypervisor.js";
import type { MigrationFault } from "./hypervisor.js";

/** The link between hosts when no bandwidth limit is given (MiB/s): a 10 GbE link's order. */
export const linkMiBPerSecond = 1024;
/** How often the transfer advances (and job stats move). */
export const migrationTickMs = 100;
/** The switch-over's pause on the source: measured 30-40 ms on the lab's QEMU (LAB.md). */
export const switchOverDowntimeMs = 40;
/** Between the destination's Finish and the source's Confirm. */
export const confirmDelayMs = 10;
/** libvirt's keepalive between the two daemons (keepalive_interval 5 s x keepalive_count 5, plus one). */
export const libvirtKeepaliveTimeoutMs = 30_000;
/** An offline migration copies only the definition. */
export const offlineCopyMs = 20;
/** A migration that never converges ("hang") keeps this share of memory dirty. */
const hangRemainingShare = 0.1;

export type MigrationPhase = "transfer" | "switch-over" | "confirm";
export type MigrationOutcome = { ok: true } | { ok: false; message: string };

export const abortedMessage = "operation aborted: job 'migration out' canceled by client";
export const beforeLandingMessage = "operation failed: job 'migration out' unexpectedly failed";
export const afterLandingMessage = "internal error: the destination's confirmation was lost: connection closed by the destination";
export const keepaliveMessage = "internal error: connection closed due to keepalive timeout";

export interface MigrationRequest {
  readonly source: SimHost;
  readonly destination: SimHost;
  /** The domain on the source. */
  readonly domain: SimDomain;
  readonly offline: boolean;
  readonly persistOnDestination: boolean;
  readonly undefineSource: boolean;
  /** Bytes copied per tick at the bandwidth (whole bytes). */
  readonly bytesPerTick: number;
  readonly fault: MigrationFault | null;
  /** Whether the two hosts can reach each other now (network and power). */
  readonly linked: () => boolean;
  /** Called once, when libvirt's call returns (never, for a source that lost power). */
  readonly done: (outcome: MigrationOutcome) => void;
}

export class SimMigration {
  phase: MigrationPhase = "transfer";
  readonly totalBytes: number;
  processedBytes = 0;
  remainingBytes: number;
  /** The switch-over's pause, once it began. */
  downtimeMs: number | null = null;
  /** The domain on the destination (the incoming QEMU, or the definition an offline migration copies). */
  readonly incoming: SimDomain;
  readonly startedAtMs: number;
  private readonly incomingWasDefined: boolean;
  /** The source was paused by the user before the switch-over: it lands paused. */
  private originPaused = false;
  /** The switch-over paused the source (a failure resumes it). */
  private pausedBySwitchOver = false;
  private stalledSinceMs: number | null = null;
  private finished = false;
  /** The source lost power: nobody waits for the answer; the destination cleans up on its own. */
  private sourceGone = false;
  /** The destination's incoming QEMU went while the link was down: the source learns it once it can reach the destination. */
  private incomingLost = false;
  /** Set while this migration changes a domain itself (the hosts' transition hook ignores those). */
  acting = false;
  private cancelTimer: Cancel = () => undefined;

  constructor(private readonly request: MigrationRequest) {
    const { source, destination, domain } = request;
    this.totalBytes = domain.memoryBytes;
    this.remainingBytes = domain.memoryBytes;
    this.startedAtMs = source.scheduler.nowMs;
    const existing = destination.domains.get(domain.uuid);
    this.incomingWasDefined = existing !== undefined;
    this.incoming = existing ?? { ...domain, state: "shutoff", reason: "unknown", persistent: false, disks: domain.disks.map((disk) => ({ target: disk.target, chain: [...disk.chain] })) };
  }

  get source(): SimHost {
    return this.request.source;
  }

  get destination(): SimHost {
    return this.request.destination;
  }

  get domain(): SimDomain {
    return this.request.domain;
  }

  get offline(): boolean {
    return this.request.offline;
  }

  isFinished(): boolean {
    return this.finished;
  }

  /** Prepare on the destination, then the transfer (or the definition's copy) begins. */
  begin(): void {
    const { source, destination } = this.request;
    source.outgoing.set(this.domain.uuid, this);
    destination.incoming.set(this.domain.uuid, this);
    if (this.offline) {
      if (this.request.fault !== "hang") this.schedule(offlineCopyMs, source, "offline copy", () => this.landOffline());
      return;
    }
    if (!this.incomingWasDefined) destination.domains.set(this.incoming.uuid, this.incoming);
    this.act(() => destination.transition(this.incoming, "paused", "migration", { event: "started", detail: "migrated" }));
    this.schedule(migrationTickMs, source, "migration transfer", () => this.tick());
  }

  /**
   * Whether `host`'s copy of the domain is the migration's inactive side now, which the "no VM runs
   * on two hosts" check does not count: the destination's incoming QEMU until finish (its vCPUs have
   * never run and its disks are not active), the source's paused QEMU after finish (its disks were
   * handed over; Confirm only kills it). At every instant exactly one side is active.
   */
  inactiveOn(host: SimHost): boolean {
    if (this.offline) return false;
    if (host === this.destination) return this.phase !== "confirm";
    return this.phase === "confirm";
  }

  private schedule(delayMs: number, host: SimHost, what: string, run: () => void): void {
    this.cancelTimer = host.scheduler.after(delayMs, host.libvirtd, `libvirt ${host.hostId} ${what} ${this.domain.name}`, run);
  }

  private act(change: () => void): void {
    this.acting = true;
    try {
      change();
    } finally {
      this.acting = false;
    }
  }

  /** The link is down: stall, and fail at libvirt's keepalive timeout. Returns true when stalled. */
  private stalled(retry: () => void): boolean {
    if (this.request.linked()) {
      this.stalledSinceMs = null;
      return false;
    }
    const now = this.source.scheduler.nowMs;
    this.stalledSinceMs ??= now;
    if (now - this.stalledSinceMs >= libvirtKeepaliveTimeoutMs) this.fail(keepaliveMessage);
    else this.schedule(migrationTickMs, this.source, "migration stalled", retry);
    return true;
  }

  private tick(): void {
    if (this.finished || this.stalled(() => this.tick())) return;
    if (this.incomingLost) return this.fail(beforeLandingMessage);
    const step = this.request.bytesPerTick;
    this.processedBytes += step;
    const floor = this.request.fault === "hang" ? Math.round(this.totalBytes * hangRemainingShare) : 0;
    this.remainingBytes = Math.max(floor, this.remainingBytes - step);
    if (this.request.fault === "before-landing" && this.processedBytes >= this.totalBytes / 2) return this.fail(beforeLandingMessage);
    if (this.remainingBytes > 0) return this.schedule(migrationTickMs, this.source, "migration transfer", () => this.tick());
    this.phase = "switch-over";
    this.downtimeMs = switchOverDowntimeMs;
    const source = this.source;
    this.originPaused = this.domain.state === "paused";
    if (this.domain.state === "running") {
      this.pausedBySwitchOver = true;
      this.act(() => source.transition(this.domain, "paused", "migration", { event: "suspended", detail: "migrated" }));
    }
    this.schedule(switchOverDowntimeMs, source, "migration switch-over", () => this.land());
  }

  /** Finish on the destination: the domain runs there (or stays paused, as it was). */
  private land(): void {
    if (this.finished || this.stalled(() => this.land())) return;
    if (this.incomingLost) return this.fail(beforeLandingMessage);
    const destination = this.destination;
    this.phase = "confirm";
    this.act(() => {
      if (this.originPaused) destination.transition(this.incoming, "paused", "user", { event: "suspended", detail: "paused" });
      else destination.transition(this.incoming, "running", "migrated", { event: "resumed", detail: "migrated" });
    });
    this.persistOnDestination();
    this.schedule(confirmDelayMs, this.source, "migration confirm", () => this.confirm());
  }

  private persistOnDestination(): void {
    if (!this.request.persistOnDestination && !this.offline) return;
    const added = !this.incomingWasDefined || !this.incoming.persistent;
    this.incoming.persistent = true;
    if (this.offline && !this.incomingWasDefined) this.destination.domains.set(this.incoming.uuid, this.incoming);
    this.destination.lifecycleEvent(this.incoming, { event: "defined", detail: added ? "added" : "updated" });
  }

  /** Confirm on the source: its QEMU stops; the call returns. */
  private confirm(): void {
    if (this.finished) return;
    const source = this.source;
    if (source.domains.get(this.domain.uuid) === this.domain && this.domain.state !== "shutoff") {
      this.act(() => source.transition(this.domain, "shutoff", "migrated", { event: "stopped", detail: "migrated" }));
    }
    if (this.request.undefineSource || !this.domain.persistent) {
      source.domains.delete(this.domain.uuid);
      if (this.domain.persistent) source.lifecycleEvent(this.domain, { event: "undefined", detail: "removed" });
    }
    this.finish(this.request.fault === "after-landing" ? { ok: false, message: afterLandingMessage } : { ok: true });
  }

  private landOffline(): void {
    if (this.finished) return;
    if (this.request.fault === "before-landing") return this.fail(beforeLandingMessage);
    const copy = this.incoming;
    if (this.incomingWasDefined) {
      copy.vcpus = this.domain.vcpus;
      copy.memoryBytes = this.domain.memoryBytes;
    }
    this.persistOnDestination();
    this.finish(this.request.fault === "after-landing" ? { ok: false, message: afterLandingMessage } : { ok: true });
  }

  /** The migration fails before finish: the destination's QEMU goes, the source runs on. */
  fail(message: string): void {
    if (this.finished) return;
    this.killIncoming();
    const source = this.source;
    if (this.pausedBySwitchOver && this.domain.state === "paused" && this.domain.reason === "migration") {
      this.act(() => source.transition(this.domain, "running", "migration_canceled", { event: "resumed", detail: "migrated" }));
    }
    this.finish({ ok: false, message });
  }

  private killIncoming(): void {
    if (this.offline) return;
    const destination = this.destination;
    if (destination.domains.get(this.incoming.uuid) !== this.incoming) return;
    if (this.incoming.state !== "shutoff") this.act(() => destination.transition(this.incoming, "shutoff", "failed", { event: "stopped", detail: "failed" }));
    if (!this.incomingWasDefined) destination.domains.delete(this.incoming.uuid);
  }

  /** virDomainAbortJob on the source. */
  abort(): void {
    if (this.finished) throw new Error("Requested operation is not valid: no job is active on the domain");
    if (this.phase === "confirm") throw new Error("Requested operation is not valid: the migration is completing and can no longer be aborted");
    this.fail(abortedMessage);
  }

  /**
   * A domain of this migration stopped, not by the migration's doing (a crash, a destroy, a power
   * loss). The source stopping before finish ends the migration; so does the destination's
   * incoming QEMU going (the source hears of it at once, or at the keepalive timeout when the
   * destination lost power: the transfer then stalls on the dead link).
   */
  domainStopped(host: SimHost): void {
    if (this.finished || this.acting || this.phase === "confirm") return;
    if (host === this.source && !this.sourceGone) return this.fail("operation failed: domain is not running");
    if (host === this.destination) {
      if (!this.incomingWasDefined) host.domains.delete(this.incoming.uuid);
      this.incomingLost = true;
      if (host.powered) this.fail(beforeLandingMessage);
      // Both ends gone: nobody is left to finish it.
      else if (this.sourceGone) this.finish(null);
    }
  }

  /**
   * The source host lost power. Before finish the destination's libvirtd destroys the incoming
   * QEMU when its connection to the source dies (at the keepalive timeout): the VM then runs
   * nowhere. After finish it runs on the destination.
   */
  sourceLost(): void {
    if (this.finished) return;
    this.sourceGone = true;
    this.cancelTimer();
    this.source.outgoing.delete(this.domain.uuid);
    if (this.phase === "confirm" || this.offline) return this.finish(null);
    const destination = this.destination;
    destination.scheduler.after(libvirtKeepaliveTimeoutMs, destination.libvirtd, `libvirt ${destination.hostId} migration source lost ${this.domain.name}`, () => {
      this.killIncoming();
      this.finish(null);
    });
  }

  /** libvirtd stopped on one side: the daemons' connection closes, the migration fails at once. */
  libvirtdLost(): void {
    if (this.finished || this.phase === "confirm") return;
    this.fail("internal error: client socket is closed");
  }

  /** Ends the migration; `outcome` null when nobody is left to answer. */
  private finish(outcome: MigrationOutcome | null): void {
    if (this.finished) return;
    this.finished = true;
    this.cancelTimer();
    if (this.source.outgoing.get(this.domain.uuid) === this) this.source.outgoing.delete(this.domain.uuid);
    if (this.destination.incoming.get(this.domain.uuid) === this) this.destination.incoming.delete(this.domain.uuid);
    if (outcome !== null && !this.sourceGone) this.request.done(outcome);
  }
}
