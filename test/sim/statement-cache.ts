// The simulator's SQLite handles reuse prepared statements. Production code prepares each query on
// every call (cheap in a daemon polling a few times a second, but preparing is most of the
// simulator's SQLite time). A statement is reusable once it finished, which every production
// query does before the next one of the same text starts; SQLite re-prepares a cached statement by
// itself when the schema changes (a snapshot's ATTACH).
import type Database from "better-sqlite3";

export function cachePreparedStatements(db: Database.Database): void {
  const cache = new Map<string, Database.Statement>();
  const prepare = db.prepare.bind(db);
  db.prepare = ((source: string) => {
    let statement = cache.get(source);
    if (statement === undefined) {
      statement = prepare(source);
      cache.set(source, statement);
    }
    return statement;
  }) as typeof db.prepare;
}
