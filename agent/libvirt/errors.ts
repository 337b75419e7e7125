// libvirt failures as values: every failed call becomes a LibvirtError carrying libvirt's own code,
// domain and message, read from the calling thread's last error (libvirt keeps it per thread).
import { errorCodeName, errorDomainName } from "./error-names.js";
import { koffi, libvirtSymbolAddress, native, virErrorStruct, type NativeError } from "./ffi.js";

/** The plain, cloneable form of a libvirt error, as it crosses from a worker thread to the main thread. */
export interface LibvirtErrorDetails {
  code: number;
  domain: number;
  message: string;
  /** Which binding operation failed, e.g. "virDomainCreateWithFlags". */
  operation: string;
}

export class LibvirtError extends Error {
  override name = "LibvirtError";
  /** virErrorNumber, e.g. 42 */
  readonly code: number;
  /** virErrorDomain: which libvirt component reported it */
  readonly domain: number;
  /** e.g. "VIR_ERR_NO_DOMAIN" */
  readonly codeName: string;
  /** e.g. "VIR_FROM_QEMU" */
  readonly domainName: string;
  readonly operation: string;
  /** libvirt's message alone, without the operation and code name that `message` adds. */
  readonly libvirtMessage: string;

  constructor(details: LibvirtErrorDetails) {
    super(`${details.operation}: ${details.message} (${errorCodeName(details.code)})`);
    this.libvirtMessage = details.message;
    this.code = details.code;
    this.domain = details.domain;
    this.codeName = errorCodeName(details.code);
    this.domainName = errorDomainName(details.domain);
    this.operation = details.operation;
  }

  toDetails(): LibvirtErrorDetails {
    return { code: this.code, domain: this.domain, message: this.libvirtMessage, operation: this.operation };
  }
}

/**
 * Reads and clears this thread's last libvirt error. Call it on the same thread, right after the
 * failing call: libvirt stores errors per thread, so another thread would see nothing.
 */
export function takeLastError(operation: string): LibvirtError {
  const pointer = native.virGetLastError();
  if (pointer === null) {
    return new LibvirtError({ code: 1, domain: 0, message: "failed without a libvirt error", operation });
  }
  const error = koffi.decode(pointer, virErrorStruct) as NativeError;
  native.virResetLastError();
  return new LibvirtError({
    code: error.code,
    domain: error.domain,
    message: error.message ?? "unknown libvirt error",
    operation,
  });
}

/** Throws this thread's last error when a libvirt int result says failure (-1). */
export function checkResult(result: number, operation: string): number {
  if (result < 0) throw takeLastError(operation);
  return result;
}

/** Throws this thread's last error when a libvirt pointer result is NULL. */
export function checkPointer<T>(result: T | null, operation: string): T {
  if (result === null) throw takeLastError(operation);
  return result;
}

let silenced = false;

/**
 * Stops libvirt from printing every error to stderr (its default handler does), process-wide.
 *
 * Why a libvirt function rather than a JavaScript no-op: the handler runs on whichever thread saw the
 * error (event pump, blocking-call workers), and a koffi callback from a foreign thread has to wait for
 * the main thread. libvirt calls handler(userData, error); with userData NULL and handler
 * virResetError, that is virResetError(NULL), which returns at once. The error itself stays
 * available through virGetLastError, which is how we read it.
 */
export function silenceDefaultErrorPrinting(): void {
  if (silenced) return;
  native.virSetErrorFunc(null, libvirtSymbolAddress("virResetError"));
  silenced = true;
}
