// The agent's local SQLite journal (DESIGN §4):
// 1. Every event is written to the outbox, with the next sequence number,
//    before it is sent, and deleted only once the control plane acks it.
// 2. The highest term seen is durable before any command of that term runs,
//    so a deposed primary's command is refused even across agent restarts.
// 3. A command id is recorded before it executes: a redelivered command never
//    executes twice.
import Database from "better-sqlite3";
import type { AgentEvent } from "../common/generated/vigil/v1/AgentEvent.js";
import type { CommandResult } from "../common/generated/vigil/v1/CommandResult.js";

/** An event body: exactly one of AgentEvent's oneof fields. */
export type EventBody = Omit<AgentEvent, "seq" | "atMs" | "recovered" | "body">;

export interface JournaledEvent {
  seq: number;
  atMs: number;
  recovered: boolean;
  body: EventBody;
}

const schema = `
  CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) STRICT;
  CREATE TABLE IF NOT EXISTS outbox (seq INTEGER PRIMARY KEY, at_ms INTEGER NOT NULL, recovered INTEGER NOT NULL, body TEXT NOT NULL) STRICT;
  CREATE TABLE IF NOT EXISTS commands (command_id TEXT PRIMARY KEY, term INTEGER NOT NULL, received_ms INTEGER NOT NULL, result TEXT) STRICT;
`;

/**
 * Test-only faults that make the journal deliberately unsafe, so that the simulator (test/sim) can
 * prove its checkers catch them. Never set in production.
 */
export const JournalInjectedBug = {
  /** Admit a command whose term is below the highest term seen (no fencing). */
  acceptStaleTerm: "agent-accepts-stale-term",
} as const;
export type JournalInjectedBug = (typeof JournalInjectedBug)[keyof typeof JournalInjectedBug];

export interface JournalOptions {
  synchronous?: "FULL" | "NORMAL";
  /** Test only: see JournalInjectedBug. */
  injectedBug?: JournalInjectedBug | null;
}

export type CommandAdmission =
  | { kind: "execute" }
  | { kind: "stale"; highestTerm: number }
  | { kind: "duplicate"; previousResult: CommandResult | null };

export class Journal {
  private readonly db: Database.Database;
  private lastSeqCache: number;

  /**
   * Opens the journal at `path`, or over an open database (the simulator keeps an in-memory one
   * across simulated agent crashes, as a file survives a real one).
   */
  constructor(
    path: string | Database.Database,
    private readonly options: JournalOptions = {},
  ) {
    this.db = typeof path === "string" ? new Database(path) : path;
    this.db.pragma("journal_mode = WAL");
    this.db.pragma(`synchronous = ${options.synchronous ?? "FULL"}`);
    this.db.exec(schema);
    this.lastSeqCache = this.metaNumber("last_seq");
  }

  private metaNumber(key: string): number {
    const row = this.db.prepare("SELECT value FROM meta WHERE key = ?").get(key) as { value: string } | undefined;
    return row === undefined ? 0 : Number(row.value);
  }

  private setMeta(key: string, value: number): void {
    this.db.prepare("INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value").run(key, String(value));
  }

  lastSeq(): number {
    return this.lastSeqCache;
  }

  lastAckedSeq(): number {
    return this.metaNumber("last_acked_seq");
  }

  highestTerm(): number {
    return this.metaNumber("highest_term");
  }

  /** Journals an event and returns its sequence number. */
  append(body: EventBody, atMs: number, recovered = false): number {
    return this.db.transaction(() => this.appendInTransaction(body, atMs, recovered))();
  }

  private appendInTransaction(body: EventBody, atMs: number, recovered: boolean): number {
    const seq = this.lastSeqCache + 1;
    this.db.prepare("INSERT INTO outbox (seq, at_ms, recovered, body) VALUES (?, ?, ?, ?)").run(seq, atMs, recovered ? 1 : 0, JSON.stringify(body));
    this.setMeta("last_seq", seq);
    this.lastSeqCache = seq;
    return seq;
  }

