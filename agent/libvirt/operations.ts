// Every libvirt operation the binding performs, as a synchronous function of plain values.
// They run on blocking-call worker threads (blocking-worker.ts), never on the main thread, so that a
// slow libvirtd (create, destroy, migrate, the first connection's capability probe) cannot stall it.
// Arguments and results must survive postMessage: strings, numbers, bigints, plain objects.
//
// Each function reads libvirt's error on its own thread (errors.ts) and frees every virDomainPtr it
// obtains (domain.ts: withDomain), also when libvirt fails midway.
import {
  blockJobAbortFlags,
  blockJobBandwidthBytesFlag,
  listAllDomainsFlags,
  migrateFlags,
  migrateParameterNames,
} from "./constants.js";
import { isNoDomainError, lookupByKey, readInfo, readState, withDomain, type DomainInfo, type DomainState } from "./domain.js";
import { checkPointer, checkResult } from "./errors.js";
import {
  freeNative,
  native,
  readPointerArray,
  type ConnectPointer,
  type DomainPointer,
  type FunctionPointer,
  type NativeBlockJobInfo,
  type NativeNodeInfo,
  type RawPointer,
} from "./ffi.js";
import { decodeJobStats, type JobStats } from "./job-stats.js";
import { blockJobTypeNames, nameAt } from "./names.js";
import { decodeTypedParameters, withTypedParameters, type TypedParameter } from "./typed-params.js";

// ---- connection ----

function openConnection(uri: string): ConnectPointer {
  return checkPointer(native.virConnectOpen(uri), "virConnectOpen");
}

function closeConnection(conn: ConnectPointer): void {
  // A negative result means the handle was already unusable; there is nothing left to release then.
  native.virConnectClose(conn);
}

/** Returns false when the driver has no keepalive (the test driver), true when enabled. */
function setKeepAlive(conn: ConnectPointer, intervalSeconds: number, count: number): boolean {
  return checkResult(native.virConnectSetKeepAlive(conn, intervalSeconds, count), "virConnectSetKeepAlive") === 0;
}

function registerCloseCallback(conn: ConnectPointer, callback: FunctionPointer, opaque: RawPointer): void {
  checkResult(native.virConnectRegisterCloseCallback(conn, callback, opaque, null), "virConnectRegisterCloseCallback");
}

function unregisterCloseCallback(conn: ConnectPointer, callback: FunctionPointer): void {
  checkResult(native.virConnectUnregisterCloseCallback(conn, callback), "virConnectUnregisterCloseCallback");
}

function registerDomainEvent(conn: ConnectPointer, eventId: number, callback: FunctionPointer, opaque: RawPointer): number {
  const operation = `virConnectDomainEventRegisterAny(${eventId})`;
  return checkResult(native.virConnectDomainEventRegisterAny(conn, null, eventId, callback, opaque, null), operation);
}

function deregisterDomainEvent(conn: ConnectPointer, callbackId: number): void {
  checkResult(native.virConnectDomainEventDeregisterAny(conn, callbackId), "virConnectDomainEventDeregisterAny");
}

// ---- domains ----

function listDomainPointers(conn: ConnectPointer, flags: number): DomainPointer[] {
  const array: [RawPointer | null] = [null];
  const count = checkResult(native.virConnectListAllDomains(conn, array, flags), "virConnectListAllDomains");
  const list = array[0];
  if (list === null) return [];
  try {
    return readPointerArray(list, count) as DomainPointer[];
  } finally {
    freeNative(list);
  }
}

/** Reads every domain's info; a domain that vanishes between list and read is left out. */
function readAllAndFree(pointers: DomainPointer[]): DomainInfo[] {
  const domains: DomainInfo[] = [];
  let failure: unknown = null;
  for (const dom of pointers) {
    try {
      if (failure === null) domains.push(readInfo(dom));
    } catch (error) {
      if (!isNoDomainError(error)) failure = error;
    } finally {
      native.virDomainFree(dom);
    }
  }
  if (failure !== null) throw failure;
  return domains;
}

function listDomains(conn: ConnectPointer): DomainInfo[] {
  return readAllAndFree(listDomainPointers(conn, listAllDomainsFlags));
}

