// What the agent needs from a hypervisor. The libvirt binding implements it in
// production; the deterministic simulator plugs in a simulated one.
import type { DomainInfo, LifecycleEvent } from "./libvirt/index.js";

export type { DomainInfo, LifecycleEvent };

export interface Hypervisor {
  listDomains(): Promise<DomainInfo[]>;
  lookupDomain(nameOrUuid: string): Promise<DomainInfo | null>;
  startDomain(uuid: string): Promise<DomainInfo>;
  shutdownDomain(uuid: string): Promise<void>;
  destroyDomain(uuid: string): Promise<DomainInfo>;
  suspendDomain(uuid: string): Promise<DomainInfo>;
  resumeDomain(uuid: string): Promise<DomainInfo>;
  onLifecycle(listener: (event: LifecycleEvent) => void): () => void;
  /** "restored" after a reconnect: events may have been missed, so the inventory is re-read. */
  onConnectionChange(listener: (change: "lost" | "restored") => void): () => void;
  close(): Promise<void>;
}
