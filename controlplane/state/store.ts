// A replica's SQLite file: opened in WAL with synchronous=FULL (DESIGN §3),
// migrated, and read through typed queries. Writes happen only in apply.ts,
// inside the transaction that also advances applied_index.
import Database from "better-sqlite3";
import { configKeys } from "./config-keys.js";
import { migrate } from "./schema.js";
import { jobKinds, jobStates, type FallbackStage, type JobKind, type JobState } from "./commands.js";
import { aliveDomainStatesSql } from "./domain-states.js";

export type Db = Database.Database;

export interface HostRecord {
  id: string;
  state: string;
  bootId: string;
  agentVersion: string;
  migrationUri: string;
  appliedSeq: number;
  /** How many agent events were applied for this host: equals appliedSeq when none was applied twice. */
  eventsApplied: number;
  maintenance: boolean;
  cpus: number;
  memoryBytes: number;
  registeredMs: number;
  liveness: string;
  livenessReason: string;
  livenessSinceMs: number;
  missedKeepalives: number;
  fenceAttempts: number;
  selfFenceMode: string;
  selfFenceTimeoutMs: number;
}

/** One VM under an in-flight operation (DESIGN §7); orphanedAtMs is set once its term's primary left. */
export interface SkipTraceRecord {
  vmUuid: string;
  term: number;
  operation: string;
  commandId: string;
  host: string;
  sinceMs: number;
  orphanedAtMs: number | null;
}

export interface VmRecord {
  uuid: string;
  name: string;
  host: string | null;
  state: string;
  reason: string;
  vcpus: number;
  memoryBytes: number;
  restart: string;
  priority: number;
  limit: string[];
  selector: string;
  autorestart: boolean;
  maxRestarts: number;
  desiredState: string;
  lastHost: string;
  updatedMs: number;
  haState: string;
  haReason: string;
  /** Committed times (atMs) of HA restarts, oldest first: the max-restarts window counts them. */
  restartHistory: number[];
  migrationFallback: boolean;
}

/** The resources of the VMs a host runs, or is restarting (StateReader.provisionedByHost). */
export interface HostProvisioned {
  memoryBytes: number;
  vcpus: number;
  vmCount: number;
}

/** The fields of a VM that an agent's reports change. */
export type ReportedVm = Pick<VmRecord, "uuid" | "name" | "host" | "state" | "reason" | "vcpus" | "memoryBytes">;
/** A job an agent journaled for a VM (DESIGN §9), as the control plane last heard of it. */
export interface VmJobRecord {
  host: string;
  jobId: string;
  vmUuid: string;
  kind: string;
  disk: string;
  state: "running" | "finished" | "unknown";
  outcome: string;
  detail: string;
  recovered: boolean;
  chainBefore: string[];
  top: string;
  target: string;
  commandId: string;
  /** A host other than `host` that reported the VM while this job was unresolved. */
  movedTo: string;
  /** The host the primary asked to synchronize the VM's disks for this job. */
  syncRequestedOn: string;
  unknownSinceMs: number;
  escalated: boolean;
  startedMs: number;
  updatedMs: number;
}

/** A control-plane orchestration (DESIGN §8): a migration, flush or unflush, or a flush's shutdown/start step. */
export interface JobRecord {
  id: string;
  kind: JobKind;
  vmUuid: string;
  /** migrate: the source; flush/unflush: the host; shutdown/start steps: the VM's host. */
  host: string;
  target: string;
  state: JobState;
  phase: string;
  error: string;
  mode: string;
  forceLive: boolean;
  parent: string;
  originState: string;
  fallbackStage: FallbackStage;
  /** The command the job's current step sent (or "" before the first), and the term that sent it. */
  commandId: string;
  commandTerm: number;
  processedBytes: number;
  remainingBytes: number;
  totalBytes: number;
  downtimeMs: number;
  adjudicationTrigger: string;
  /** 0 until adjudication starts; the recheck bound counts from here (a new primary continues it). */
  adjudicationStartedMs: number;
  nextRecheckMs: number;
  recheckCount: number;
  cancelRequested: boolean;
  deadlineMs: number;
  startedMs: number;
  updatedMs: number;
  finishedMs: number;
}

