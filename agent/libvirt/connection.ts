// LibvirtConnection: the agent's typed view of one libvirt connection (one host's libvirtd, or the
// in-process test driver). Operations that may block run on worker threads and return promises;
// events arrive through listeners; the connection reconnects by itself after libvirtd restarts and
// says so through onConnectionChange, so that the caller re-reads the inventory.
import type { Logger } from "pino";
import { ConnectionCore, lifecycleOnly, type ConnectionChangeListener, type ConnectionOptions, type ConnectionState } from "./connection-core.js";
import {
  blockCommitFlags,
  blockCopyFlags,
  blockCopyParameterNames,
  blockPullFlags,
  createFlags,
  destroyFlags,
  domainXmlFlags,
  jobStatsFlags,
  shutdownModeFlags,
  undefineFlags,
  type ShutdownMode,
} from "./constants.js";
import { DomainHandle } from "./domain-handle.js";
import type { DomainInfo, DomainState } from "./domain.js";
import { EventPump } from "./event-pump.js";
import type { DomainEvent, LifecycleEvent } from "./events.js";
import type { JobStats } from "./job-stats.js";
import { migrationRequest, type BlockJobInfo, type HostInfo, type MigrationOptions } from "./operations.js";
import type { TypedParameter } from "./typed-params.js";

export interface BlockCommitOptions {
  /** Backing file to commit into; default: the bottom of the chain. */
  base?: string;
  /** Image to commit from; default: the active layer (which makes it an active commit). */
  top?: string;
  /** Allows committing the active layer: the job then waits in "ready" until pivot or abort. */
  active?: boolean;
  shallow?: boolean;
  deleteCommitted?: boolean;
  /** Keep relative backing paths. */
  relative?: boolean;
  /** Throttle, so a job lasts long enough to watch; 0 or absent means unlimited. */
  bandwidthBytesPerSecond?: number;
}

export interface BlockCopyOptions {
  shallow?: boolean;
  reuseExternal?: boolean;
  /** Required for persistent domains on QEMU: the copy is not part of the persistent definition. */
  transientJob?: boolean;
  bandwidthBytesPerSecond?: number;
}

export interface ShutdownOptions {
  /** Which mechanisms libvirt may use; default: the hypervisor's choice (ACPI for QEMU). */
  modes?: ShutdownMode[];
}

export interface UndefineOptions {
  managedSave?: boolean;
  snapshotsMetadata?: boolean;
  checkpointsMetadata?: boolean;
  nvram?: boolean;
}

export interface DomainXmlOptions {
  inactive?: boolean;
  secure?: boolean;
  migratable?: boolean;
}

function flagsOf<T extends string>(table: Record<T, number>, selected: Partial<Record<T, boolean | undefined>>): number {
  let flags = 0;
  for (const name of Object.keys(selected) as T[]) if (selected[name] === true) flags |= table[name];
  return flags;
}

export class LibvirtConnection {
  private constructor(private readonly core: ConnectionCore) {}

  /** Opens `uri` (e.g. "qemu:///system", "test:///default") with keepalive, close callback and events. */
  static async open(uri: string, options: ConnectionOptions = {}): Promise<LibvirtConnection> {
    const pump = await EventPump.acquire(options.logger);
    const core = new ConnectionCore(uri, pump, options);
    try {
      await core.openFirstHandle();
    } catch (error) {
      if (options.startWhenUnavailable === true) {
        // The agent must come up (and report its jobs unknown) while libvirtd is down (DESIGN §9).
        core.startLost(error);
        return new LibvirtConnection(core);
      }
      await core.close();
      throw error;
    }
    return new LibvirtConnection(core);
  }

  get uri(): string {
    return this.core.uri;
  }

  get logger(): Logger | undefined {
    return this.core.logger;
  }

  get state(): ConnectionState {
    return this.core.state;
  }

  /** True while the connection is open and libvirt considers it alive. Cheap: no round trip. */
  isAlive(): boolean {
    return this.core.isAlive();
  }

  // ---- domains ----

