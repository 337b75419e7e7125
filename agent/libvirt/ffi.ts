// The raw libvirt C API as seen through koffi: one declaration per function we use, nothing else.
// Every other file in agent/libvirt talks to libvirt only through `native` below.
//
// Loaded once per JavaScript isolate: the main thread and each worker thread (event pump, blocking
// calls) import this module and get their own koffi instance bound to the same libvirt.so.0.
//
// Conventions (koffi 3.x):
//  - pointers are bigint; a NULL pointer comes back as null;
//  - `_Out_ int *` parameters take an Int32Array(1) that koffi writes into;
//  - `_Inout_ void **` parameters take a one-element array;
//  - `str!` return values are decoded and then released with free(), as libvirt's docs require.
import koffi from "koffi";

/** An opaque native pointer. Branded so that a connection is never passed where a domain is expected. */
export type ConnectPointer = bigint & { readonly brand: "virConnectPtr" };
export type DomainPointer = bigint & { readonly brand: "virDomainPtr" };
/** Address of a native function (a registered koffi callback or a libvirt symbol). */
export type FunctionPointer = bigint & { readonly brand: "function" };
export type RawPointer = bigint;

export const virConnect = koffi.opaque("virConnect");
export const virDomain = koffi.opaque("virDomain");

/** struct _virError (virterror.h). Only what we read; the layout must match the header. */
export const virErrorStruct = koffi.struct("virError", {
  code: "int",
  domain: "int",
  message: "char *",
  level: "int",
  conn: "void *",
  dom: "void *",
  str1: "char *",
  str2: "char *",
  str3: "char *",
  int1: "int",
  int2: "int",
  net: "void *",
});

/** struct _virDomainInfo. memory fields are KiB; cpuTime is ns. */
export const virDomainInfoStruct = koffi.struct("virDomainInfo", {
  state: "uint8_t",
  maxMem: "unsigned long",
  memory: "unsigned long",
  nrVirtCpu: "unsigned short",
  cpuTime: "unsigned long long",
});

/** struct _virNodeInfo. memory is KiB. */
export const virNodeInfoStruct = koffi.struct("virNodeInfo", {
  model: koffi.array("char", 32, "String"),
  memory: "unsigned long",
  cpus: "unsigned int",
  mhz: "unsigned int",
  nodes: "unsigned int",
  sockets: "unsigned int",
  cores: "unsigned int",
  threads: "unsigned int",
});

/** struct _virDomainBlockJobInfo. bandwidth is MiB/s unless the BYTES flag was given. */
export const virDomainBlockJobInfoStruct = koffi.struct("virDomainBlockJobInfo", {
  type: "int",
  bandwidth: "unsigned long",
  cur: "unsigned long long",
  end: "unsigned long long",
});

export interface NativeError {
  code: number;
  domain: number;
  message: string | null;
  level: number;
  str1: string | null;
  str2: string | null;
  str3: string | null;
  int1: number;
  int2: number;
}
export interface NativeDomainInfo {
  state: number;
  maxMem: number;
  memory: number;
  nrVirtCpu: number;
  cpuTime: number | bigint;
}
export interface NativeNodeInfo {
  model: string;
  memory: number;
  cpus: number;
  mhz: number;
  nodes: number;
  sockets: number;
  cores: number;
  threads: number;
}
export interface NativeBlockJobInfo {
  type: number;
  bandwidth: number;
  cur: number | bigint;
  end: number | bigint;
}

