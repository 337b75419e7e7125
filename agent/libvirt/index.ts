// The agent's libvirt layer: a typed FFI binding (koffi) to libvirt. See connection.ts for the API.
export { LibvirtConnection } from "./connection.js";
export type {
  BlockCommitOptions,
  BlockCopyOptions,
  DomainXmlOptions,
  ShutdownOptions,
  UndefineOptions,
} from "./connection.js";
export type {
  ConnectionChange,
  ConnectionChangeDetail,
  ConnectionChangeListener,
  ConnectionOptions,
  ConnectionState,
} from "./connection-core.js";
export { DomainHandle } from "./domain-handle.js";
export type { DomainInfo, DomainState } from "./domain.js";
export { LibvirtError } from "./errors.js";
export { exitProcess, libvirtCallsInFlight } from "./process-exit.js";
export type { LibvirtErrorDetails } from "./errors.js";
export { errorCodes } from "./error-names.js";
export type { DomainEvent, DomainEventKind, LifecycleEvent } from "./events.js";
export type { JobStats } from "./job-stats.js";
export type { DomainStateName } from "./names.js";
export type { BlockJobInfo, HostInfo, MigrationOptions } from "./operations.js";
export type { ReconnectPolicy } from "./reconnect-policy.js";
export type { ShutdownMode } from "./constants.js";