function lookupDomain(conn: ConnectPointer, key: string): DomainInfo | null {
  try {
    return withDomain(conn, key, readInfo);
  } catch (error) {
    if (isNoDomainError(error)) return null;
    throw error;
  }
}

/** A looked-up domain the caller now owns and must virDomainFree (DomainHandle does). */
function lookupDomainPointer(conn: ConnectPointer, key: string): DomainPointer {
  return lookupByKey(conn, key);
}

function domainState(conn: ConnectPointer, key: string): DomainState {
  return withDomain(conn, key, readState);
}

function domainXml(conn: ConnectPointer, key: string, flags: number): string {
  return withDomain(conn, key, (dom) => checkPointer(native.virDomainGetXMLDesc(dom, flags), "virDomainGetXMLDesc"));
}

function startDomain(conn: ConnectPointer, key: string, flags: number): DomainInfo {
  return withDomain(conn, key, (dom) => {
    checkResult(native.virDomainCreateWithFlags(dom, flags), "virDomainCreateWithFlags");
    return readInfo(dom);
  });
}

function shutdownDomain(conn: ConnectPointer, key: string, flags: number): void {
  withDomain(conn, key, (dom) => checkResult(native.virDomainShutdownFlags(dom, flags), "virDomainShutdownFlags"));
}

function destroyDomain(conn: ConnectPointer, key: string, flags: number): DomainInfo {
  return withDomain(conn, key, (dom) => {
    checkResult(native.virDomainDestroyFlags(dom, flags), "virDomainDestroyFlags");
    return readInfo(dom);
  });
}

function resetDomain(conn: ConnectPointer, key: string): void {
  withDomain(conn, key, (dom) => checkResult(native.virDomainReset(dom, 0), "virDomainReset"));
}

function suspendDomain(conn: ConnectPointer, key: string): DomainInfo {
  return withDomain(conn, key, (dom) => {
    checkResult(native.virDomainSuspend(dom), "virDomainSuspend");
    return readInfo(dom);
  });
}

function resumeDomain(conn: ConnectPointer, key: string): DomainInfo {
  return withDomain(conn, key, (dom) => {
    checkResult(native.virDomainResume(dom), "virDomainResume");
    return readInfo(dom);
  });
}

function defineDomain(conn: ConnectPointer, xml: string): DomainInfo {
  const dom = checkPointer(native.virDomainDefineXML(conn, xml), "virDomainDefineXML");
  try {
    return readInfo(dom);
  } finally {
    native.virDomainFree(dom);
  }
}

function undefineDomain(conn: ConnectPointer, key: string, flags: number): void {
  withDomain(conn, key, (dom) => checkResult(native.virDomainUndefineFlags(dom, flags), "virDomainUndefineFlags"));
}

// ---- migration and jobs ----

export interface MigrationRequest {
  /** Destination libvirt URI (peer-to-peer), e.g. qemu+unix:///system?socket=/run/vigil-lab/host2/libvirt-sock */
  destinationUri: string;
  flags: number;
  parameters: TypedParameter[];
}

function migrateDomain(conn: ConnectPointer, key: string, request: MigrationRequest): void {
  withDomain(conn, key, (dom) =>
    withTypedParameters(request.parameters, (pointer, count) =>
      checkResult(
        native.virDomainMigrateToURI3(dom, request.destinationUri, pointer, count, request.flags),
        "virDomainMigrateToURI3",
      ),
    ),
  );
}

function abortJob(conn: ConnectPointer, key: string): void {
  withDomain(conn, key, (dom) => checkResult(native.virDomainAbortJob(dom), "virDomainAbortJob"));
}

function jobStats(conn: ConnectPointer, key: string, flags: number): JobStats {
  return withDomain(conn, key, (dom) => {
    const type = new Int32Array(1);
    const parameters: [RawPointer | null] = [null];
    const count = new Int32Array(1);
    checkResult(native.virDomainGetJobStats(dom, type, parameters, count, flags), "virDomainGetJobStats");
    try {
      return decodeJobStats(type[0] ?? 0, decodeTypedParameters(parameters[0], count[0] ?? 0));
    } finally {
      native.virTypedParamsFree(parameters[0], count[0] ?? 0);
    }
  });
}

