// Simulated hosts: the hardware and libvirtd (SimHost), and the agent's connection to it
// (SimHypervisor, implementing agent/hypervisor.ts).
// - Domains keep running when the agent dies: libvirtd is its own daemon. They stop when the host
//   loses power.
// - Every operation takes simulated time, changes a domain's state with libvirt's reason, and emits
//   libvirt's lifecycle event to every connected agent, as the event loop would.
// - Faults a scenario scripts: the next operation of a kind fails, a guest ignores ACPI, a guest
//   crashes or powers itself off, a burst of guest activity, libvirtd's connection drops.
// - Block jobs (commit, active commit, copy, pull) on disks with backing chains run in QEMU, not in
//   libvirtd: they go on while the agent or libvirtd is down. Their end changes the chain and
//   emits libvirt's block-job event to connected agents (none while libvirtd is down).
// - libvirtd can be down (operations fail at once, as the socket refuses) and storage can stop
//   answering (the agent's ImageStorage check fails).
// - Live migrations between SimHosts (migration.ts): libvirt's peer-to-peer protocol over simulated
//   time, with progress, a switch-over downtime and lifecycle events on both sides; offline
//   migrations copy a shut-off domain's definition. SimHost.faults.nextMigration scripts the next
//   one's failure: before-landing, after-landing (libvirt reports an error although the domain runs
//   on the destination) or hang (the call returns only when aborted).
import type { BlockJobEvent, BlockJobInfo, DomainInfo, DomainJob, Hypervisor, ImageStorage, LifecycleEvent, MigrationOptions } from "../../agent/hypervisor.js";
import type { DomainStateName } from "../../agent/libvirt/names.js";
import { assert } from "../../common/assert.js";
import type { BlockJobKind } from "../../common/block-job-proof.js";
import { liveDomainXml } from "../libvirt/domain-xml.js";
import { linkMiBPerSecond, migrationTickMs, SimMigration, type MigrationOutcome } from "./migration.js";
import type { ProcessSlot, Scheduler } from "./scheduler.js";

/** libvirt states in which a guest is executing (or about to stop executing) on the host. */
export const executingStates: ReadonlySet<string> = new Set(["running", "blocked", "paused", "shutdown", "pmsuspended"]);

export type HypervisorOperation = "start" | "shutdown" | "destroy" | "suspend" | "resume" | "list" | "lookup" | "xml" | "block-job-info" | "job-stats" | "migrate" | "abort-job";

/** One disk: its backing chain, top image first. */
export interface SimDisk {
  target: string;
  chain: string[];
}

export interface SimDomain {
  name: string;
  uuid: string;
  state: DomainStateName;
  reason: string;
  vcpus: number;
  memoryBytes: number;
  persistent: boolean;
  disks: SimDisk[];
}

/** A block job QEMU runs for a domain's disk. */
export interface SimBlockJob {
  uuid: string;
  disk: string;
  kind: BlockJobKind;
  /** Where it writes: the copy's destination, the commit's base. */
  destination: string;
  phase: "running" | "ready";
  cancelTimer: () => void;
}

/** How long libvirt takes for each operation, and how long a guest takes to honour ACPI. */
export const operationLatencyMs: Record<HypervisorOperation, number> = { start: 400, shutdown: 5, destroy: 40, suspend: 10, resume: 10, list: 2, lookup: 1, xml: 1, "block-job-info": 1, "job-stats": 1, migrate: 5, "abort-job": 1 };
/** The storage check of one disk sync. */
export const storageLatencyMs = 5;
const libvirtTypes: Record<BlockJobKind, string> = { commit: "commit", "active-commit": "active_commit", copy: "copy", pull: "pull" };
export const acpiShutdownMs = 3_000;
const eventDispatchMs = 1;

export interface HostObserver {
  domainChanged(host: SimHost, domain: SimDomain, before: { state: string; reason: string }): void;
  /** A mutating operation reached libvirtd (what the agent actually did to a VM). */
  operation(host: SimHost, operation: HypervisorOperation, domain: SimDomain, outcome: string): void;
  /** A block job changed (or ended without changing) a disk's chain. */
  diskChanged?(host: SimHost, domain: SimDomain, disk: SimDisk, why: string): void;
  /** The host a migration's destination URI names (undefined: no such host). */
  hostById?(hostId: string): SimHost | undefined;
  /** Whether two hosts reach each other over the network now (a migration's data and daemons' link). */
  linked?(a: SimHost, b: SimHost): boolean;
}