  async listDomains(): Promise<DomainInfo[]> {
    return this.core.blocking.call("listDomains", this.core.requireHandle());
  }

  /** By UUID or name; null when libvirt has no such domain. */
  async lookupDomain(nameOrUuid: string): Promise<DomainInfo | null> {
    return this.core.blocking.call("lookupDomain", this.core.requireHandle(), nameOrUuid);
  }

  async getDomainState(nameOrUuid: string): Promise<DomainState> {
    return this.core.blocking.call("domainState", this.core.requireHandle(), nameOrUuid);
  }

  async getDomainXml(nameOrUuid: string, options: DomainXmlOptions = {}): Promise<string> {
    return this.core.blocking.call("domainXml", this.core.requireHandle(), nameOrUuid, flagsOf(domainXmlFlags, options));
  }

  /** virDomainCreateWithFlags; resolves with the domain's info once libvirt reports it started. */
  async startDomain(uuid: string, options: { paused?: boolean } = {}): Promise<DomainInfo> {
    return this.core.blocking.call("startDomain", this.core.requireHandle(), uuid, flagsOf(createFlags, options));
  }

  /** Asks the guest to shut down (ACPI by default) and returns at once; watch for the stopped event. */
  async shutdownDomain(uuid: string, options: ShutdownOptions = {}): Promise<void> {
    const flags = (options.modes ?? []).reduce((sum, mode) => sum | shutdownModeFlags[mode], 0);
    return this.core.blocking.call("shutdownDomain", this.core.requireHandle(), uuid, flags);
  }

  async destroyDomain(uuid: string, options: { graceful?: boolean } = {}): Promise<DomainInfo> {
    return this.core.blocking.call("destroyDomain", this.core.requireHandle(), uuid, flagsOf(destroyFlags, options));
  }

  /** virDomainReset: an immediate hardware reset, without asking the guest; emits a reboot event. */
  async resetDomain(uuid: string): Promise<void> {
    return this.core.blocking.call("resetDomain", this.core.requireHandle(), uuid);
  }

  async suspendDomain(uuid: string): Promise<DomainInfo> {
    return this.core.blocking.call("suspendDomain", this.core.requireHandle(), uuid);
  }

  async resumeDomain(uuid: string): Promise<DomainInfo> {
    return this.core.blocking.call("resumeDomain", this.core.requireHandle(), uuid);
  }

  async defineDomain(xml: string): Promise<DomainInfo> {
    return this.core.blocking.call("defineDomain", this.core.requireHandle(), xml);
  }

  async undefineDomain(uuid: string, options: UndefineOptions = {}): Promise<void> {
    return this.core.blocking.call("undefineDomain", this.core.requireHandle(), uuid, flagsOf(undefineFlags, options));
  }

  /**
   * A handle for repeated cheap reads on the main thread (state polling, benchmarks). It belongs to
   * the current native connection: after "restored", open a new one. Free it with close().
   */
  async openDomainHandle(nameOrUuid: string): Promise<DomainHandle> {
    const pointer = await this.core.blocking.call("lookupDomainPointer", this.core.requireHandle(), nameOrUuid);
    return new DomainHandle(pointer);
  }

  // ---- migration and jobs ----

  /** virDomainMigrateToURI3; resolves when the migration finished, rejects with libvirt's error. */
  async migrateDomain(uuid: string, options: MigrationOptions): Promise<void> {
    return this.core.blocking.call("migrateDomain", this.core.requireHandle(), uuid, migrationRequest(options));
  }

  async abortJob(uuid: string): Promise<void> {
    return this.core.blocking.call("abortJob", this.core.requireHandle(), uuid);
  }

  /** The running job's statistics, or with `completed` the last completed job's. */
  async getJobStats(uuid: string, options: { completed?: boolean } = {}): Promise<JobStats> {
    return this.core.blocking.call("jobStats", this.core.requireHandle(), uuid, flagsOf(jobStatsFlags, options));
  }

  // ---- block jobs ----

