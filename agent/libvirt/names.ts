// Decoding tables: libvirt's numeric enums to the names vigil reports (states, reasons, event
// details, job and block-job kinds). The tables were generated from libvirt 9.0's headers
// (libvirt-domain.h, libvirt-common.h): index = the C enum value, name = the enum suffix in lower case.
// A value newer than these headers decodes to "unknown(N)" instead of failing.

/** virDomainState (libvirt libvirt-domain.h). */
export const domainStateNames: readonly string[] = [
  "nostate", // 0
  "running", // 1
  "blocked", // 2
  "paused", // 3
  "shutdown", // 4
  "shutoff", // 5
  "crashed", // 6
  "pmsuspended", // 7
];

/** virDomainNostateReason (libvirt libvirt-domain.h). */
export const nostateReasonNames: readonly string[] = [
  "unknown", // 0
];

/** virDomainRunningReason (libvirt libvirt-domain.h). */
export const runningReasonNames: readonly string[] = [
  "unknown", // 0
  "booted", // 1
  "migrated", // 2
  "restored", // 3
  "from_snapshot", // 4
  "unpaused", // 5
  "migration_canceled", // 6
  "save_canceled", // 7
  "wakeup", // 8
  "crashed", // 9
  "postcopy", // 10
  "postcopy_failed", // 11
];

/** virDomainBlockedReason (libvirt libvirt-domain.h). */
export const blockedReasonNames: readonly string[] = [
  "unknown", // 0
];

/** virDomainPausedReason (libvirt libvirt-domain.h). */
export const pausedReasonNames: readonly string[] = [
  "unknown", // 0
  "user", // 1
  "migration", // 2
  "save", // 3
  "dump", // 4
  "ioerror", // 5
  "watchdog", // 6
  "from_snapshot", // 7
  "shutting_down", // 8
  "snapshot", // 9
  "crashed", // 10
  "starting_up", // 11
  "postcopy", // 12
  "postcopy_failed", // 13
];

/** virDomainShutdownReason (libvirt libvirt-domain.h). */
export const shutdownReasonNames: readonly string[] = [
  "unknown", // 0
  "user", // 1
];

/** virDomainShutoffReason (libvirt libvirt-domain.h). */
export const shutoffReasonNames: readonly string[] = [
  "unknown", // 0
  "shutdown", // 1
  "destroyed", // 2
  "crashed", // 3
  "migrated", // 4
  "saved", // 5
  "failed", // 6
  "from_snapshot", // 7
  "daemon", // 8
];

/** virDomainCrashedReason (libvirt libvirt-domain.h). */
export const crashedReasonNames: readonly string[] = [
  "unknown", // 0
  "panicked", // 1
];

/** virDomainPMSuspendedReason (libvirt libvirt-domain.h). */
export const pmSuspendedReasonNames: readonly string[] = [
  "unknown", // 0
];

/** virDomainEventType (libvirt libvirt-domain.h). */
export const lifecycleEventNames: readonly string[] = [
  "defined", // 0
  "undefined", // 1
  "started", // 2
  "suspended", // 3
  "resumed", // 4
  "stopped", // 5
  "shutdown", // 6
  "pmsuspended", // 7
  "crashed", // 8
];

/** virDomainEventDefinedDetailType (libvirt libvirt-domain.h). */
export const definedDetailNames: readonly string[] = [
  "added", // 0
  "updated", // 1
  "renamed", // 2
  "from_snapshot", // 3
];

/** virDomainEventUndefinedDetailType (libvirt libvirt-domain.h). */
export const undefinedDetailNames: readonly string[] = [
  "removed", // 0
  "renamed", // 1
];

/** virDomainEventStartedDetailType (libvirt libvirt-domain.h). */
export const startedDetailNames: readonly string[] = [
  "booted", // 0
  "migrated", // 1
  "restored", // 2
  "from_snapshot", // 3
  "wakeup", // 4
];

/** virDomainEventSuspendedDetailType (libvirt libvirt-domain.h). */
export const suspendedDetailNames: readonly string[] = [
  "paused", // 0
  "migrated", // 1
  "ioerror", // 2
  "watchdog", // 3
  "restored", // 4
  "from_snapshot", // 5
  "api_error", // 6
  "postcopy", // 7
  "postcopy_failed", // 8
];

/** virDomainEventResumedDetailType (libvirt libvirt-domain.h). */
export const resumedDetailNames: readonly string[] = [
  "unpaused", // 0
  "migrated", // 1
  "from_snapshot", // 2
  "postcopy", // 3
  "postcopy_failed", // 4
];