export interface HostFaults {
  /** Error messages the next operations of a kind fail with, oldest first. */
  failNext: Map<HypervisorOperation, string[]>;
  /** Guests that ignore ACPI shutdown requests. */
  ignoreAcpi: Set<string>;
  /** Extra milliseconds the next operations of a kind take (a slow storage backend), oldest first. */
  slowNext: Map<HypervisorOperation, number[]>;
  /**
   * How the next migration from this host goes wrong (taken when one starts): "before-landing"
   * fails mid-transfer, the domain stays on the source; "after-landing" lands the domain on the
   * destination and stops it on the source, yet libvirt's call reports an error; "hang" never
   * converges, the call returns only when the job is aborted (the domain then stays on the source).
   */
  nextMigration: MigrationFault | null;
}

export type MigrationFault = "before-landing" | "after-landing" | "hang";
/** The agent's migration options; `offline` (VIR_MIGRATE_OFFLINE) until agent/hypervisor.ts carries it. */
export type SimMigrationOptions = MigrationOptions & { offline?: boolean };
export const migrationFaults: readonly MigrationFault[] = ["before-landing", "after-landing", "hang"];

function copyOf(domain: SimDomain): DomainInfo {
  const { disks: _disks, ...info } = domain;
  return info;
}

/** One host's hardware and libvirtd. */
export class SimHost {
  readonly domains = new Map<string, SimDomain>();
  readonly faults: HostFaults = { failNext: new Map(), ignoreAcpi: new Set(), slowNext: new Map(), nextMigration: null };
  private readonly connections = new Set<SimHypervisor>();
  bootCount = 1;
  /** Block jobs by `${uuid}/${disk}`. */
  readonly blockJobs = new Map<string, SimBlockJob>();
  /** libvirtd answers (the daemon may be stopped while QEMU and the host run on). */
  libvirtdUp = true;
  /** The images' storage answers. */
  storageUp = true;
  /** Migrations by domain uuid: those this host sends, and those it receives. */
  readonly outgoing = new Map<string, SimMigration>();
  readonly incoming = new Map<string, SimMigration>();

  constructor(
    readonly hostId: string,
    readonly cpus: number,
    readonly memoryBytes: number,
    /** libvirtd's process: alive while the host has power. */
    readonly libvirtd: ProcessSlot,
    readonly scheduler: Scheduler,
    private readonly observer: HostObserver,
  ) {}

  get powered(): boolean {
    return this.libvirtd.isAlive();
  }

  bootId(): string {
    return `${this.hostId}-boot-${this.bootCount}`;
  }

  define(domain: SimDomain): void {
    this.domains.set(domain.uuid, domain);
  }

  byNameOrUuid(nameOrUuid: string): SimDomain | undefined {
    const byUuid = this.domains.get(nameOrUuid.toLowerCase());
    if (byUuid !== undefined) return byUuid;
    for (const domain of this.domains.values()) if (domain.name === nameOrUuid) return domain;
    return undefined;
  }

  sortedDomains(): SimDomain[] {
    return [...this.domains.values()].sort((a, b) => a.name.localeCompare(b.name));
  }

  attach(connection: SimHypervisor): void {
    this.connections.add(connection);
  }

  detach(connection: SimHypervisor): void {
    this.connections.delete(connection);
  }

  /** Changes a domain's state and tells every connected agent, as libvirt's event loop does. */
  transition(domain: SimDomain, state: DomainStateName, reason: string, event: { event: string; detail: string } | null): void {
    const before = { state: domain.state, reason: domain.reason };
    domain.state = state;
    domain.reason = reason;
    this.observer.domainChanged(this, domain, before);
    // QEMU is gone: its block jobs end with it, unpivoted; a migration it took part in learns of it.
    if (!executingStates.has(state)) {
      for (const job of this.jobsOf(domain.uuid)) this.endBlockJob(job, null);
      this.migrationOf(domain.uuid)?.domainStopped(this);
    }
    if (event !== null) this.lifecycleEvent(domain, event);
  }