interface JobRow {
  id: string;
  kind: string;
  vm_uuid: string;
  host: string;
  target: string;
  state: string;
  phase: string;
  error: string;
  mode: string;
  force_live: number;
  parent: string;
  origin_state: string;
  fallback_stage: string;
  command_id: string;
  command_term: number;
  processed_bytes: number;
  remaining_bytes: number;
  total_bytes: number;
  downtime_ms: number;
  adjudication_trigger: string;
  adjudication_started_ms: number;
  next_recheck_ms: number;
  recheck_count: number;
  cancel_requested: number;
  deadline_ms: number;
  started_ms: number;
  updated_ms: number;
  finished_ms: number;
}

function jobFromRow(row: JobRow): JobRecord {
  if (!(jobKinds as readonly string[]).includes(row.kind)) throw new Error(`job ${row.id}: kind ${row.kind}`);
  if (!(jobStates as readonly string[]).includes(row.state)) throw new Error(`job ${row.id}: state ${row.state}`);
  return {
    id: row.id,
    kind: row.kind as JobKind,
    vmUuid: row.vm_uuid,
    host: row.host,
    target: row.target,
    state: row.state as JobState,
    phase: row.phase,
    error: row.error,
    mode: row.mode,
    forceLive: row.force_live !== 0,
    parent: row.parent,
    originState: row.origin_state,
    fallbackStage: row.fallback_stage as FallbackStage,
    commandId: row.command_id,
    commandTerm: row.command_term,
    processedBytes: row.processed_bytes,
    remainingBytes: row.remaining_bytes,
    totalBytes: row.total_bytes,
    downtimeMs: row.downtime_ms,
    adjudicationTrigger: row.adjudication_trigger,
    adjudicationStartedMs: row.adjudication_started_ms,
    nextRecheckMs: row.next_recheck_ms,
    recheckCount: row.recheck_count,
    cancelRequested: row.cancel_requested !== 0,
    deadlineMs: row.deadline_ms,
    startedMs: row.started_ms,
    updatedMs: row.updated_ms,
    finishedMs: row.finished_ms,
  };
}

export interface JobFilter {
  vmUuid?: string;
  /** Source, target or flushed host. */
  host?: string;
  limit: number;
}

export interface VmDiskRecord {
  target: string;
  host: string;
  files: string[];
  syncedMs: number;
}

export interface VmDiskSyncRecord {
  host: string;
  state: "pending" | "synced" | "failed";
  error: string;
  attempts: number;
  updatedMs: number;
}

interface VmJobRow {
  host: string;
  job_id: string;
  vm_uuid: string;
  kind: string;
  disk: string;
  state: string;
  outcome: string;
  detail: string;
  recovered: number;
  chain_before: string;
  top: string;
  target: string;
  command_id: string;
  moved_to: string;
  sync_requested_on: string;
  unknown_since_ms: number;
  escalated: number;
  started_ms: number;
  updated_ms: number;
}

function stringList(text: string, what: string): string[] {
  const value: unknown = JSON.parse(text);
  if (!Array.isArray(value) || !value.every((entry) => typeof entry === "string")) throw new Error(`${what} is not a list of strings`);
  return value;
}

function vmJobFromRow(row: VmJobRow): VmJobRecord {
  if (row.state !== "running" && row.state !== "finished" && row.state !== "unknown") throw new Error(`vm job ${row.job_id}: state ${row.state}`);
  return {
    host: row.host,
    jobId: row.job_id,
    vmUuid: row.vm_uuid,
    kind: row.kind,
    disk: row.disk,
    state: row.state,
    outcome: row.outcome,
    detail: row.detail,
    recovered: row.recovered !== 0,
    chainBefore: stringList(row.chain_before, `vm job ${row.job_id} chain_before`),
    top: row.top,
    target: row.target,
    commandId: row.command_id,
    movedTo: row.moved_to,
    syncRequestedOn: row.sync_requested_on,
    unknownSinceMs: row.unknown_since_ms,
    escalated: row.escalated !== 0,
    startedMs: row.started_ms,
    updatedMs: row.updated_ms,
  };
}

