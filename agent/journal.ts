// The agent's local SQLite journal (DESIGN §4):
// 1. Every event is written to the outbox, with the next sequence number,
//    before it is sent, and deleted only once the control plane acks it.
// 2. The highest term seen is durable before any command of that term runs,
//    so a deposed primary's command is refused even across agent restarts.
// 3. A command id is recorded before it executes: a redelivered command never
//    executes twice.
// 4. Every in-flight job (migration in or out, block commit/copy/pull) is a row of
//    `jobs` from the moment the agent starts or sees it; its JobStarted event is
//    journaled in the same transaction. Resolving a job and journaling its
//    completion are one transaction too, and only an unresolved job resolves:
//    a completion is emitted exactly once, across crashes (DESIGN §9).
// 5. `reported_domains` holds each domain as the last journaled inventory or
//    lifecycle event described it, and the disk chains last reported: recovery
//    compares libvirt with it to find what happened while the agent was down.
import Database from "better-sqlite3";
import type { AgentEvent } from "../common/generated/vigil/v1/AgentEvent.js";
import type { CommandResult } from "../common/generated/vigil/v1/CommandResult.js";
import type { DomainStatus } from "../common/generated/vigil/v1/DomainStatus.js";

/** An event body: exactly one of AgentEvent's oneof fields. */
export type EventBody = Omit<AgentEvent, "seq" | "atMs" | "recovered" | "body">;

export interface JournaledEvent {
  seq: number;
  atMs: number;
  recovered: boolean;
  body: EventBody;
}

/**
 * Schema steps, applied once each in order; `PRAGMA user_version` records how far a file got.
 * Step 1 is the original schema (IF NOT EXISTS: journals written before versioning have it).
 */
const schemaSteps: readonly string[] = [
  `
  CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) STRICT;
  CREATE TABLE IF NOT EXISTS outbox (seq INTEGER PRIMARY KEY, at_ms INTEGER NOT NULL, recovered INTEGER NOT NULL, body TEXT NOT NULL) STRICT;
  CREATE TABLE IF NOT EXISTS commands (command_id TEXT PRIMARY KEY, term INTEGER NOT NULL, received_ms INTEGER NOT NULL, result TEXT) STRICT;
  `,
  // 2: in-flight jobs, the domains as last reported, and pending disk syncs (DESIGN §9).
  `
  CREATE TABLE jobs (
    job_id TEXT PRIMARY KEY,
    vm_uuid TEXT NOT NULL,
    kind TEXT NOT NULL,
    disk TEXT NOT NULL,
    chain_before TEXT NOT NULL,
    top TEXT NOT NULL,
    target TEXT NOT NULL,
    command_id TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('running', 'unknown', 'finished')),
    outcome TEXT NOT NULL,
    detail TEXT NOT NULL,
    started_ms INTEGER NOT NULL,
    updated_ms INTEGER NOT NULL
  ) STRICT;
  CREATE UNIQUE INDEX jobs_unresolved ON jobs (vm_uuid, disk) WHERE state <> 'finished';
  CREATE TABLE reported_domains (uuid TEXT PRIMARY KEY, status TEXT NOT NULL) STRICT;
  CREATE TABLE reported_disks (uuid TEXT PRIMARY KEY, disks TEXT NOT NULL) STRICT;
  CREATE TABLE disk_syncs (vm_uuid TEXT PRIMARY KEY, cause TEXT NOT NULL, requested_ms INTEGER NOT NULL) STRICT;
  `,
];

export const journalSchemaVersion = schemaSteps.length;

export const jobKinds = ["migrate-out", "migrate-in", "commit", "active-commit", "copy", "pull"] as const;
export type JobKind = (typeof jobKinds)[number];
export type JobState = "running" | "unknown" | "finished";
export type JobOutcome = "completed" | "failed" | "aborted";