/** Callback prototypes, for koffi.register. */
export const callbackTypes = {
  lifecycle: koffi.pointer(
    koffi.proto("int virConnectDomainEventCallback(void *conn, void *dom, int event, int detail, void *opaque)"),
  ),
  generic: koffi.pointer(koffi.proto("void virConnectDomainEventGenericCallback(void *conn, void *dom, void *opaque)")),
  watchdog: koffi.pointer(
    koffi.proto("void virConnectDomainEventWatchdogCallback(void *conn, void *dom, int action, void *opaque)"),
  ),
  ioErrorReason: koffi.pointer(
    koffi.proto(
      "void virConnectDomainEventIOErrorReasonCallback(void *conn, void *dom, const char *srcPath, const char *devAlias, int action, const char *reason, void *opaque)",
    ),
  ),
  blockJob: koffi.pointer(
    koffi.proto(
      "void virConnectDomainEventBlockJobCallback(void *conn, void *dom, const char *disk, int type, int status, void *opaque)",
    ),
  ),
  migrationIteration: koffi.pointer(
    koffi.proto("void virConnectDomainEventMigrationIterationCallback(void *conn, void *dom, int iteration, void *opaque)"),
  ),
  jobCompleted: koffi.pointer(
    koffi.proto(
      "void virConnectDomainEventJobCompletedCallback(void *conn, void *dom, void *params, int nparams, void *opaque)",
    ),
  ),
  timeout: koffi.pointer(koffi.proto("void virEventTimeoutCallback(int timer, void *opaque)")),
  close: koffi.pointer(koffi.proto("void virConnectCloseFunc(void *conn, int reason, void *opaque)")),
} as const;

type Int32Out = Int32Array;
type PointerBox = [RawPointer | null];

export interface LibvirtNative {
  virInitialize(): number;
  // Event loop
  virEventRegisterDefaultImpl(): number;
  virEventRunDefaultImpl(): number;
  virEventAddTimeout(timeoutMs: number, callback: FunctionPointer, opaque: RawPointer | null, free: null): number;
  virEventRemoveTimeout(timer: number): number;
  // Errors
  virSetErrorFunc(userData: RawPointer | null, handler: FunctionPointer | null): void;
  virGetLastError(): RawPointer | null;
  virResetLastError(): void;
  // Connection
  virConnectOpen(uri: string): ConnectPointer | null;
  virConnectClose(conn: ConnectPointer): number;
  virConnectIsAlive(conn: ConnectPointer): number;
  virConnectSetKeepAlive(conn: ConnectPointer, intervalSeconds: number, count: number): number;
  virConnectRegisterCloseCallback(conn: ConnectPointer, cb: FunctionPointer, opaque: RawPointer | null, free: null): number;
  virConnectUnregisterCloseCallback(conn: ConnectPointer, cb: FunctionPointer): number;
  virConnectListAllDomains(conn: ConnectPointer, domains: PointerBox, flags: number): number;
  virConnectDomainEventRegisterAny(
    conn: ConnectPointer,
    dom: DomainPointer | null,
    eventId: number,
    cb: FunctionPointer,
    opaque: RawPointer | null,
    free: null,
  ): number;
  virConnectDomainEventDeregisterAny(conn: ConnectPointer, callbackId: number): number;
  // Domains
  virDomainLookupByUUIDString(conn: ConnectPointer, uuid: string): DomainPointer | null;
  virDomainLookupByName(conn: ConnectPointer, name: string): DomainPointer | null;
  virDomainFree(dom: DomainPointer): number;
  virDomainGetName(dom: DomainPointer): string | null;
  virDomainGetUUIDString(dom: DomainPointer, buffer: Buffer): number;
  virDomainGetState(dom: DomainPointer, state: Int32Out, reason: Int32Out, flags: number): number;
  virDomainGetInfo(dom: DomainPointer, info: Record<string, unknown>): number;
  virDomainIsPersistent(dom: DomainPointer): number;
  virDomainIsActive(dom: DomainPointer): number;
  virDomainGetXMLDesc(dom: DomainPointer, flags: number): string | null;
  virDomainDefineXML(conn: ConnectPointer, xml: string): DomainPointer | null;
  virDomainUndefineFlags(dom: DomainPointer, flags: number): number;
  virDomainCreateWithFlags(dom: DomainPointer, flags: number): number;
  virDomainShutdownFlags(dom: DomainPointer, flags: number): number;
  virDomainDestroyFlags(dom: DomainPointer, flags: number): number;
  virDomainReset(dom: DomainPointer, flags: number): number;
  virDomainSuspend(dom: DomainPointer): number;
  virDomainResume(dom: DomainPointer): number;
  // Migration and jobs
  virDomainMigrateToURI3(dom: DomainPointer, destinationUri: string, params: RawPointer | null, nparams: number, flags: number): number;
  virDomainAbortJob(dom: DomainPointer): number;
  virDomainGetJobStats(dom: DomainPointer, type: Int32Out, params: PointerBox, nparams: Int32Out, flags: number): number;
  // Typed parameters
  virTypedParamsFree(params: RawPointer | null, nparams: number): void;
  virTypedParamsAddInt(params: PointerBox, nparams: Int32Out, maxparams: Int32Out, name: string, value: number): number;
  virTypedParamsAddUInt(params: PointerBox, nparams: Int32Out, maxparams: Int32Out, name: string, value: number): number;
  virTypedParamsAddLLong(params: PointerBox, nparams: Int32Out, maxparams: Int32Out, name: string, value: bigint): number;
  virTypedParamsAddULLong(params: PointerBox, nparams: Int32Out, maxparams: Int32Out, name: string, value: bigint): number;
  virTypedParamsAddDouble(params: PointerBox, nparams: Int32Out, maxparams: Int32Out, name: string, value: number): number;
  virTypedParamsAddBoolean(params: PointerBox, nparams: Int32Out, maxparams: Int32Out, name: string, value: number): number;
  virTypedParamsAddString(params: PointerBox, nparams: Int32Out, maxparams: Int32Out, name: string, value: string): number;
  // Block jobs
  virDomainBlockCommit(dom: DomainPointer, disk: string, base: string | null, top: string | null, bandwidth: number, flags: number): number;
  virDomainBlockCopy(dom: DomainPointer, disk: string, destinationXml: string, params: RawPointer | null, nparams: number, flags: number): number;
  virDomainBlockPull(dom: DomainPointer, disk: string, bandwidth: number, flags: number): number;
  virDomainGetBlockJobInfo(dom: DomainPointer, disk: string, info: Record<string, unknown>, flags: number): number;
  virDomainBlockJobAbort(dom: DomainPointer, disk: string, flags: number): number;
  virDomainBlockJobSetSpeed(dom: DomainPointer, disk: string, bandwidth: number, flags: number): number;
  // Host
  virNodeGetInfo(conn: ConnectPointer, info: Record<string, unknown>): number;
  virNodeGetFreeMemory(conn: ConnectPointer): number | bigint;
}