export interface ClusterEventRecord {
  index: number;
  logIndex: number;
  atMs: number;
  term: number;
  kind: string;
  host: string;
  vm: string;
  job: string;
  message: string;
}

export interface EventFilter {
  host?: string;
  vm?: string;
  sinceMs?: number;
  afterIndex?: number;
  limit: number;
}

export interface OpenOptions {
  path: string;
  /** "FULL" unless a benchmark or test says otherwise. */
  synchronous?: "FULL" | "NORMAL" | "OFF";
}

export function openDatabase(options: OpenOptions): Db {
  const db = new Database(options.path);
  db.pragma("journal_mode = WAL");
  db.pragma(`synchronous = ${options.synchronous ?? "FULL"}`);
  db.pragma("foreign_keys = ON");
  migrate(db);
  return db;
}

/** The columns every host read selects, in the order hostFromRow reads them (arrays, as for VMs below). */
const hostColumns =
  "id, state, boot_id, agent_version, migration_uri, applied_seq, events_applied, maintenance, cpus, memory_bytes, registered_ms, liveness, liveness_reason, liveness_since_ms, missed_keepalives, fence_attempts, self_fence_mode, self_fence_timeout_ms";
type HostRow = [
  id: string,
  state: string,
  bootId: string,
  agentVersion: string,
  migrationUri: string,
  appliedSeq: number,
  eventsApplied: number,
  maintenance: number,
  cpus: number,
  memoryBytes: number,
  registeredMs: number,
  liveness: string,
  livenessReason: string,
  livenessSinceMs: number,
  missedKeepalives: number,
  fenceAttempts: number,
  selfFenceMode: string,
  selfFenceTimeoutMs: number,
];

/**
 * The columns every VM read selects, in the order vmFromRow reads them. Read as arrays
 * (better-sqlite3 raw mode): building a 20-key object per row cost half of reading a VM, and the
 * primary's HA step reads every VM waiting for a restart each time it plans.
 */
const vmColumns =
  "uuid, name, host, state, reason, vcpus, memory_bytes, restart, priority, limit_hosts, selector, autorestart, max_restarts, desired_state, last_host, updated_ms, ha_state, ha_reason, restart_history, migration_fallback";
type VmRow = [
  uuid: string,
  name: string,
  host: string | null,
  state: string,
  reason: string,
  vcpus: number,
  memoryBytes: number,
  restart: string,
  priority: number,
  limitHosts: string,
  selector: string,
  autorestart: number,
  maxRestarts: number,
  desiredState: string,
  lastHost: string,
  updatedMs: number,
  haState: string,
  haReason: string,
  restartHistory: string,
  migrationFallback: number,
];

function hostFromRow(row: HostRow): HostRecord {
  const [id, state, bootId, agentVersion, migrationUri, appliedSeq, eventsApplied, maintenance, cpus, memoryBytes, registeredMs, liveness, livenessReason, livenessSinceMs, missedKeepalives, fenceAttempts, selfFenceMode, selfFenceTimeoutMs] = row;
  return {
    id,
    state,
    bootId,
    agentVersion,
    migrationUri,
    appliedSeq,
    eventsApplied,
    maintenance: maintenance !== 0,
    cpus,
    memoryBytes,
    registeredMs,
    liveness,
    livenessReason,
    livenessSinceMs,
    missedKeepalives,
    fenceAttempts,
    selfFenceMode,
    selfFenceTimeoutMs,
  };
}