  /** Tells every connected agent of a lifecycle event (none while libvirtd is down). */
  lifecycleEvent(domain: SimDomain, event: { event: string; detail: string }): void {
    if (!this.libvirtdUp) return;
    const lifecycle: LifecycleEvent = { uuid: domain.uuid, name: domain.name, event: event.event, detail: event.detail };
    for (const connection of this.connections) connection.dispatchLifecycle(lifecycle);
  }

  /** The unfinished migration `uuid` takes part in on this host, as source or destination. */
  migrationOf(uuid: string): SimMigration | undefined {
    return this.outgoing.get(uuid) ?? this.incoming.get(uuid);
  }

  /** This host's copy of the domain is a migration's inactive side now (SimMigration.inactiveOn). */
  inactiveForMigration(uuid: string): boolean {
    return this.migrationOf(uuid)?.inactiveOn(this) ?? false;
  }

  /**
   * Starts migrating `domain` to `destinationUri` (libvirt's checks first, thrown as libvirt's
   * errors); `done` hears when libvirt's call returns.
   */
  beginMigration(domain: SimDomain, options: SimMigrationOptions, done: (outcome: MigrationOutcome) => void): SimMigration {
    const offline = options.offline === true;
    const destinationHost = /^[a-z0-9+]+:\/\/([^/:?]+)/i.exec(options.destinationUri)?.[1];
    if (destinationHost === undefined) throw new SimLibvirtError(`invalid argument: cannot parse destination URI '${options.destinationUri}'`);
    if (destinationHost === this.hostId) throw new SimLibvirtError(`internal error: Attempt to migrate guest to the same host ${this.hostId}`);
    const destination = this.observer.hostById?.(destinationHost);
    if (destination === undefined) throw new SimLibvirtError(`unable to connect to server at '${destinationHost}:16514': Name or service not known`);
    if (!destination.powered || !(this.observer.linked?.(this, destination) ?? true)) throw new SimLibvirtError(`unable to connect to server at '${destinationHost}:16514': No route to host`);
    if (!destination.libvirtdUp) throw new SimLibvirtError(`unable to connect to server at '${destinationHost}:16514': Connection refused`);
    if (this.migrationOf(domain.uuid) !== undefined || destination.migrationOf(domain.uuid) !== undefined) {
      throw new SimLibvirtError(`Requested operation is not valid: another migration job is already running for domain '${domain.name}'`);
    }
    if (offline) {
      if (executingStates.has(domain.state)) throw new SimLibvirtError("Requested operation is not valid: domain is active: an offline migration moves a shut-off domain");
      if (!domain.persistent) throw new SimLibvirtError("Requested operation is not valid: cannot migrate a transient domain offline");
    } else if (!executingStates.has(domain.state)) {
      throw new SimLibvirtError("Requested operation is not valid: domain is not running");
    }
    const there = destination.domains.get(domain.uuid);
    if (there !== undefined && executingStates.has(there.state)) throw new SimLibvirtError(`operation failed: domain '${domain.name}' is already active`);
    const fault = this.faults.nextMigration;
    this.faults.nextMigration = null;
    const limitMiBPerSecond = options.bandwidthMiBPerSecond !== undefined && options.bandwidthMiBPerSecond > 0 ? Math.min(options.bandwidthMiBPerSecond, linkMiBPerSecond) : linkMiBPerSecond;
    const migration = new SimMigration({
      source: this,
      destination,
      domain,
      offline,
      persistOnDestination: options.persistOnDestination === true,
      undefineSource: options.undefineSource === true,
      bytesPerTick: Math.ceil((limitMiBPerSecond * 1024 * 1024 * migrationTickMs) / 1000),
      fault,
      linked: () => this.powered && destination.powered && (this.observer.linked?.(this, destination) ?? true),
      done,
    });
    const how = offline ? "offline" : `live, ${Math.round(domain.memoryBytes / 1024 ** 2)} MiB at ${limitMiBPerSecond} MiB/s`;
    this.noteOperation("migrate", domain, `to ${destination.hostId} (${how})${fault === null ? "" : ` [scripted: ${fault}]`}`);
    migration.begin();
    return migration;
  }

