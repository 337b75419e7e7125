// What the agent needs from a hypervisor. The libvirt binding implements it in
// production; the deterministic simulator plugs in a simulated one.
import type { BlockJobInfo, DomainInfo, LifecycleEvent, MigrationOptions } from "./libvirt/index.js";

export type { BlockJobInfo, DomainInfo, LifecycleEvent, MigrationOptions };

/** libvirt's block-job event (block-job-2: the disk by target name). */
export interface BlockJobEvent {
  uuid: string;
  name: string;
  disk: string;
  /** "pull" | "copy" | "commit" | "active_commit" | "backup" */
  jobType: string;
  /** "completed" | "failed" | "canceled" | "ready" */
  status: string;
}

/** The domain job (migration) libvirt runs now: type "none" when there is none. */
export interface DomainJob {
  type: string;
  /** e.g. "migration_out", "migration_in"; "unknown" when libvirt did not say. */
  operation: string;
  /** A migration's progress as libvirt reports it (null when it did not say). */
  dataTotalBytes: number | null;
  dataProcessedBytes: number | null;
  dataRemainingBytes: number | null;
  downtimeMs: number | null;
}

export interface Hypervisor {
  listDomains(): Promise<DomainInfo[]>;
  lookupDomain(nameOrUuid: string): Promise<DomainInfo | null>;
  startDomain(uuid: string): Promise<DomainInfo>;
  shutdownDomain(uuid: string): Promise<void>;
  destroyDomain(uuid: string): Promise<DomainInfo>;
  suspendDomain(uuid: string): Promise<DomainInfo>;
  resumeDomain(uuid: string): Promise<DomainInfo>;
  /** The live domain XML (its disks' backing chains, running block jobs' mirrors). */
  getDomainXml(uuid: string): Promise<string>;
  /** The block job on `disk`, or null when none runs. */
  getBlockJobInfo(uuid: string, disk: string): Promise<BlockJobInfo | null>;
  /** The domain job (migration) running now. */
  getJobStats(uuid: string, options?: { completed?: boolean }): Promise<DomainJob>;
  /** Live (or, with `offline`, definition-only) peer-to-peer migration; resolves when libvirt's call returns. */
  migrateDomain(uuid: string, options: MigrationOptions): Promise<void>;
  /** Aborts the domain job (migration) running now (virDomainAbortJob). */
  abortJob(uuid: string): Promise<void>;
  onLifecycle(listener: (event: LifecycleEvent) => void): () => void;
  onBlockJob(listener: (event: BlockJobEvent) => void): () => void;
  /** "restored" after a reconnect: events may have been missed, so the inventory is re-read. */
  onConnectionChange(listener: (change: "lost" | "restored") => void): () => void;
  close(): Promise<void>;
}

/** Checks that a chain's images are reachable on storage (the sync reports only what storage confirms). */
export interface ImageStorage {
  /** Resolves when every image answers; rejects with the first that does not. */
  verify(files: readonly string[]): Promise<void>;
}