const library = koffi.load("libvirt.so.0");

/** C prototypes, in the order of LibvirtNative. Pointers to libvirt objects are typed so koffi checks nothing extra. */
const prototypes: Record<keyof LibvirtNative, string> = {
  virInitialize: "int virInitialize(void)",
  virEventRegisterDefaultImpl: "int virEventRegisterDefaultImpl(void)",
  virEventRunDefaultImpl: "int virEventRunDefaultImpl(void)",
  virEventAddTimeout: "int virEventAddTimeout(int timeout, void *cb, void *opaque, void *ff)",
  virEventRemoveTimeout: "int virEventRemoveTimeout(int timer)",
  virSetErrorFunc: "void virSetErrorFunc(void *userData, void *handler)",
  virGetLastError: "void *virGetLastError(void)",
  virResetLastError: "void virResetLastError(void)",
  virConnectOpen: "virConnect *virConnectOpen(const char *name)",
  virConnectClose: "int virConnectClose(virConnect *conn)",
  virConnectIsAlive: "int virConnectIsAlive(virConnect *conn)",
  virConnectSetKeepAlive: "int virConnectSetKeepAlive(virConnect *conn, int interval, unsigned int count)",
  virConnectRegisterCloseCallback:
    "int virConnectRegisterCloseCallback(virConnect *conn, void *cb, void *opaque, void *freecb)",
  virConnectUnregisterCloseCallback: "int virConnectUnregisterCloseCallback(virConnect *conn, void *cb)",
  virConnectListAllDomains: "int virConnectListAllDomains(virConnect *conn, _Out_ void **domains, unsigned int flags)",
  virConnectDomainEventRegisterAny:
    "int virConnectDomainEventRegisterAny(virConnect *conn, virDomain *dom, int eventID, void *cb, void *opaque, void *freecb)",
  virConnectDomainEventDeregisterAny: "int virConnectDomainEventDeregisterAny(virConnect *conn, int callbackID)",
  virDomainLookupByUUIDString: "virDomain *virDomainLookupByUUIDString(virConnect *conn, const char *uuid)",
  virDomainLookupByName: "virDomain *virDomainLookupByName(virConnect *conn, const char *name)",
  virDomainFree: "int virDomainFree(virDomain *dom)",
  virDomainGetName: "const char *virDomainGetName(virDomain *dom)",
  virDomainGetUUIDString: "int virDomainGetUUIDString(virDomain *dom, _Out_ uint8_t *buf)",
  virDomainGetState: "int virDomainGetState(virDomain *dom, _Out_ int *state, _Out_ int *reason, unsigned int flags)",
  virDomainGetInfo: "int virDomainGetInfo(virDomain *dom, _Out_ virDomainInfo *info)",
  virDomainIsPersistent: "int virDomainIsPersistent(virDomain *dom)",
  virDomainIsActive: "int virDomainIsActive(virDomain *dom)",
  virDomainGetXMLDesc: "str! virDomainGetXMLDesc(virDomain *dom, unsigned int flags)",
  virDomainDefineXML: "virDomain *virDomainDefineXML(virConnect *conn, const char *xml)",
  virDomainUndefineFlags: "int virDomainUndefineFlags(virDomain *dom, unsigned int flags)",
  virDomainCreateWithFlags: "int virDomainCreateWithFlags(virDomain *dom, unsigned int flags)",
  virDomainShutdownFlags: "int virDomainShutdownFlags(virDomain *dom, unsigned int flags)",
  virDomainDestroyFlags: "int virDomainDestroyFlags(virDomain *dom, unsigned int flags)",
  virDomainReset: "int virDomainReset(virDomain *dom, unsigned int flags)",
  virDomainSuspend: "int virDomainSuspend(virDomain *dom)",
  virDomainResume: "int virDomainResume(virDomain *dom)",
  virDomainMigrateToURI3:
    "int virDomainMigrateToURI3(virDomain *dom, const char *dconnuri, void *params, unsigned int nparams, unsigned int flags)",
  virDomainAbortJob: "int virDomainAbortJob(virDomain *dom)",
  virDomainGetJobStats:
    "int virDomainGetJobStats(virDomain *dom, _Out_ int *type, _Out_ void **params, _Out_ int *nparams, unsigned int flags)",
  virTypedParamsFree: "void virTypedParamsFree(void *params, int nparams)",
  virTypedParamsAddInt:
    "int virTypedParamsAddInt(_Inout_ void **params, _Inout_ int *nparams, _Inout_ int *maxparams, const char *name, int value)",
  virTypedParamsAddUInt:
    "int virTypedParamsAddUInt(_Inout_ void **params, _Inout_ int *nparams, _Inout_ int *maxparams, const char *name, unsigned int value)",
  virTypedParamsAddLLong:
    "int virTypedParamsAddLLong(_Inout_ void **params, _Inout_ int *nparams, _Inout_ int *maxparams, const char *name, long long value)",
  virTypedParamsAddULLong:
    "int virTypedParamsAddULLong(_Inout_ void **params, _Inout_ int *nparams, _Inout_ int *maxparams, const char *name, unsigned long long value)",
  virTypedParamsAddDouble:
    "int virTypedParamsAddDouble(_Inout_ void **params, _Inout_ int *nparams, _Inout_ int *maxparams, const char *name, double value)",
  virTypedParamsAddBoolean:
    "int virTypedParamsAddBoolean(_Inout_ void **params, _Inout_ int *nparams, _Inout_ int *maxparams, const char *name, int value)",
  virTypedParamsAddString:
    "int virTypedParamsAddString(_Inout_ void **params, _Inout_ int *nparams, _Inout_ int *maxparams, const char *name, const char *value)",
  virDomainBlockCommit:
    "int virDomainBlockCommit(virDomain *dom, const char *disk, const char *base, const char *top, unsigned long bandwidth, unsigned int flags)",
  virDomainBlockCopy:
    "int virDomainBlockCopy(virDomain *dom, const char *disk, const char *destxml, void *params, int nparams, unsigned int flags)",
  virDomainBlockPull: "int virDomainBlockPull(virDomain *dom, const char *disk, unsigned long bandwidth, unsigned int flags)",
  virDomainGetBlockJobInfo:
    "int virDomainGetBlockJobInfo(virDomain *dom, const char *disk, _Out_ virDomainBlockJobInfo *info, unsigned int flags)",
  virDomainBlockJobAbort: "int virDomainBlockJobAbort(virDomain *dom, const char *disk, unsigned int flags)",
  virDomainBlockJobSetSpeed:
    "int virDomainBlockJobSetSpeed(virDomain *dom, const char *disk, unsigned long bandwidth, unsigned int flags)",
  virNodeGetInfo: "int virNodeGetInfo(virConnect *conn, _Out_ virNodeInfo *info)",
  virNodeGetFreeMemory: "unsigned long long virNodeGetFreeMemory(virConnect *conn)",
};