// ---- block jobs ----

export interface BlockJobInfo {
  /** "pull" | "copy" | "commit" | "active_commit" | "backup" */
  type: string;
  bandwidthBytesPerSecond: number;
  /** Progress as libvirt reports it: cur out of end (units are opaque; cur === end means ready/done). */
  current: number;
  end: number;
}

function blockCommit(
  conn: ConnectPointer,
  key: string,
  disk: string,
  options: { base: string | null; top: string | null; bandwidth: number; flags: number },
): void {
  withDomain(conn, key, (dom) =>
    checkResult(
      native.virDomainBlockCommit(dom, disk, options.base, options.top, options.bandwidth, options.flags),
      "virDomainBlockCommit",
    ),
  );
}

function blockCopy(
  conn: ConnectPointer,
  key: string,
  disk: string,
  options: { destinationXml: string; parameters: TypedParameter[]; flags: number },
): void {
  withDomain(conn, key, (dom) =>
    withTypedParameters(options.parameters, (pointer, count) =>
      checkResult(
        native.virDomainBlockCopy(dom, disk, options.destinationXml, pointer, count, options.flags),
        "virDomainBlockCopy",
      ),
    ),
  );
}

function blockPull(conn: ConnectPointer, key: string, disk: string, bandwidth: number, flags: number): void {
  withDomain(conn, key, (dom) => checkResult(native.virDomainBlockPull(dom, disk, bandwidth, flags), "virDomainBlockPull"));
}

/** The block job on `disk`, or null when none runs. */
function blockJobInfo(conn: ConnectPointer, key: string, disk: string): BlockJobInfo | null {
  return withDomain(conn, key, (dom) => {
    const info = {} as NativeBlockJobInfo;
    const flags = blockJobBandwidthBytesFlag;
    const found = checkResult(
      native.virDomainGetBlockJobInfo(dom, disk, info as unknown as Record<string, unknown>, flags),
      "virDomainGetBlockJobInfo",
    );
    if (found === 0) return null;
    return {
      type: nameAt(blockJobTypeNames, info.type),
      bandwidthBytesPerSecond: Number(info.bandwidth),
      current: Number(info.cur),
      end: Number(info.end),
    };
  });
}

function blockJobAbort(conn: ConnectPointer, key: string, disk: string, options: { pivot: boolean; async: boolean }): void {
  const flags = (options.pivot ? blockJobAbortFlags.pivot : 0) | (options.async ? blockJobAbortFlags.async : 0);
  withDomain(conn, key, (dom) => checkResult(native.virDomainBlockJobAbort(dom, disk, flags), "virDomainBlockJobAbort"));
}

function blockJobSetSpeed(conn: ConnectPointer, key: string, disk: string, bytesPerSecond: number): void {
  withDomain(conn, key, (dom) =>
    checkResult(
      native.virDomainBlockJobSetSpeed(dom, disk, bytesPerSecond, blockJobBandwidthBytesFlag),
      "virDomainBlockJobSetSpeed",
    ),
  );
}

// ---- host ----

export interface HostInfo {
  cpuModel: string;
  cpus: number;
  cpuMhz: number;
  numaNodes: number;
  sockets: number;
  coresPerSocket: number;
  threadsPerCore: number;
  memoryBytes: number;
  freeMemoryBytes: number;
  /** Sum of the maximum memory defined for every running (active) domain. */
  runningDomainsMemoryBytes: number;
  runningDomains: number;
}

const listActiveDomainsFlag = 1; // VIR_CONNECT_LIST_DOMAINS_ACTIVE