/** A journaled job: what the agent knew when it started or first saw it, and where it stands. */
export interface JobRecord {
  jobId: string;
  vmUuid: string;
  kind: JobKind;
  /** Disk target of a block job; "" for migrations. */
  disk: string;
  chainBefore: string[];
  top: string;
  target: string;
  commandId: string;
  state: JobState;
  /** "" unless finished. */
  outcome: JobOutcome | "";
  detail: string;
  startedMs: number;
  updatedMs: number;
}

export type NewJob = Pick<JobRecord, "vmUuid" | "kind" | "disk" | "chainBefore" | "top" | "target" | "commandId"> & {
  /**
   * The id to journal it under (a control plane job id); when the journal already holds it (a
   * second command of the same control plane job), ".2", ".3"... is appended. Default: generated.
   */
  jobId?: string;
};

interface JobRow {
  job_id: string;
  vm_uuid: string;
  kind: string;
  disk: string;
  chain_before: string;
  top: string;
  target: string;
  command_id: string;
  state: string;
  outcome: string;
  detail: string;
  started_ms: number;
  updated_ms: number;
}

/** One disk's chain as reported to the control plane. */
export interface ReportedChain {
  target: string;
  files: string[];
}

function isStringList(value: unknown): value is string[] {
  return Array.isArray(value) && value.every((item) => typeof item === "string");
}

/** Validates a row read back (STYLE: validate after reading): a corrupt row must not spread. */
function jobFromRow(row: JobRow): JobRecord {
  const chainBefore: unknown = JSON.parse(row.chain_before);
  if (!isStringList(chainBefore)) throw new Error(`journal job ${row.job_id}: chain_before is not a list of files`);
  if (!(jobKinds as readonly string[]).includes(row.kind)) throw new Error(`journal job ${row.job_id}: unknown kind ${row.kind}`);
  return {
    jobId: row.job_id,
    vmUuid: row.vm_uuid,
    kind: row.kind as JobKind,
    disk: row.disk,
    chainBefore,
    top: row.top,
    target: row.target,
    commandId: row.command_id,
    state: row.state as JobState,
    outcome: row.outcome as JobOutcome | "",
    detail: row.detail,
    startedMs: row.started_ms,
    updatedMs: row.updated_ms,
  };
}