  /**
   * An operation libvirt refuses while `domain` migrates: a migration job holds the domain's
   * state-change lock; only destroy (either side) and suspend (the source, before the switch-over) get through.
   */
  migrationRefuses(operation: HypervisorOperation, domain: SimDomain): string | null {
    const migration = this.migrationOf(domain.uuid);
    if (migration === undefined || migration.offline || operation === "destroy") return null;
    if (operation === "suspend" && migration.source === this && migration.phase === "transfer") return null;
    return "Timed out during operation: cannot acquire state change lock (held by monitor=remoteDispatchDomainMigratePerform3Params)";
  }

  jobsOf(uuid: string): SimBlockJob[] {
    return [...this.blockJobs.values()].filter((job) => job.uuid === uuid);
  }

  /**
   * Someone (virsh, another tool) starts a block job; it runs `durationMs` in QEMU, then commit and
   * pull complete, active commit and copy wait "ready" for a pivot or an abort.
   */
  startBlockJob(domain: SimDomain, target: string, kind: BlockJobKind, durationMs: number): SimBlockJob {
    const disk = domain.disks.find((candidate) => candidate.target === target);
    if (disk === undefined) throw new SimLibvirtError(`invalid argument: disk '${target}' not found in domain`);
    if (!executingStates.has(domain.state)) throw new SimLibvirtError("Requested operation is not valid: domain is not running");
    if (this.blockJobs.has(`${domain.uuid}/${target}`)) throw new SimLibvirtError(`block copy still active: disk '${target}' already in active block job`);
    const layersNeeded = kind === "commit" ? 3 : kind === "copy" ? 1 : 2;
    if (disk.chain.length < layersNeeded) throw new SimLibvirtError(`invalid argument: disk '${target}' has ${disk.chain.length} layers, ${kind} needs ${layersNeeded}`);
    const destination = kind === "copy" ? `${disk.chain[0]!.replace(/\.qcow2$/, "")}-copy.qcow2` : kind === "active-commit" ? disk.chain[1]! : kind === "commit" ? disk.chain[2]! : disk.chain[0]!;
    const job: SimBlockJob = { uuid: domain.uuid, disk: target, kind, destination, phase: "running", cancelTimer: () => undefined };
    job.cancelTimer = this.scheduler.after(durationMs, this.libvirtd, `qemu ${this.hostId} ${domain.name} ${kind} ${target}`, () => {
      if (kind === "active-commit" || kind === "copy") {
        job.phase = "ready";
        this.blockJobEvent(domain, job, "ready");
      } else this.endBlockJob(job, "completed");
    });
    this.blockJobs.set(`${domain.uuid}/${target}`, job);
    return job;
  }

  /**
   * Ends a job: "completed" applies its effect on the chain (a pivot for active commit and copy),
   * "canceled" and "failed" leave the chain as it was; null (QEMU gone) ends it without an event.
   */
  endBlockJob(job: SimBlockJob, status: "completed" | "canceled" | "failed" | null): void {
    job.cancelTimer();
    this.blockJobs.delete(`${job.uuid}/${job.disk}`);
    const domain = this.domains.get(job.uuid);
    const disk = domain?.disks.find((candidate) => candidate.target === job.disk);
    if (domain === undefined || disk === undefined || status === null) return;
    if (status === "completed") {
      if (job.kind === "active-commit") disk.chain = disk.chain.slice(1);
      else if (job.kind === "commit") disk.chain = [disk.chain[0]!, ...disk.chain.slice(2)];
      else if (job.kind === "pull") disk.chain = [disk.chain[0]!];
      else disk.chain = [job.destination];
    }
    this.observer.diskChanged?.(this, domain, disk, `${job.kind} ${status}`);
    this.blockJobEvent(domain, job, status);
  }

  private blockJobEvent(domain: SimDomain, job: SimBlockJob, status: string): void {
    if (!this.libvirtdUp) return;
    const event: BlockJobEvent = { uuid: domain.uuid, name: domain.name, disk: job.disk, jobType: libvirtTypes[job.kind], status };
    for (const connection of this.connections) connection.dispatchBlockJob(event);
  }