/** virDomainEventStoppedDetailType (libvirt libvirt-domain.h). */
export const stoppedDetailNames: readonly string[] = [
  "shutdown", // 0
  "destroyed", // 1
  "crashed", // 2
  "migrated", // 3
  "saved", // 4
  "failed", // 5
  "from_snapshot", // 6
];

/** virDomainEventShutdownDetailType (libvirt libvirt-domain.h). */
export const shutdownDetailNames: readonly string[] = [
  "finished", // 0
  "guest", // 1
  "host", // 2
];

/** virDomainEventPMSuspendedDetailType (libvirt libvirt-domain.h). */
export const pmSuspendedDetailNames: readonly string[] = [
  "memory", // 0
  "disk", // 1
];

/** virDomainEventCrashedDetailType (libvirt libvirt-domain.h). */
export const crashedDetailNames: readonly string[] = [
  "panicked", // 0
  "crashloaded", // 1
];

/** virDomainEventWatchdogAction (libvirt libvirt-domain.h). */
export const watchdogActionNames: readonly string[] = [
  "none", // 0
  "pause", // 1
  "reset", // 2
  "poweroff", // 3
  "shutdown", // 4
  "debug", // 5
  "injectnmi", // 6
];

/** virDomainEventIOErrorAction (libvirt libvirt-domain.h). */
export const ioErrorActionNames: readonly string[] = [
  "none", // 0
  "pause", // 1
  "report", // 2
];

/** virDomainBlockJobType (libvirt libvirt-domain.h). */
export const blockJobTypeNames: readonly string[] = [
  "unknown", // 0
  "pull", // 1
  "copy", // 2
  "commit", // 3
  "active_commit", // 4
  "backup", // 5
];

/** virConnectDomainEventBlockJobStatus (libvirt libvirt-domain.h). */
export const blockJobStatusNames: readonly string[] = [
  "completed", // 0
  "failed", // 1
  "canceled", // 2
  "ready", // 3
];

/** virDomainJobType (libvirt libvirt-domain.h). */
export const jobTypeNames: readonly string[] = [
  "none", // 0
  "bounded", // 1
  "unbounded", // 2
  "completed", // 3
  "failed", // 4
  "cancelled", // 5
];

/** virConnectCloseReason (libvirt libvirt-common.h). */
export const closeReasonNames: readonly string[] = [
  "error", // 0
  "eof", // 1
  "keepalive", // 2
  "client", // 3
];

/** virDomainJobOperation (libvirt libvirt-domain.h). */
export const jobOperationNames: readonly string[] = [
  "unknown", // 0
  "start", // 1
  "save", // 2
  "restore", // 3
  "migration_in", // 4
  "migration_out", // 5
  "snapshot", // 6
  "snapshot_revert", // 7
  "dump", // 8
  "backup", // 9
  "snapshot_delete", // 10
];

export type DomainStateName =
  | "nostate"
  | "running"
  | "blocked"
  | "paused"
  | "shutdown"
  | "shutoff"
  | "crashed"
  | "pmsuspended";

/** The name at `index`, or "unknown(index)" for a value these tables do not know. */
export function nameAt(table: readonly string[], index: number): string {
  return table[index] ?? `unknown(${index})`;
}

export function domainStateName(state: number): DomainStateName {
  // A state outside the enum would be a libvirt newer than vigil; report it as nostate rather than crash.
  return (domainStateNames[state] ?? "nostate") as DomainStateName;
}

const reasonTablesByState: readonly (readonly string[])[] = [
  nostateReasonNames,
  runningReasonNames,
  blockedReasonNames,
  pausedReasonNames,
  shutdownReasonNames,
  shutoffReasonNames,
  crashedReasonNames,
  pmSuspendedReasonNames,
];

/** The reason for a state, e.g. (shutoff, 2) => "destroyed", (running, 2) => "migrated". */
export function stateReasonName(state: number, reason: number): string {
  const table = reasonTablesByState[state];
  return table === undefined ? `unknown(${reason})` : nameAt(table, reason);
}

const detailTablesByEvent: readonly (readonly string[])[] = [
  definedDetailNames,
  undefinedDetailNames,
  startedDetailNames,
  suspendedDetailNames,
  resumedDetailNames,
  stoppedDetailNames,
  shutdownDetailNames,
  pmSuspendedDetailNames,
  crashedDetailNames,
];

export function lifecycleEventName(event: number): string {
  return nameAt(lifecycleEventNames, event);
}

/** The detail of a lifecycle event, e.g. (stopped, 1) => "destroyed". */
export function lifecycleDetailName(event: number, detail: number): string {
  const table = detailTablesByEvent[event];
  return table === undefined ? `unknown(${detail})` : nameAt(table, detail);
}