function hostInfo(conn: ConnectPointer): HostInfo {
  const node = {} as NativeNodeInfo;
  checkResult(native.virNodeGetInfo(conn, node as unknown as Record<string, unknown>), "virNodeGetInfo");
  const freeMemory = native.virNodeGetFreeMemory(conn);
  // 0 means failure here (a host always has some free memory).
  if (freeMemory === 0 || freeMemory === 0n) checkResult(-1, "virNodeGetFreeMemory");
  const running = readAllAndFree(listDomainPointers(conn, listActiveDomainsFlag));
  return {
    cpuModel: node.model,
    cpus: node.cpus,
    cpuMhz: node.mhz,
    numaNodes: node.nodes,
    sockets: node.sockets,
    coresPerSocket: node.cores,
    threadsPerCore: node.threads,
    memoryBytes: Number(node.memory) * 1024,
    freeMemoryBytes: Number(freeMemory),
    runningDomainsMemoryBytes: running.reduce((sum, domain) => sum + domain.memoryBytes, 0),
    runningDomains: running.length,
  };
}

/** Migration flags and parameters from the binding's options; kept here so the worker and tests share it. */
export function migrationRequest(options: MigrationOptions): MigrationRequest {
  const flags =
    (options.live === false || options.offline === true ? 0 : migrateFlags.live) |
    (options.offline ? migrateFlags.offline : 0) |
    (options.peerToPeer === false ? 0 : migrateFlags.peerToPeer) |
    (options.persistOnDestination ? migrateFlags.persistDestination : 0) |
    (options.undefineSource ? migrateFlags.undefineSource : 0) |
    (options.unsafe ? migrateFlags.unsafe : 0) |
    (options.abortOnError ? migrateFlags.abortOnError : 0) |
    (options.autoConverge ? migrateFlags.autoConverge : 0);
  const parameters: TypedParameter[] = [];
  if (options.migrationUri !== undefined) {
    parameters.push({ name: migrateParameterNames.uri, type: "string", value: options.migrationUri });
  }
  if (options.bandwidthMiBPerSecond !== undefined) {
    parameters.push({ name: migrateParameterNames.bandwidth, type: "ullong", value: options.bandwidthMiBPerSecond });
  }
  if (options.destinationXml !== undefined) {
    parameters.push({ name: migrateParameterNames.destinationXml, type: "string", value: options.destinationXml });
  }
  if (options.destinationName !== undefined) {
    parameters.push({ name: migrateParameterNames.destinationName, type: "string", value: options.destinationName });
  }
  return { destinationUri: options.destinationUri, flags, parameters };
}

export interface MigrationOptions {
  /** libvirt URI of the destination daemon; with peer-to-peer the source daemon connects to it. */
  destinationUri: string;
  /** Data channel for QEMU, e.g. "tcp://10.0.0.2" (VIR_MIGRATE_PARAM_URI). Default: libvirt's choice. */
  migrationUri?: string;
  /** Default true (false when `offline`). */
  live?: boolean;
  /**
   * Moves only the definition of a shut-off persistent domain (VIR_MIGRATE_OFFLINE); libvirt wants
   * `persistOnDestination` with it. Never live.
   */
  offline?: boolean;
  /** Default true: the source libvirtd drives the migration (the only mode QEMU supports for ToURI3). */
  peerToPeer?: boolean;
  persistOnDestination?: boolean;
  undefineSource?: boolean;
  /** Migrate even though libvirt considers it unsafe (e.g. disks not on shared storage, cache mode). */
  unsafe?: boolean;
  abortOnError?: boolean;
  autoConverge?: boolean;
  bandwidthMiBPerSecond?: number;
  destinationXml?: string;
  destinationName?: string;
}

/** The table the blocking-call workers dispatch on. */
export const operations = {
  openConnection,
  closeConnection,
  setKeepAlive,
  registerCloseCallback,
  unregisterCloseCallback,
  registerDomainEvent,
  deregisterDomainEvent,
  listDomains,
  lookupDomain,
  lookupDomainPointer,
  domainState,
  domainXml,
  startDomain,
  shutdownDomain,
  destroyDomain,
  resetDomain,
  suspendDomain,
  resumeDomain,
  defineDomain,
  undefineDomain,
  migrateDomain,
  abortJob,
  jobStats,
  blockCommit,
  blockCopy,
  blockPull,
  blockJobInfo,
  blockJobAbort,
  blockJobSetSpeed,
  hostInfo,
} as const;

export type Operations = typeof operations;
export type OperationName = keyof Operations;