  /** The live XML libvirt would return for `domain`. */
  domainXml(domain: SimDomain): string {
    return liveDomainXml({
      name: domain.name,
      uuid: domain.uuid,
      disks: domain.disks.map((disk) => {
        const job = this.blockJobs.get(`${domain.uuid}/${disk.target}`);
        const mirrored = job !== undefined && (job.kind === "active-commit" || job.kind === "copy");
        return { target: disk.target, chain: disk.chain, ...(mirrored ? { mirror: { job: job.kind, file: job.destination, ready: job.phase === "ready" } } : {}) };
      }),
    });
  }

  /** libvirtd stops or starts again; QEMU and the guests are not affected. */
  setLibvirtd(up: boolean): void {
    if (this.libvirtdUp === up) return;
    this.libvirtdUp = up;
    if (!up) for (const migration of new Set([...this.outgoing.values(), ...this.incoming.values()])) migration.libvirtdLost();
    this.connectionChange(up ? "restored" : "lost");
  }

  /** Takes the next scripted failure for `operation`, if any. */
  takeFailure(operation: HypervisorOperation): string | null {
    const queue = this.faults.failNext.get(operation);
    const message = queue?.shift();
    if (queue !== undefined && queue.length === 0) this.faults.failNext.delete(operation);
    return message ?? null;
  }

  /** Takes the next scripted slowness for `operation`, in ms (0 when none). */
  takeSlowness(operation: HypervisorOperation): number {
    const queue = this.faults.slowNext.get(operation);
    const extraMs = queue?.shift() ?? 0;
    if (queue !== undefined && queue.length === 0) this.faults.slowNext.delete(operation);
    return extraMs;
  }

  noteOperation(operation: HypervisorOperation, domain: SimDomain, outcome: string): void {
    this.observer.operation(this, operation, domain, outcome);
  }

  /** Power lost: every guest stops at once, libvirtd and every agent connection die with the host. */
  powerOff(): void {
    for (const migration of [...this.outgoing.values()]) migration.sourceLost();
    for (const job of [...this.blockJobs.values()]) this.endBlockJob(job, null);
    for (const domain of this.sortedDomains()) {
      if (executingStates.has(domain.state)) this.transition(domain, "shutoff", "destroyed", null);
    }
    this.connections.clear();
  }

  powerOn(): void {
    this.bootCount += 1;
  }

  /** libvirtd's connection dropped (or came back): agents hear of it and re-read the inventory. */
  connectionChange(change: "lost" | "restored"): void {
    for (const connection of this.connections) {
      if (change === "lost") connection.connectionDropped();
      connection.dispatchConnectionChange(change);
    }
  }

  /** The guest itself does something (crash, power off, pause): not an operation of vigil's. */
  guestAction(domain: SimDomain, action: "crash" | "poweroff" | "pause" | "resume"): boolean {
    switch (action) {
      case "crash":
        if (!executingStates.has(domain.state)) return false;
        this.transition(domain, "shutoff", "crashed", { event: "stopped", detail: "crashed" });
        return true;
      case "poweroff":
        if (!executingStates.has(domain.state)) return false;
        this.transition(domain, "shutoff", "shutdown", { event: "stopped", detail: "shutdown" });
        return true;
      case "pause":
        if (domain.state !== "running") return false;
        this.transition(domain, "paused", "user", { event: "suspended", detail: "paused" });
        return true;
      case "resume":
        if (domain.state !== "paused") return false;
        this.transition(domain, "running", "unpaused", { event: "resumed", detail: "unpaused" });
        return true;
    }
  }
}

/** Thrown for what libvirt refuses; the message follows libvirt's wording. */
export class SimLibvirtError extends Error {
  override name = "LibvirtError";
}

/** One agent process's connection to its host's libvirtd. */
export class SimHypervisor implements Hypervisor {
  private readonly lifecycleListeners = new Set<(event: LifecycleEvent) => void>();
  private readonly blockJobListeners = new Set<(event: BlockJobEvent) => void>();
  private readonly connectionListeners = new Set<(change: "lost" | "restored") => void>();
  private closed = false;
  /** Migration calls waiting for libvirt's answer: a dropped connection fails them (libvirtd carries the migrations on). */
  private readonly pendingMigrations = new Set<(message: string) => void>();
  /** The agent incarnation this connection belongs to: its answers die with it. */
  private readonly incarnation: number;