/** The JobStarted body of a journaled job. */
function jobStartedBody(job: JobRecord): EventBody {
  return {
    jobStarted: { jobId: job.jobId, vmUuid: job.vmUuid, kind: job.kind, disk: job.disk, chainBefore: job.chainBefore, top: job.top, target: job.target, commandId: job.commandId },
  };
}

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
    this.migrate();
    this.lastSeqCache = this.metaNumber("last_seq");
  }

  private migrate(): void {
    const current = this.db.pragma("user_version", { simple: true }) as number;
    if (current > journalSchemaVersion) throw new Error(`journal schema version ${current} is newer than this agent supports (${journalSchemaVersion})`);
    for (let version = current; version < journalSchemaVersion; version++) {
      this.db.transaction(() => {
        this.db.exec(schemaSteps[version]!);
        this.db.pragma(`user_version = ${version + 1}`);
      })();
    }
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
    this.rememberReported(body);
    return seq;
  }

  /** Keeps reported_domains in step with what the outbox tells the control plane (invariant 5). */
  private rememberReported(body: EventBody): void {
    if (body.inventory) {
      const uuids = (body.inventory.domains ?? []).map((domain) => domain.uuid ?? "");
      this.db.prepare("DELETE FROM reported_domains WHERE uuid NOT IN (SELECT value FROM json_each(?))").run(JSON.stringify(uuids));
      for (const domain of body.inventory.domains ?? []) this.upsertReportedStatus(domain);
    } else if (body.lifecycle?.domain) {
      this.upsertReportedStatus(body.lifecycle.domain);
    } else if (body.diskChain && !body.diskChain.pending) {
      const disks = (body.diskChain.disks ?? []).map((disk) => ({ target: disk.target ?? "", files: disk.files ?? [] }));
      this.db
        .prepare("INSERT INTO reported_disks (uuid, disks) VALUES (?, ?) ON CONFLICT (uuid) DO UPDATE SET disks = excluded.disks")
        .run(body.diskChain.vmUuid ?? "", JSON.stringify(disks));
    }
  }

  private upsertReportedStatus(domain: DomainStatus): void {
    this.db
      .prepare("INSERT INTO reported_domains (uuid, status) VALUES (?, ?) ON CONFLICT (uuid) DO UPDATE SET status = excluded.status")
      .run(domain.uuid ?? "", JSON.stringify(domain));
  }

  /** Each domain as last reported, by UUID. */
  reportedDomains(): Map<string, DomainStatus> {
    const rows = this.db.prepare("SELECT uuid, status FROM reported_domains ORDER BY uuid").all() as { uuid: string; status: string }[];
    return new Map(rows.map((row) => [row.uuid, JSON.parse(row.status) as DomainStatus]));
  }

  /** The disk chains last reported for a domain, or null when none were. */
  reportedDisks(uuid: string): ReportedChain[] | null {
    const row = this.db.prepare("SELECT disks FROM reported_disks WHERE uuid = ?").get(uuid) as { disks: string } | undefined;
    if (row === undefined) return null;
    const disks: unknown = JSON.parse(row.disks);
    if (!Array.isArray(disks) || !disks.every((disk: { target?: unknown; files?: unknown }) => typeof disk?.target === "string" && isStringList(disk.files))) {
      throw new Error(`journal: reported disks of ${uuid} are malformed`);
    }
    return disks as ReportedChain[];
  }

  // ---- jobs (invariant 4) ----

  /**
   * Journals a job and its JobStarted event in one transaction. Returns null when an unresolved job
   * already holds that VM's disk (a migration uses disk ""): one job per disk at a time.
   */
  beginJob(job: NewJob, atMs: number, recovered = false): JobRecord | null {
    return this.db.transaction((): JobRecord | null => {
      if (this.unresolvedJobOn(job.vmUuid, job.disk) !== null) return null;
      const number = this.metaNumber("last_job") + 1;
      this.setMeta("last_job", number);
      const prefix = job.kind.startsWith("migrate") ? "mig" : "bj";
      const { jobId: requestedId, ...fields } = job;
      const jobId = requestedId === undefined || requestedId === "" ? `${prefix}-${job.vmUuid.slice(0, 8)}-${job.disk === "" ? "vm" : job.disk}-${number}` : this.freeJobId(requestedId);
      const record: JobRecord = { ...fields, jobId, state: "running", outcome: "", detail: "", startedMs: atMs, updatedMs: atMs };
      this.db
        .prepare(
          `INSERT INTO jobs (job_id, vm_uuid, kind, disk, chain_before, top, target, command_id, state, outcome, detail, started_ms, updated_ms)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'running', '', '', ?, ?)`,
        )
        .run(record.jobId, job.vmUuid, job.kind, job.disk, JSON.stringify(job.chainBefore), job.top, job.target, job.commandId, atMs, atMs);
      this.appendInTransaction(jobStartedBody(record), atMs, recovered);
      return record;
    })();
  }

  /** `requested`, or the first of `requested.2`, `requested.3`... the journal does not hold. */
  private freeJobId(requested: string): string {
    if (this.job(requested) === null) return requested;
    for (let attempt = 2; ; attempt++) {
      const candidate = `${requested}.${attempt}`;
      if (this.job(candidate) === null) return candidate;
    }
  }

  unresolvedJobOn(vmUuid: string, disk: string): JobRecord | null {
    const row = this.db.prepare("SELECT * FROM jobs WHERE vm_uuid = ? AND disk = ? AND state <> 'finished'").get(vmUuid, disk) as JobRow | undefined;
    return row === undefined ? null : jobFromRow(row);
  }

  job(jobId: string): JobRecord | null {
    const row = this.db.prepare("SELECT * FROM jobs WHERE job_id = ?").get(jobId) as JobRow | undefined;
    return row === undefined ? null : jobFromRow(row);
  }

  /** Jobs still running or unknown, oldest first. */
  unresolvedJobs(): JobRecord[] {
    return (this.db.prepare("SELECT * FROM jobs WHERE state <> 'finished' ORDER BY started_ms, job_id").all() as JobRow[]).map(jobFromRow);
  }

  /**
   * Resolves an unresolved job and journals its JobFinished in one transaction. Returns false (and
   * journals nothing) when the job is unknown to the journal or already finished: exactly once.
   */
  finishJob(jobId: string, end: { outcome: JobOutcome; detail: string }, atMs: number, recovered: boolean): boolean {
    return this.db.transaction((): boolean => {
      const job = this.job(jobId);
      if (job === null || job.state === "finished") return false;
      this.db.prepare("UPDATE jobs SET state = 'finished', outcome = ?, detail = ?, updated_ms = ? WHERE job_id = ?").run(end.outcome, end.detail, atMs, jobId);
      this.appendInTransaction({ jobFinished: { jobId, vmUuid: job.vmUuid, kind: job.kind, disk: job.disk, outcome: end.outcome, error: end.detail } }, atMs, recovered);
      return true;
    })();
  }

  /**
   * Marks a job unknown (journaling a JobFinished with outcome "unknown"), or a previously unknown
   * job running again (journaling a JobStarted). Returns false when nothing changed.
   */
  setJobState(jobId: string, state: "running" | "unknown", detail: string, atMs: number, recovered: boolean): boolean {
    return this.db.transaction((): boolean => {
      const job = this.job(jobId);
      if (job === null || job.state === "finished" || job.state === state) return false;
      this.db.prepare("UPDATE jobs SET state = ?, detail = ?, updated_ms = ? WHERE job_id = ?").run(state, detail, atMs, jobId);
      const body: EventBody =
        state === "unknown"
          ? { jobFinished: { jobId, vmUuid: job.vmUuid, kind: job.kind, disk: job.disk, outcome: "unknown", error: detail } }
          : jobStartedBody(job);
      this.appendInTransaction(body, atMs, recovered);
      return true;
    })();
  }

  /** Drops finished jobs older than `beforeMs` so the table stays bounded. */
  forgetJobsBefore(beforeMs: number): void {
    this.db.prepare("DELETE FROM jobs WHERE state = 'finished' AND updated_ms < ?").run(beforeMs);
  }

  // ---- disk syncs: requests survive a restart until they succeed ----

  requestDiskSync(vmUuid: string, cause: string, atMs: number): void {
    this.db.prepare("INSERT INTO disk_syncs (vm_uuid, cause, requested_ms) VALUES (?, ?, ?) ON CONFLICT (vm_uuid) DO NOTHING").run(vmUuid, cause, atMs);
  }

  pendingDiskSyncs(): { vmUuid: string; cause: string; requestedMs: number }[] {
    return this.db.prepare("SELECT vm_uuid AS vmUuid, cause, requested_ms AS requestedMs FROM disk_syncs ORDER BY requested_ms, vm_uuid").all() as { vmUuid: string; cause: string; requestedMs: number }[];
  }

  /** Journals a disk-chain report; a synced one also completes the VM's pending sync request. */
  reportDiskChain(report: NonNullable<EventBody["diskChain"]>, atMs: number, recovered: boolean): number {
    return this.db.transaction(() => {
      if (!report.pending) this.db.prepare("DELETE FROM disk_syncs WHERE vm_uuid = ?").run(report.vmUuid ?? "");
      return this.appendInTransaction({ diskChain: report }, atMs, recovered);
    })();
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
