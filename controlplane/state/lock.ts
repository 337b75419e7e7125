// Keeps a second vigild off the same data dir: two processes on one file
// would be two primaries. SQLite's exclusive locking mode holds an OS lock on
// the file for the life of the connection, and the OS drops it if we die.
import type { Db } from "./store.js";

export class DataDirInUseError extends Error {
  override name = "DataDirInUseError";
}

export function lockDatabase(db: Db, dataDir: string): void {
  db.pragma("locking_mode = EXCLUSIVE");
  try {
    // The lock is taken by the first write and then kept.
    db.prepare("INSERT INTO meta (key, value) VALUES ('locked_by_pid', ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value").run(String(process.pid));
  } catch (error) {
    throw new DataDirInUseError(`data dir ${dataDir} is in use by another vigild (${(error as Error).message})`);
  }
}