function bindAll(): LibvirtNative {
  const bound: Record<string, unknown> = {};
  for (const [name, prototype] of Object.entries(prototypes)) bound[name] = library.func(prototype);
  return bound as unknown as LibvirtNative;
}

export const native: LibvirtNative = bindAll();

// Most libvirt entry points initialize the library themselves, but not all: virTypedParamsAdd*
// reset the thread's last error through a thread-local key that only virInitialize creates, and
// without it they free a foreign pointer and abort the process. Idempotent and thread-safe.
if (native.virInitialize() < 0) throw new Error("virInitialize failed");

/** libc: free() for memory libvirt hands over (the array from virConnectListAllDomains), dlopen/dlsym for symbol addresses. */
const libc = koffi.load("libc.so.6");
export const freeNative = libc.func("void free(void *ptr)") as (pointer: RawPointer) => void;
const dlopen = libc.func("void *dlopen(const char *file, int mode)") as (file: string, mode: number) => RawPointer | null;
const dlsym = libc.func("void *dlsym(void *handle, const char *name)") as (handle: RawPointer, name: string) => RawPointer | null;
/** _exit(2): ends the process at once, without waiting for worker threads (see process-exit.ts). */
export const exitImmediately = libc.func("void _exit(int status)") as (status: number) => void;
const RTLD_NOW = 2;
const RTLD_NOLOAD = 4;

/**
 * Address of a libvirt function, for the few places where libvirt wants a function pointer that must
 * never call back into JavaScript (see errors.ts: the silent error handler).
 */
export function libvirtSymbolAddress(name: string): FunctionPointer {
  const handle = dlopen("libvirt.so.0", RTLD_NOW | RTLD_NOLOAD);
  if (handle === null) throw new Error("libvirt.so.0 is not loaded");
  const address = dlsym(handle, name);
  if (address === null) throw new Error(`libvirt has no symbol ${name}`);
  return address as FunctionPointer;
}

export function registerCallback(callback: (...args: never[]) => unknown, type: (typeof callbackTypes)[keyof typeof callbackTypes]): FunctionPointer {
  return koffi.register(callback, type) as FunctionPointer;
}

export function unregisterCallback(pointer: FunctionPointer): void {
  koffi.unregister(pointer);
}

/** Reads `count` pointers from a native array of pointers. */
export function readPointerArray(array: RawPointer, count: number): RawPointer[] {
  if (count === 0) return [];
  const values = koffi.decode(array, "void *", count) as (RawPointer | null)[];
  return values.map((value) => value ?? 0n);
}

export { koffi };