/** A JSON list column; "[]", what almost every row holds, without the parser. */
function jsonList(text: string): unknown {
  return text === "[]" ? [] : JSON.parse(text);
}

function vmFromRow(row: VmRow): VmRecord {
  const [uuid, name, host, state, reason, vcpus, memoryBytes, restart, priority, limitHosts, selector, autorestart, maxRestarts, desiredState, lastHost, updatedMs, haState, haReason, restartHistory, migrationFallback] = row;
  const limit = jsonList(limitHosts);
  // Validate after reading back, as STYLE asks: a corrupt row must not spread.
  if (!Array.isArray(limit) || !limit.every((entry) => typeof entry === "string")) {
    throw new Error(`vm ${uuid}: limit_hosts is not a list of host ids`);
  }
  const history = jsonList(restartHistory);
  if (!Array.isArray(history) || !history.every((entry) => typeof entry === "number")) {
    throw new Error(`vm ${uuid}: restart_history is not a list of times`);
  }
  return {
    uuid,
    name,
    host,
    state,
    reason,
    vcpus,
    memoryBytes,
    restart,
    priority,
    limit,
    selector,
    autorestart: autorestart !== 0,
    maxRestarts,
    desiredState,
    lastHost,
    updatedMs,
    haState,
    haReason,
    restartHistory: history,
    migrationFallback: migrationFallback !== 0,
  };
}

/** StateReader.vmsNeedingHa's query; exported so a test can check SQLite still plans it through the partial indexes. */
const needsHaClause = "((state <> 'running' AND state <> 'paused' AND state <> 'blocked' AND state <> 'pmsuspended') OR ha_state <> '')";
// UNION ALL with the second part excluding the first's rows: no temporary b-tree to remove duplicates (a third of the read's cost).
// Ordered as the planner takes them (restart-planner.ts restartOrder), as the partial index holds them: a page stops early.
export const vmsNeedingHaSql = `SELECT ${vmColumns} FROM vms WHERE ${needsHaClause}
  UNION ALL
  SELECT ${vmColumns} FROM vms WHERE host IN (SELECT id FROM hosts WHERE liveness <> 'alive') AND NOT ${needsHaClause}
  ORDER BY priority DESC, name, uuid LIMIT ?`;

/**
 * Prepared statements by SQL text: preparing costs far more than running a
 * simple statement, and apply runs the same few statements for every event.
 */
export class StatementCache {
  private readonly statements = new Map<string, Database.Statement>();

  constructor(private readonly db: Db) {}

  get(sql: string): Database.Statement {
    let statement = this.statements.get(sql);
    if (statement === undefined) {
      statement = this.db.prepare(sql);
      this.statements.set(sql, statement);
    }
    return statement;
  }
}

/** Read-only queries over the replicated tables. */
export class StateReader {
  private readonly statements: StatementCache;

  constructor(readonly db: Db) {
    this.statements = new StatementCache(db);
  }

  private statement(sql: string): Database.Statement {
    return this.statements.get(sql);
  }

  appliedIndex(): number {
    const row = this.statement("SELECT value FROM meta WHERE key = 'applied_index'").get() as { value: string } | undefined;
    return row === undefined ? 0 : Number(row.value);
  }

  meta(key: string): string | undefined {
    const row = this.statement("SELECT value FROM meta WHERE key = ?").get(key) as { value: string } | undefined;
    return row?.value;
  }

  listHosts(): HostRecord[] {
    // The liveness step reads every host every tick: 10,000 hosts as arrays cost a third of what they did as objects.
    return (this.statement(`SELECT ${hostColumns} FROM hosts ORDER BY id`).raw(true).all() as HostRow[]).map(hostFromRow);
  }

  host(id: string): HostRecord | undefined {
    const row = this.statement(`SELECT ${hostColumns} FROM hosts WHERE id = ?`).raw(true).get(id) as HostRow | undefined;
    return row === undefined ? undefined : hostFromRow(row);
  }