  constructor(
    private readonly host: SimHost,
    private readonly agent: ProcessSlot,
  ) {
    this.incarnation = agent.incarnation;
    host.attach(this);
  }

  /** Runs `work` in libvirtd after `delayMs`, then answers the agent (if it still exists). */
  private operate<Result>(operation: HypervisorOperation, work: () => Result): Promise<Result> {
    const host = this.host;
    if (!host.libvirtdUp) return this.refused(operation);
    return new Promise<Result>((resolve, reject) => {
      host.scheduler.after(operationLatencyMs[operation] + host.takeSlowness(operation), host.libvirtd, `libvirt ${host.hostId} ${operation}`, () => {
        let outcome: { value: Result } | { error: Error };
        try {
          outcome = { value: work() };
        } catch (error) {
          outcome = { error: error as Error };
        }
        host.scheduler.after(
          0,
          this.agent,
          `libvirt ${host.hostId} ${operation} answer`,
          () => {
            if (this.closed) return;
            if ("value" in outcome) resolve(outcome.value);
            else reject(outcome.error);
          },
          this.incarnation,
        );
      });
    });
  }

  /** libvirtd is down: the socket refuses, the call fails at once (as LibvirtConnection's requireHandle). */
  private refused<Result>(operation: HypervisorOperation): Promise<Result> {
    return new Promise<Result>((_resolve, reject) => {
      this.host.scheduler.after(
        0,
        this.agent,
        `libvirt ${this.host.hostId} ${operation} refused`,
        () => {
          if (!this.closed) reject(new SimLibvirtError("Failed to connect socket to '/run/libvirt/libvirt-sock': Connection refused"));
        },
        this.incarnation,
      );
    });
  }

  private require(uuid: string): SimDomain {
    const domain = this.host.byNameOrUuid(uuid);
    if (domain === undefined) throw new SimLibvirtError(`Domain not found: no domain with matching uuid '${uuid}'`);
    return domain;
  }

  private mutate(operation: HypervisorOperation, uuid: string, change: (domain: SimDomain) => void): Promise<DomainInfo> {
    return this.operate(operation, () => {
      const domain = this.require(uuid);
      const failure = this.host.takeFailure(operation) ?? this.host.migrationRefuses(operation, domain);
      if (failure !== null) {
        this.host.noteOperation(operation, domain, `failed: ${failure}`);
        throw new SimLibvirtError(failure);
      }
      try {
        change(domain);
      } catch (error) {
        this.host.noteOperation(operation, domain, `refused: ${(error as Error).message}`);
        throw error;
      }
      this.host.noteOperation(operation, domain, `${domain.state} (${domain.reason})`);
      return copyOf(domain);
    });
  }

  listDomains(): Promise<DomainInfo[]> {
    return this.operate("list", () => this.host.sortedDomains().map(copyOf));
  }

  lookupDomain(nameOrUuid: string): Promise<DomainInfo | null> {
    return this.operate("lookup", () => {
      const domain = this.host.byNameOrUuid(nameOrUuid);
      return domain === undefined ? null : copyOf(domain);
    });
  }

  startDomain(uuid: string): Promise<DomainInfo> {
    return this.mutate("start", uuid, (domain) => {
      if (executingStates.has(domain.state)) throw new SimLibvirtError("Requested operation is not valid: domain is already running");
      this.host.transition(domain, "running", "booted", { event: "started", detail: "booted" });
    });
  }

  shutdownDomain(uuid: string): Promise<void> {
    return this.mutate("shutdown", uuid, (domain) => {
      if (!executingStates.has(domain.state)) throw new SimLibvirtError("Requested operation is not valid: domain is not running");
      if (this.host.faults.ignoreAcpi.has(domain.uuid)) return;
      const host = this.host;
      host.scheduler.after(acpiShutdownMs, host.libvirtd, `guest ${domain.name} acpi`, () => {
        if (domain.state === "running") host.transition(domain, "shutoff", "shutdown", { event: "stopped", detail: "shutdown" });
      });
    }).then(() => undefined);
  }