  /** Events after `afterSeq`, oldest first, at most `limit`. */
  pending(afterSeq: number, limit: number): JournaledEvent[] {
    const rows = this.db
      .prepare("SELECT seq, at_ms AS atMs, recovered, body FROM outbox WHERE seq > ? ORDER BY seq LIMIT ?")
      .all(afterSeq, limit) as { seq: number; atMs: number; recovered: number; body: string }[];
    return rows.map((row) => ({ seq: row.seq, atMs: row.atMs, recovered: row.recovered !== 0, body: JSON.parse(row.body) as EventBody }));
  }

  outboxSize(): number {
    return (this.db.prepare("SELECT COUNT(*) AS count FROM outbox").get() as { count: number }).count;
  }

  /** The control plane committed everything up to `seq`: drop it from the outbox. */
  acknowledge(seq: number): void {
    // An ack beyond what we journaled is the control plane's mistake: never let it drop unsent events.
    seq = Math.min(seq, this.lastSeqCache);
    if (seq <= this.lastAckedSeq()) return;
    this.db.transaction(() => {
      this.db.prepare("DELETE FROM outbox WHERE seq <= ?").run(seq);
      this.setMeta("last_acked_seq", seq);
    })();
  }

  /**
   * The control plane has applied up to `appliedSeq` for this host. If that is
   * beyond our own last sequence, our journal was lost or replaced: continue
   * numbering after it, or every new event would be skipped as already applied.
   */
  adoptAppliedSeq(appliedSeq: number): void {
    if (appliedSeq <= this.lastSeqCache) return this.acknowledge(appliedSeq);
    this.db.transaction(() => {
      this.db.prepare("DELETE FROM outbox").run();
      this.setMeta("last_seq", appliedSeq);
      this.setMeta("last_acked_seq", appliedSeq);
    })();
    this.lastSeqCache = appliedSeq;
  }

  /** Records a term seen from the control plane (Welcome); never lowers it. */
  raiseTerm(term: number): void {
    if (term > this.highestTerm()) this.setMeta("highest_term", term);
  }

  /**
   * Decides, durably, whether a command runs: a stale term is refused, a known
   * command id is a duplicate, otherwise the term and id are recorded first.
   */
  admitCommand(commandId: string, term: number, nowMs: number): CommandAdmission {
    return this.db.transaction((): CommandAdmission => {
      const highestTerm = this.highestTerm();
      if (term < highestTerm && this.options.injectedBug !== JournalInjectedBug.acceptStaleTerm) return { kind: "stale", highestTerm };
      const seen = this.db.prepare("SELECT result FROM commands WHERE command_id = ?").get(commandId) as { result: string | null } | undefined;
      if (seen !== undefined) return { kind: "duplicate", previousResult: seen.result === null ? null : (JSON.parse(seen.result) as CommandResult) };
      if (term > highestTerm) this.setMeta("highest_term", term);
      this.db.prepare("INSERT INTO commands (command_id, term, received_ms) VALUES (?, ?, ?)").run(commandId, term, nowMs);
      return { kind: "execute" };
    })();
  }

  /** Stores a command's result and journals its result event in one transaction. */
  completeCommand(result: CommandResult, atMs: number): number {
    return this.db.transaction(() => {
      this.db.prepare("UPDATE commands SET result = ? WHERE command_id = ?").run(JSON.stringify(result), result.commandId ?? "");
      return this.appendInTransaction({ commandResult: result }, atMs, false);
    })();
  }

  /** Drops command ids older than `beforeMs` so the table stays bounded. */
  forgetCommandsBefore(beforeMs: number): void {
    this.db.prepare("DELETE FROM commands WHERE received_ms < ? AND result IS NOT NULL").run(beforeMs);
  }

  close(): void {
    this.db.close();
  }
}