  /** VMs read through `sql`, which selects vmColumns. */
  private vmRows(sql: string, ...parameters: (string | number)[]): VmRecord[] {
    return (this.statement(sql).raw(true).all(...parameters) as VmRow[]).map(vmFromRow);
  }

  listVms(host?: string): VmRecord[] {
    return host === undefined
      ? this.vmRows(`SELECT ${vmColumns} FROM vms ORDER BY name, uuid`)
      : this.vmRows(`SELECT ${vmColumns} FROM vms WHERE host = ? ORDER BY name, uuid`, host);
  }

  /** What an agent reports of the VMs `host` owns, by UUID, in no particular order (apply's inventory path: one query per host). */
  vmsOwnedBy(host: string): Map<string, ReportedVm> {
    const rows = this.statement("SELECT uuid, name, host, state, reason, vcpus, memory_bytes AS memoryBytes FROM vms WHERE host = ?").all(host) as ReportedVm[];
    return new Map(rows.map((row) => [row.uuid, row]));
  }

  vmByUuid(uuid: string): VmRecord | undefined {
    return this.vmRows(`SELECT ${vmColumns} FROM vms WHERE uuid = ?`, uuid.toLowerCase())[0];
  }

  /** VMs whose name or UUID is `nameOrUuid`: more than one means the name is ambiguous. */
  findVms(nameOrUuid: string): VmRecord[] {
    return this.vmRows(`SELECT ${vmColumns} FROM vms WHERE uuid = ? OR name = ? ORDER BY uuid`, nameOrUuid.toLowerCase(), nameOrUuid);
  }

  /**
   * The VMs the HA planner may act on (restart-planner.ts), the first `limit` (all when -1) in the
   * order it takes them (priority, name, uuid): those not reported alive, those with an HA state
   * (pending, restarting, failed), and every VM of a host that is not alive. Any other VM runs on
   * a live host with nothing pending, so the planner would leave it alone: reading only these
   * keeps the primary's tick independent of how many VMs run. Partial indexes of schema step 5
   * hold just these rows; keep the clauses identical.
   */
  vmsNeedingHa(limit = -1): VmRecord[] {
    return this.vmRows(vmsNeedingHaSql, limit);
  }

  /**
   * The VMs owned by, or last on, one of `hosts`, and those `uuids` name, ordered as listVms:
   * what flushes and unflushes of those hosts concern (flush-planner.ts FlushPlanInput.vms). One
   * scan in SQLite instead of every VM built in JavaScript each tick of a flush.
   */
  vmsConcerning(hosts: readonly string[], uuids: readonly string[]): VmRecord[] {
    const hostList = JSON.stringify(hosts);
    return this.vmRows(
      `SELECT ${vmColumns} FROM vms
       WHERE host IN (SELECT value FROM json_each(?)) OR last_host IN (SELECT value FROM json_each(?)) OR uuid IN (SELECT value FROM json_each(?))
       ORDER BY name, uuid`,
      hostList,
      hostList,
      JSON.stringify(uuids),
    );
  }

  /** The VMs reported alive again while HA still holds a state for them (pending, restarting): the planner clears it. */
  vmsBackWithHaState(): VmRecord[] {
    return this.vmRows(
      `SELECT ${vmColumns} FROM vms WHERE ${needsHaClause} AND ha_state IN ('pending', 'restarting') AND state IN (${aliveDomainStatesSql})`,
    );
  }


  /**
   * What each host's VMs take, as placement counts it (placement.ts "provisioned"): VMs reported
   * alive there, and VMs being restarted there (their start is on its way). Hosts without such
   * VMs are absent.
   */
  provisionedByHost(): Map<string, HostProvisioned> {
    const rows = this.statement(
      `SELECT host, SUM(memory_bytes) AS memoryBytes, SUM(vcpus) AS vcpus, COUNT(*) AS vmCount FROM vms
       WHERE host IS NOT NULL AND (state IN (${aliveDomainStatesSql}) OR ha_state = 'restarting')
       GROUP BY host`,
    ).all() as ({ host: string } & HostProvisioned)[];
    return new Map(rows.map((row) => [row.host, { memoryBytes: row.memoryBytes, vcpus: row.vcpus, vmCount: row.vmCount }]));
  }

