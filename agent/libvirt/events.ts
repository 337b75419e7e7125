// The typed domain events the binding delivers. Decoded on the event-pump thread, so that the main
// thread only receives plain objects with names instead of numbers.
import type { JobStats } from "./job-stats.js";

export interface LifecycleEvent {
  uuid: string;
  name: string;
  /** virDomainEventType name, e.g. "started", "stopped". */
  event: string;
  /** The event's detail name, e.g. "booted", "destroyed", "migrated". */
  detail: string;
}

interface DomainIdentity {
  uuid: string;
  name: string;
}

/** Every event kind the binding subscribes to, tagged by `kind`. */
export type DomainEvent =
  | ({ kind: "lifecycle" } & LifecycleEvent)
  | ({ kind: "reboot" } & DomainIdentity)
  | ({ kind: "watchdog"; action: string } & DomainIdentity)
  | ({
      kind: "io-error-reason";
      sourcePath: string;
      deviceAlias: string;
      /** "none" | "pause" | "report" */
      action: string;
      /** e.g. "enospc", "eio" */
      reason: string;
    } & DomainIdentity)
  | ({
      kind: "block-job";
      /** Target name of the disk (block-job-2 events report "vda", not the file path). */
      disk: string;
      /** "pull" | "copy" | "commit" | "active_commit" | "backup" */
      jobType: string;
      /** "completed" | "failed" | "canceled" | "ready" */
      status: string;
    } & DomainIdentity)
  | ({ kind: "migration-iteration"; iteration: number } & DomainIdentity)
  | ({ kind: "job-completed"; stats: JobStats } & DomainIdentity);

export type DomainEventKind = DomainEvent["kind"];

/** What the event-pump thread posts to the main thread for each event. */
export interface PumpedEvent {
  /** Which LibvirtConnection registered the callback (passed to libvirt as the callback's opaque value). */
  connectionId: number;
  event: DomainEvent;
}