  destroyDomain(uuid: string): Promise<DomainInfo> {
    return this.mutate("destroy", uuid, (domain) => {
      if (!executingStates.has(domain.state)) throw new SimLibvirtError("Requested operation is not valid: domain is not running");
      this.host.transition(domain, "shutoff", "destroyed", { event: "stopped", detail: "destroyed" });
    });
  }

  suspendDomain(uuid: string): Promise<DomainInfo> {
    return this.mutate("suspend", uuid, (domain) => {
      if (domain.state !== "running") throw new SimLibvirtError("Requested operation is not valid: domain is not running");
      this.host.transition(domain, "paused", "user", { event: "suspended", detail: "paused" });
    });
  }

  resumeDomain(uuid: string): Promise<DomainInfo> {
    return this.mutate("resume", uuid, (domain) => {
      if (domain.state !== "paused") throw new SimLibvirtError("Requested operation is not valid: domain is not paused");
      this.host.transition(domain, "running", "unpaused", { event: "resumed", detail: "unpaused" });
    });
  }

  getDomainXml(uuid: string): Promise<string> {
    return this.operate("xml", () => this.host.domainXml(this.require(uuid)));
  }

  getBlockJobInfo(uuid: string, disk: string): Promise<BlockJobInfo | null> {
    return this.operate("block-job-info", () => {
      const domain = this.require(uuid);
      const job = this.host.blockJobs.get(`${domain.uuid}/${disk}`);
      if (job === undefined) return null;
      return { type: libvirtTypes[job.kind], bandwidthBytesPerSecond: 0, current: job.phase === "ready" ? 100 : 50, end: 100 };
    });
  }

  getJobStats(uuid: string): Promise<DomainJob> {
    return this.operate("job-stats", () => {
      const domain = this.require(uuid);
      const migration = this.host.migrationOf(domain.uuid);
      if (migration === undefined || migration.offline) return { type: "none", operation: "unknown", dataTotalBytes: null, dataProcessedBytes: null, dataRemainingBytes: null, downtimeMs: null };
      return {
        type: "unbounded",
        operation: migration.source === this.host ? "migration_out" : "migration_in",
        dataTotalBytes: migration.totalBytes,
        dataProcessedBytes: migration.processedBytes,
        dataRemainingBytes: migration.remainingBytes,
        downtimeMs: migration.downtimeMs,
      };
    });
  }

  /**
   * Peer-to-peer migration to `options.destinationUri` (`qemu+tls://HOST/system`): resolves when
   * libvirt's call returns, which for a live migration is after the transfer, the switch-over and
   * the source's confirm (migration.ts), and for a hung one only after abortJob.
   */
  migrateDomain(uuid: string, options: SimMigrationOptions): Promise<void> {
    const host = this.host;
    if (!host.libvirtdUp) return this.refused("migrate");
    return new Promise<void>((resolve, reject) => {
      const dropped = (message: string) => {
        this.pendingMigrations.delete(dropped);
        reject(new SimLibvirtError(message));
      };
      this.pendingMigrations.add(dropped);
      const answer = (outcome: MigrationOutcome) =>
        host.scheduler.after(
          0,
          this.agent,
          `libvirt ${host.hostId} migrate answer`,
          () => {
            if (this.closed || !this.pendingMigrations.delete(dropped)) return;
            if (outcome.ok) resolve();
            else reject(new SimLibvirtError(outcome.message));
          },
          this.incarnation,
        );
      host.scheduler.after(operationLatencyMs.migrate + host.takeSlowness("migrate"), host.libvirtd, `libvirt ${host.hostId} migrate`, () => {
        let domain: SimDomain | undefined;
        try {
          domain = this.require(uuid);
          const failure = host.takeFailure("migrate");
          if (failure !== null) throw new SimLibvirtError(failure);
          host.beginMigration(domain, options, (outcome) => {
            host.noteOperation("migrate", domain!, outcome.ok ? `completed on ${options.destinationUri}` : `failed: ${outcome.message}`);
            answer(outcome);
          });
        } catch (error) {
          const message = (error as Error).message;
          if (domain !== undefined) host.noteOperation("migrate", domain, `refused: ${message}`);
          answer({ ok: false, message });
        }
      });
    });
  }

