// The physical limit the replicated log is compared with, measured on the same disk in the same
// run: better-sqlite3 in WAL mode with synchronous=FULL appending 200-byte rows to a table shaped
// like the Raft log (idx, term, type, data), `rowsPerTransaction` rows per transaction.
import { join } from "node:path";
import Database from "better-sqlite3";
import { temporaryDirectory } from "./processes.js";

/**
 * The row size: 200 bytes, as in every figure measured before the write payload shrank to 19 bytes
 * (clients.ts), and about the size of a vigil log entry carrying a small command (JSON envelope).
 */
export const sqliteRowBytes = 200;

export interface SqliteLimit {
  rowsPerTransaction: number;
  rowsPerSecond: number;
  transactionsPerSecond: number;
}

export function measureSqliteLimit(options: { rowsPerTransaction: number; durationMs: number }): SqliteLimit {
  const directory = temporaryDirectory("sqlite");
  const db = new Database(join(directory.path, "limit.db"));
  try {
    db.pragma("journal_mode = WAL");
    db.pragma("synchronous = FULL");
    db.exec("CREATE TABLE log_entries (idx INTEGER PRIMARY KEY, term INTEGER NOT NULL, type INTEGER NOT NULL, data BLOB NOT NULL) STRICT");
    const insert = db.prepare("INSERT INTO log_entries (idx, term, type, data) VALUES (?, ?, ?, ?)");
    const data = Buffer.alloc(sqliteRowBytes, 0x30);
    let index = 0;
    const batch = db.transaction((rows: number) => {
      for (let row = 0; row < rows; row += 1) insert.run(++index, 1, 0, data);
    });
    for (let warmUp = 0; warmUp < 20; warmUp += 1) batch(options.rowsPerTransaction);
    const startIndex = index;
    let transactions = 0;
    const startedAt = performance.now();
    while (performance.now() - startedAt < options.durationMs) {
      batch(options.rowsPerTransaction);
      transactions += 1;
    }
    const elapsedMs = performance.now() - startedAt;
    return {
      rowsPerTransaction: options.rowsPerTransaction,
      rowsPerSecond: ((index - startIndex) * 1000) / elapsedMs,
      transactionsPerSecond: (transactions * 1000) / elapsedMs,
    };
  } finally {
    db.close();
    directory.remove();
  }
}
