// Reading one domain: lookup with a guaranteed virDomainFree, and its info decoded to names.
// Synchronous: runs on whichever thread calls it (blocking-call workers, or the main thread for
// the cheap reads of DomainHandle).
import { uuidStringBufferLength } from "./constants.js";
import { errorCodes } from "./error-names.js";
import { checkPointer, checkResult, LibvirtError } from "./errors.js";
import { native, type ConnectPointer, type DomainPointer, type NativeDomainInfo } from "./ffi.js";
import { domainStateName, stateReasonName, type DomainStateName } from "./names.js";

export interface DomainInfo {
  name: string;
  uuid: string;
  state: DomainStateName;
  /** Why the domain is in that state, e.g. "booted", "migrated", "destroyed", "user". */
  reason: string;
  vcpus: number;
  /** Maximum memory defined for the domain (virDomainInfo.maxMem), in bytes. */
  memoryBytes: number;
  persistent: boolean;
}

export interface DomainState {
  state: DomainStateName;
  reason: string;
}

const uuidPattern = /^[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}$/i;

export function looksLikeUuid(text: string): boolean {
  return uuidPattern.test(text);
}

export function lookupByUuid(conn: ConnectPointer, uuid: string): DomainPointer {
  return checkPointer(native.virDomainLookupByUUIDString(conn, uuid), "virDomainLookupByUUIDString");
}

/** By UUID when the key looks like one, otherwise by name. Throws LibvirtError (VIR_ERR_NO_DOMAIN when missing). */
export function lookupByKey(conn: ConnectPointer, key: string): DomainPointer {
  if (looksLikeUuid(key)) return lookupByUuid(conn, key);
  return checkPointer(native.virDomainLookupByName(conn, key), "virDomainLookupByName");
}

/** Runs `use` with the domain and frees the domain afterwards, also when `use` throws. */
export function withDomain<T>(conn: ConnectPointer, key: string, use: (dom: DomainPointer) => T): T {
  const dom = lookupByKey(conn, key);
  try {
    return use(dom);
  } finally {
    native.virDomainFree(dom);
  }
}

export function isNoDomainError(error: unknown): boolean {
  return error instanceof LibvirtError && error.code === errorCodes.noDomain;
}

export function readUuid(dom: DomainPointer): string {
  const buffer = Buffer.alloc(uuidStringBufferLength);
  checkResult(native.virDomainGetUUIDString(dom, buffer), "virDomainGetUUIDString");
  return buffer.toString("latin1", 0, uuidStringBufferLength - 1);
}

export function readState(dom: DomainPointer): DomainState {
  const state = new Int32Array(1);
  const reason = new Int32Array(1);
  checkResult(native.virDomainGetState(dom, state, reason, 0), "virDomainGetState");
  const stateCode = state[0] ?? 0;
  return { state: domainStateName(stateCode), reason: stateReasonName(stateCode, reason[0] ?? 0) };
}

export function readInfo(dom: DomainPointer): DomainInfo {
  const info = {} as NativeDomainInfo;
  checkResult(native.virDomainGetInfo(dom, info as unknown as Record<string, unknown>), "virDomainGetInfo");
  const { state, reason } = readState(dom);
  return {
    name: checkPointer(native.virDomainGetName(dom), "virDomainGetName"),
    uuid: readUuid(dom),
    state,
    reason,
    vcpus: info.nrVirtCpu,
    memoryBytes: Number(info.maxMem) * 1024,
    persistent: checkResult(native.virDomainIsPersistent(dom), "virDomainIsPersistent") === 1,
  };
}