  vmCountByHost(): Map<string, number> {
    const rows = this.statement(`SELECT host, COUNT(*) AS count FROM vms WHERE host IS NOT NULL AND state IN (${aliveDomainStatesSql}) GROUP BY host`)
      .all() as { host: string; count: number }[];
    return new Map(rows.map((row) => [row.host, row.count]));
  }

  listEvents(filter: EventFilter): ClusterEventRecord[] {
    const clauses: string[] = ["idx > ?"];
    const parameters: (string | number)[] = [filter.afterIndex ?? 0];
    if (filter.host) {
      clauses.push("host = ?");
      parameters.push(filter.host);
    }
    if (filter.vm) {
      clauses.push("vm = ?");
      parameters.push(filter.vm);
    }
    if (filter.sinceMs) {
      clauses.push("at_ms >= ?");
      parameters.push(filter.sinceMs);
    }
    parameters.push(filter.limit);
    const sql = `SELECT idx AS "index", log_index AS logIndex, at_ms AS atMs, term, kind, host, vm, job, message
      FROM cluster_events WHERE ${clauses.join(" AND ")} ORDER BY idx LIMIT ?`;
    return this.statement(sql).all(...parameters) as ClusterEventRecord[];
  }

  /** Every config key with its stored value or its default. */
  config(): Map<string, string> {
    const stored = new Map(
      (this.statement("SELECT key, value FROM config").all() as { key: string; value: string }[]).map((row) => [row.key, row.value]),
    );
    return new Map(configKeys.map((entry) => [entry.key, stored.get(entry.key) ?? entry.defaultValue]));
  }

  setting(key: string): string | undefined {
    const row = this.statement("SELECT value FROM settings WHERE key = ?").get(key) as { value: string } | undefined;
    return row?.value;
  }

  clusterMaintenance(): boolean {
    return this.setting("cluster_maintenance") === "on";
  }

  /** The replicated address book of control-plane members. */
  memberAddresses(): Map<string, string> {
    const rows = this.statement("SELECT id, address FROM members ORDER BY id").all() as { id: string; address: string }[];
    return new Map(rows.map((row) => [row.id, row.address]));
  }

  /** The skip-trace set, live and orphaned entries, by VM uuid. */
  skipTrace(): Map<string, SkipTraceRecord> {
    const rows = this.statement(
      `SELECT vm_uuid AS vmUuid, term, operation, command_id AS commandId, host, since_ms AS sinceMs, orphaned_at_ms AS orphanedAtMs
       FROM skip_trace ORDER BY vm_uuid`,
    ).all() as SkipTraceRecord[];
    return new Map(rows.map((row) => [row.vmUuid, row]));
  }

  skipTraceOf(vmUuid: string): SkipTraceRecord | undefined {
    return this.statement(
      `SELECT vm_uuid AS vmUuid, term, operation, command_id AS commandId, host, since_ms AS sinceMs, orphaned_at_ms AS orphanedAtMs
       FROM skip_trace WHERE vm_uuid = ?`,
    ).get(vmUuid) as SkipTraceRecord | undefined;
  }

  /** A VM's jobs, newest first. */
  vmJobs(vmUuid: string): VmJobRecord[] {
    return (this.statement("SELECT * FROM vm_jobs WHERE vm_uuid = ? ORDER BY started_ms DESC, host, job_id DESC").all(vmUuid.toLowerCase()) as VmJobRow[]).map(vmJobFromRow);
  }

  vmJob(host: string, jobId: string): VmJobRecord | undefined {
    const row = this.statement("SELECT * FROM vm_jobs WHERE host = ? AND job_id = ?").get(host, jobId) as VmJobRow | undefined;
    return row === undefined ? undefined : vmJobFromRow(row);
  }

