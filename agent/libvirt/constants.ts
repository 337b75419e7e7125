// Numeric constants from libvirt's headers (libvirt 9.0) that the binding passes to libvirt:
// event ids and flag bits. Names follow the C names without the common prefix.

/** virDomainEventID: the events the binding subscribes to. */
export const eventIds = {
  lifecycle: 0,
  reboot: 1,
  watchdog: 3,
  ioErrorReason: 6,
  blockJob2: 16,
  migrationIteration: 20,
  jobCompleted: 21,
} as const;
export type EventKind = keyof typeof eventIds;

/** virConnectListAllDomainsFlags: 0 lists every domain, active and inactive. */
export const listAllDomainsFlags = 0;

/** virDomainShutdownFlagValues. */
export const shutdownModeFlags = {
  acpi: 1 << 0,
  guestAgent: 1 << 1,
  initctl: 1 << 2,
  signal: 1 << 3,
  paravirt: 1 << 4,
} as const;
export type ShutdownMode = keyof typeof shutdownModeFlags;

/** virDomainDestroyFlagsValues. */
export const destroyFlags = { graceful: 1 << 0 } as const;

/** virDomainUndefineFlagsValues. */
export const undefineFlags = {
  managedSave: 1 << 0,
  snapshotsMetadata: 1 << 1,
  nvram: 1 << 2,
  checkpointsMetadata: 1 << 4,
} as const;

/** virDomainCreateFlags. */
export const createFlags = { paused: 1 << 0, autodestroy: 1 << 1 } as const;

/** virDomainXMLFlags. */
export const domainXmlFlags = { secure: 1 << 0, inactive: 1 << 1, updateCpu: 1 << 2, migratable: 1 << 3 } as const;

/** virDomainMigrateFlags. */
export const migrateFlags = {
  live: 1 << 0,
  peerToPeer: 1 << 1,
  tunnelled: 1 << 2,
  persistDestination: 1 << 3,
  undefineSource: 1 << 4,
  paused: 1 << 5,
  unsafe: 1 << 9,
  offline: 1 << 10,
  compressed: 1 << 11,
  abortOnError: 1 << 12,
  autoConverge: 1 << 13,
  postcopy: 1 << 15,
} as const;

/** Typed-parameter names of virDomainMigrateToURI3 (VIR_MIGRATE_PARAM_*). */
export const migrateParameterNames = {
  uri: "migrate_uri",
  destinationName: "destination_name",
  destinationXml: "destination_xml",
  persistentXml: "persistent_xml",
  bandwidth: "bandwidth",
  listenAddress: "listen_address",
} as const;

/** virDomainGetJobStatsFlags. */
export const jobStatsFlags = { completed: 1 << 0, keepCompleted: 1 << 1 } as const;

/** virDomainBlockCommitFlags. */
export const blockCommitFlags = {
  shallow: 1 << 0,
  delete: 1 << 1,
  active: 1 << 2,
  relative: 1 << 3,
  bandwidthBytes: 1 << 4,
} as const;

/** virDomainBlockCopyFlags. */
export const blockCopyFlags = {
  shallow: 1 << 0,
  reuseExternal: 1 << 1,
  transientJob: 1 << 2,
  synchronousWrites: 1 << 3,
} as const;
/** Typed-parameter names of virDomainBlockCopy. */
export const blockCopyParameterNames = { bandwidth: "bandwidth", granularity: "granularity", bufferSize: "buf-size" } as const;

/** virDomainBlockPullFlags. */
export const blockPullFlags = { bandwidthBytes: 1 << 6 } as const;

/** virDomainBlockJobAbortFlags. */
export const blockJobAbortFlags = { async: 1 << 0, pivot: 1 << 1 } as const;

/** virDomainBlockJobInfoFlags and virDomainBlockJobSetSpeedFlags: bandwidth in bytes/s instead of MiB/s. */
export const blockJobBandwidthBytesFlag = 1 << 0;

/** virTypedParameterType. */
export const typedParameterTypes = {
  int: 1,
  uint: 2,
  llong: 3,
  ullong: 4,
  double: 5,
  boolean: 6,
  string: 7,
} as const;

export const uuidStringBufferLength = 37; // VIR_UUID_STRING_BUFLEN
