// Exiting while a libvirt call blocks a worker thread. Node's process.exit() waits for every worker
// thread to return to JavaScript, and a native call cannot be interrupted: a live migration's
// virDomainMigrateToURI3 (minutes), or a virDomainAbortJob that libvirt 9.0 never answers, would
// hold the exit for as long (measured: process.exit and process.reallyExit both wait). _exit(2)
// ends the process at once. Callers close what must be closed first (the journal: SQLite WAL,
// synchronous FULL, so every commit is already durable; pino writes stdout synchronously).
import { BlockingCallPool } from "./blocking-pool.js";
import { exitImmediately } from "./ffi.js";

/** The libvirt operations running on worker threads now (e.g. ["migrateDomain"]). */
export function libvirtCallsInFlight(): string[] {
  return BlockingCallPool.shared().busyOperations();
}

/** process.exit(code), or _exit(code) when a libvirt call still blocks a worker thread. */
export function exitProcess(code: number): never {
  if (libvirtCallsInFlight().length > 0) exitImmediately(code);
  process.exit(code);
}