  async blockCommit(uuid: string, disk: string, options: BlockCommitOptions = {}): Promise<void> {
    const flags =
      flagsOf(blockCommitFlags, {
        active: options.active,
        shallow: options.shallow,
        delete: options.deleteCommitted,
        relative: options.relative,
      }) | blockCommitFlags.bandwidthBytes;
    return this.core.blocking.call("blockCommit", this.core.requireHandle(), uuid, disk, {
      base: options.base ?? null,
      top: options.top ?? null,
      bandwidth: options.bandwidthBytesPerSecond ?? 0,
      flags,
    });
  }

  /** Copies `disk` to the target described by `destinationXml` (a <disk> element). */
  async blockCopy(uuid: string, disk: string, destinationXml: string, options: BlockCopyOptions = {}): Promise<void> {
    const parameters: TypedParameter[] = [];
    if (options.bandwidthBytesPerSecond !== undefined) {
      parameters.push({ name: blockCopyParameterNames.bandwidth, type: "ullong", value: options.bandwidthBytesPerSecond });
    }
    const { shallow, reuseExternal, transientJob } = options;
    const flags = flagsOf(blockCopyFlags, { shallow, reuseExternal, transientJob });
    return this.core.blocking.call("blockCopy", this.core.requireHandle(), uuid, disk, { destinationXml, parameters, flags });
  }

  async blockPull(uuid: string, disk: string, options: { bandwidthBytesPerSecond?: number } = {}): Promise<void> {
    const bandwidth = options.bandwidthBytesPerSecond ?? 0;
    return this.core.blocking.call("blockPull", this.core.requireHandle(), uuid, disk, bandwidth, blockPullFlags.bandwidthBytes);
  }

  /** The block job on `disk`, or null when none runs. */
  async getBlockJobInfo(uuid: string, disk: string): Promise<BlockJobInfo | null> {
    return this.core.blocking.call("blockJobInfo", this.core.requireHandle(), uuid, disk);
  }

  /** Cancels the job, or with `pivot` switches the disk to the copy / committed image (needs the job "ready"). */
  async abortBlockJob(uuid: string, disk: string, options: { pivot?: boolean; async?: boolean } = {}): Promise<void> {
    const request = { pivot: options.pivot ?? false, async: options.async ?? false };
    return this.core.blocking.call("blockJobAbort", this.core.requireHandle(), uuid, disk, request);
  }

  async setBlockJobBandwidth(uuid: string, disk: string, bytesPerSecond: number): Promise<void> {
    return this.core.blocking.call("blockJobSetSpeed", this.core.requireHandle(), uuid, disk, bytesPerSecond);
  }

  // ---- host ----

  /** CPUs, memory, free memory, and the memory defined for running domains. */
  async getHostInfo(): Promise<HostInfo> {
    return this.core.blocking.call("hostInfo", this.core.requireHandle());
  }

  // ---- events ----

  onLifecycle(listener: (event: LifecycleEvent) => void): () => void {
    return this.core.addEventListener(lifecycleOnly(listener));
  }

  /** libvirt's block-job events (completed, failed, canceled, ready), by disk target. */
  onBlockJob(listener: (event: Extract<DomainEvent, { kind: "block-job" }>) => void): () => void {
    return this.core.addEventListener((event) => {
      if (event.kind === "block-job") listener(event);
    });
  }

  /** Every subscribed domain event: lifecycle, reboot, watchdog, io-error-reason, block-job, migration-iteration, job-completed. */
  onEvent(listener: (event: DomainEvent) => void): () => void {
    return this.core.addEventListener(listener);
  }

  /**
   * "lost" when libvirt closed the connection (detail.reason: eof, keepalive, error), "restored" after
   * a reconnect (detail.attempts): then re-read the inventory, events of the gap are gone.
   */
  onConnectionChange(listener: ConnectionChangeListener): () => void {
    return this.core.addChangeListener(listener);
  }

  /** Deregisters callbacks, closes the native connection, and stops the event pump if it was the last user. */
  close(): Promise<void> {
    return this.core.close();
  }
}