  /**
   * The connection to libvirtd dropped: calls in flight fail as the client library fails them, while
   * libvirtd carries a peer-to-peer migration on to its end (the call failed; the VM may still be
   * migrating). The agent hears "lost" and reconnects.
   */
  connectionDropped(): void {
    for (const fail of [...this.pendingMigrations]) {
      this.host.scheduler.after(0, this.agent, `libvirt ${this.host.hostId} migrate connection dropped`, () => fail("End of file while reading data: Input/output error"), this.incarnation);
    }
  }

  /** virDomainAbortJob: cancels the migration this domain takes part in (from the source). */
  abortJob(uuid: string): Promise<void> {
    return this.operate("abort-job", () => {
      const domain = this.require(uuid);
      const migration = this.host.migrationOf(domain.uuid);
      if (migration === undefined) throw new SimLibvirtError("Requested operation is not valid: no job is active on the domain");
      if (migration.destination === this.host) throw new SimLibvirtError("Requested operation is not valid: cannot abort incoming migration; use virDomainDestroy instead");
      try {
        migration.abort();
      } catch (error) {
        throw new SimLibvirtError((error as Error).message);
      }
      this.host.noteOperation("abort-job", domain, "migration canceled");
    });
  }

  onBlockJob(listener: (event: BlockJobEvent) => void): () => void {
    this.blockJobListeners.add(listener);
    return () => this.blockJobListeners.delete(listener);
  }

  dispatchBlockJob(event: BlockJobEvent): void {
    this.dispatch(`block job ${event.name} ${event.disk} ${event.status}`, this.blockJobListeners, event);
  }

  onLifecycle(listener: (event: LifecycleEvent) => void): () => void {
    this.lifecycleListeners.add(listener);
    return () => this.lifecycleListeners.delete(listener);
  }

  onConnectionChange(listener: (change: "lost" | "restored") => void): () => void {
    this.connectionListeners.add(listener);
    return () => this.connectionListeners.delete(listener);
  }

  dispatchLifecycle(event: LifecycleEvent): void {
    this.dispatch(`event ${event.name} ${event.event}`, this.lifecycleListeners, event);
  }

  dispatchConnectionChange(change: "lost" | "restored"): void {
    this.dispatch(`connection ${change}`, this.connectionListeners, change);
  }

  /** Delivers to this agent incarnation's listeners after libvirt's event-loop delay (none after close). */
  private dispatch<Event>(what: string, listeners: ReadonlySet<(event: Event) => void>, event: Event): void {
    this.host.scheduler.after(
      eventDispatchMs,
      this.agent,
      `libvirt ${this.host.hostId} ${what}`,
      () => {
        if (this.closed) return;
        for (const listener of [...listeners]) listener(event);
      },
      this.incarnation,
    );
  }

  async close(): Promise<void> {
    this.closed = true;
    this.host.detach(this);
  }
}

/** The images' storage as the agent's disk sync sees it: answers while the host's storage is up. */
export class SimImageStorage implements ImageStorage {
  constructor(
    private readonly host: SimHost,
    private readonly agent: ProcessSlot,
  ) {}

  verify(files: readonly string[]): Promise<void> {
    const incarnation = this.agent.incarnation;
    return new Promise((resolve, reject) => {
      this.host.scheduler.after(
        storageLatencyMs,
        this.agent,
        `storage ${this.host.hostId} check`,
        () => (this.host.storageUp ? resolve() : reject(new Error(`storage is not answering for ${files[0] ?? "the images"}`))),
        incarnation,
      );
    });
  }
}

/** A deterministic UUID for a VM name, so scenarios and logs name the same VM the same way every run. */
export function uuidOf(name: string): string {
  let hash = 0x811c9dc5;
  const words: string[] = [];
  for (let round = 0; round < 4; round += 1) {
    for (const character of `${name}#${round}`) hash = Math.imul(hash ^ character.charCodeAt(0), 0x01000193) >>> 0;
    words.push(hash.toString(16).padStart(8, "0"));
  }
  const hex = words.join("");
  assert(hex.length === 32, "four 32-bit words make a UUID");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-4${hex.slice(13, 16)}-8${hex.slice(17, 20)}-${hex.slice(20, 32)}`;
}