  /** Every job still running or unknown, in a stable order. */
  unresolvedJobs(): VmJobRecord[] {
    return (this.statement("SELECT * FROM vm_jobs WHERE state <> 'finished' ORDER BY vm_uuid, host, job_id").all() as VmJobRow[]).map(vmJobFromRow);
  }

  vmDisks(vmUuid: string): VmDiskRecord[] {
    const rows = this.statement("SELECT target, host, files, synced_ms AS syncedMs FROM vm_disks WHERE vm_uuid = ? ORDER BY target").all(vmUuid.toLowerCase()) as { target: string; host: string; files: string; syncedMs: number }[];
    return rows.map((row) => ({ ...row, files: stringList(row.files, `vm ${vmUuid} disk ${row.target}`) }));
  }

  vmDiskSync(vmUuid: string): VmDiskSyncRecord | undefined {
    return this.statement("SELECT host, state, error, attempts, updated_ms AS updatedMs FROM vm_disk_syncs WHERE vm_uuid = ?").get(vmUuid.toLowerCase()) as VmDiskSyncRecord | undefined;
  }

  job(id: string): JobRecord | undefined {
    const row = this.statement("SELECT * FROM jobs WHERE id = ?").get(id) as JobRow | undefined;
    return row === undefined ? undefined : jobFromRow(row);
  }

  /** Jobs newest first (filtered); steps of a flush are listed too. */
  listJobs(filter: JobFilter): JobRecord[] {
    const clauses: string[] = ["1 = 1"];
    const parameters: (string | number)[] = [];
    if (filter.vmUuid !== undefined) {
      clauses.push("vm_uuid = ?");
      parameters.push(filter.vmUuid);
    }
    if (filter.host !== undefined) {
      clauses.push("(host = ? OR target = ?)");
      parameters.push(filter.host, filter.host);
    }
    parameters.push(filter.limit);
    const sql = `SELECT * FROM jobs WHERE ${clauses.join(" AND ")} ORDER BY started_ms DESC, rowid DESC LIMIT ?`;
    return (this.statement(sql).all(...parameters) as JobRow[]).map(jobFromRow);
  }

  /** Every job not in a final state, oldest first: what the primary's duties drive. */
  activeJobs(): JobRecord[] {
    return (this.statement("SELECT * FROM jobs WHERE state IN ('pending', 'running', 'adjudicating') ORDER BY started_ms, rowid").all() as JobRow[]).map(jobFromRow);
  }

  /** The migration that holds `vmUuid` now, if any. */
  activeMigrationOf(vmUuid: string): JobRecord | undefined {
    const row = this.statement("SELECT * FROM jobs WHERE vm_uuid = ? AND kind = 'migrate' AND state IN ('pending', 'running', 'adjudicating') ORDER BY started_ms DESC LIMIT 1").get(vmUuid) as JobRow | undefined;
    return row === undefined ? undefined : jobFromRow(row);
  }

  /** A flush's or unflush's steps, in the order they were created. */
  childJobs(parent: string): JobRecord[] {
    return (this.statement("SELECT * FROM jobs WHERE parent = ? ORDER BY started_ms, rowid").all(parent) as JobRow[]).map(jobFromRow);
  }

  /** An agent's committed result of `commandId`, if it came. */
  commandResult(commandId: string): { host: string; term: number; outcome: string; error: string } | undefined {
    return this.statement("SELECT host, term, outcome, error FROM command_results WHERE command_id = ?").get(commandId) as { host: string; term: number; outcome: string; error: string } | undefined;
  }

  primaryLease(): { term: number; replica: string; state: string; sinceMs: number } | undefined {
    return this.statement("SELECT term, replica, state, since_ms AS sinceMs FROM primary_lease WHERE id = 1").get() as
      | { term: number; replica: string; state: string; sinceMs: number }
      | undefined;
  }
}
