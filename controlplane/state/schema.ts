// Versioned schema of a replica's SQLite file. Each migration runs once, in
// order, inside one transaction; `PRAGMA user_version` records how far a file got.
// A file written by a newer vigild (higher version) is refused rather than guessed at.
import type { Database } from "better-sqlite3";

const migrations: readonly string[] = [
  // 1: the log, the hard state, and the replicated tables of the skeleton.
  `
  CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) STRICT;
  CREATE TABLE settings (key TEXT PRIMARY KEY, value TEXT NOT NULL) STRICT;
  CREATE TABLE members (id TEXT PRIMARY KEY, address TEXT NOT NULL) STRICT;
  CREATE TABLE raft_snapshot (id INTEGER PRIMARY KEY CHECK (id = 1), idx INTEGER NOT NULL, term INTEGER NOT NULL, voters TEXT NOT NULL) STRICT;
  CREATE TABLE hard_state (id INTEGER PRIMARY KEY CHECK (id = 1), term INTEGER NOT NULL, vote TEXT NOT NULL, commit_index INTEGER NOT NULL) STRICT;
  CREATE TABLE log_entries (idx INTEGER PRIMARY KEY, term INTEGER NOT NULL, type INTEGER NOT NULL, data BLOB NOT NULL) STRICT;
  CREATE TABLE hosts (
    id TEXT PRIMARY KEY,
    state TEXT NOT NULL,
    boot_id TEXT NOT NULL,
    agent_version TEXT NOT NULL,
    migration_uri TEXT NOT NULL,
    applied_seq INTEGER NOT NULL,
    events_applied INTEGER NOT NULL DEFAULT 0,
    maintenance INTEGER NOT NULL DEFAULT 0,
    cpus INTEGER NOT NULL DEFAULT 0,
    memory_bytes INTEGER NOT NULL DEFAULT 0,
    registered_ms INTEGER NOT NULL
  ) STRICT;
  CREATE TABLE vms (
    uuid TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    host TEXT,
    state TEXT NOT NULL,
    reason TEXT NOT NULL,
    vcpus INTEGER NOT NULL,
    memory_bytes INTEGER NOT NULL,
    restart TEXT NOT NULL DEFAULT 'on-host-failure',
    priority INTEGER NOT NULL DEFAULT 0,
    limit_hosts TEXT NOT NULL DEFAULT '[]',
    selector TEXT NOT NULL DEFAULT 'mem',
    autorestart INTEGER NOT NULL DEFAULT 1,
    max_restarts INTEGER NOT NULL DEFAULT 3,
    desired_state TEXT NOT NULL DEFAULT '',
    last_host TEXT NOT NULL DEFAULT '',
    updated_ms INTEGER NOT NULL
  ) STRICT;
  CREATE INDEX vms_by_host ON vms (host);
  CREATE INDEX vms_by_name ON vms (name);
  CREATE TABLE command_results (
    command_id TEXT PRIMARY KEY,
    host TEXT NOT NULL,
    term INTEGER NOT NULL,
    outcome TEXT NOT NULL,
    error TEXT NOT NULL,
    at_ms INTEGER NOT NULL
  ) STRICT;
  CREATE TABLE cluster_events (
    idx INTEGER PRIMARY KEY AUTOINCREMENT,
    log_index INTEGER NOT NULL,
    at_ms INTEGER NOT NULL,
    term INTEGER NOT NULL,
    kind TEXT NOT NULL,
    host TEXT NOT NULL DEFAULT '',
    vm TEXT NOT NULL DEFAULT '',
    job TEXT NOT NULL DEFAULT '',
    message TEXT NOT NULL
  ) STRICT;
  CREATE TABLE config (key TEXT PRIMARY KEY, value TEXT NOT NULL) STRICT;
  CREATE TABLE primary_lease (id INTEGER PRIMARY KEY CHECK (id = 1), term INTEGER NOT NULL, replica TEXT NOT NULL, state TEXT NOT NULL, since_ms INTEGER NOT NULL) STRICT;
  `,
  // 2: agent recovery (DESIGN §9): per-VM jobs as agents journal them, disk chains, disk sync state.
  `
  CREATE TABLE vm_jobs (
    host TEXT NOT NULL,
    job_id TEXT NOT NULL,
    vm_uuid TEXT NOT NULL,
    kind TEXT NOT NULL,
    disk TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('running', 'finished', 'unknown')),
    outcome TEXT NOT NULL,
    detail TEXT NOT NULL,
    recovered INTEGER NOT NULL,
    chain_before TEXT NOT NULL,
    top TEXT NOT NULL,
    target TEXT NOT NULL,
    command_id TEXT NOT NULL,
    moved_to TEXT NOT NULL DEFAULT '',
    sync_requested_on TEXT NOT NULL DEFAULT '',
    unknown_since_ms INTEGER NOT NULL DEFAULT 0,
    escalated INTEGER NOT NULL DEFAULT 0,
    started_ms INTEGER NOT NULL,
    updated_ms INTEGER NOT NULL,
    PRIMARY KEY (host, job_id)
  ) STRICT;
  CREATE INDEX vm_jobs_by_vm ON vm_jobs (vm_uuid, state);
  CREATE TABLE vm_disks (vm_uuid TEXT NOT NULL, target TEXT NOT NULL, host TEXT NOT NULL, files TEXT NOT NULL, synced_ms INTEGER NOT NULL, PRIMARY KEY (vm_uuid, target)) STRICT;
  CREATE TABLE vm_disk_syncs (vm_uuid TEXT PRIMARY KEY, host TEXT NOT NULL, state TEXT NOT NULL CHECK (state IN ('pending', 'synced', 'failed')), error TEXT NOT NULL, attempts INTEGER NOT NULL, updated_ms INTEGER NOT NULL) STRICT;
  `,
  // 3: HA (issue 7): committed host liveness and fence state, the agent's self-fence setting,
  // per-VM HA state and restart history, and the replicated skip-trace set (DESIGN §5-§7).
  `
  ALTER TABLE hosts ADD COLUMN liveness TEXT NOT NULL DEFAULT 'alive';
  ALTER TABLE hosts ADD COLUMN liveness_reason TEXT NOT NULL DEFAULT '';
  ALTER TABLE hosts ADD COLUMN liveness_since_ms INTEGER NOT NULL DEFAULT 0;
  ALTER TABLE hosts ADD COLUMN missed_keepalives INTEGER NOT NULL DEFAULT 0;
  ALTER TABLE hosts ADD COLUMN fence_attempts INTEGER NOT NULL DEFAULT 0;
  ALTER TABLE hosts ADD COLUMN self_fence_mode TEXT NOT NULL DEFAULT 'off';
  ALTER TABLE hosts ADD COLUMN self_fence_timeout_ms INTEGER NOT NULL DEFAULT 0;
  ALTER TABLE vms ADD COLUMN ha_state TEXT NOT NULL DEFAULT '';
  ALTER TABLE vms ADD COLUMN ha_reason TEXT NOT NULL DEFAULT '';
  ALTER TABLE vms ADD COLUMN restart_history TEXT NOT NULL DEFAULT '[]';
  CREATE TABLE skip_trace (
    vm_uuid TEXT PRIMARY KEY,
    term INTEGER NOT NULL,
    operation TEXT NOT NULL,
    command_id TEXT NOT NULL,
    host TEXT NOT NULL,
    since_ms INTEGER NOT NULL,
    orphaned_at_ms INTEGER
  ) STRICT;
  `,
  // 4: migration and flush orchestrations (issue 8, DESIGN §8): the primary's jobs, durable so a
  // new primary resumes them, and the per-VM migration fallback policy.
  `
  ALTER TABLE vms ADD COLUMN migration_fallback INTEGER NOT NULL DEFAULT 1;
  CREATE TABLE jobs (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL CHECK (kind IN ('migrate', 'flush', 'unflush', 'shutdown', 'start')),
    vm_uuid TEXT NOT NULL,
    host TEXT NOT NULL,
    target TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('pending', 'running', 'adjudicating', 'succeeded', 'rolled-back', 'failed', 'canceled')),
    phase TEXT NOT NULL,
    error TEXT NOT NULL,
    mode TEXT NOT NULL,
    force_live INTEGER NOT NULL,
    parent TEXT NOT NULL,
    origin_state TEXT NOT NULL,
    fallback_stage TEXT NOT NULL DEFAULT '',
    command_id TEXT NOT NULL DEFAULT '',
    command_term INTEGER NOT NULL DEFAULT 0,
    processed_bytes INTEGER NOT NULL DEFAULT 0,
    remaining_bytes INTEGER NOT NULL DEFAULT 0,
    total_bytes INTEGER NOT NULL DEFAULT 0,
    downtime_ms INTEGER NOT NULL DEFAULT 0,
    adjudication_trigger TEXT NOT NULL DEFAULT '',
    adjudication_started_ms INTEGER NOT NULL DEFAULT 0,
    next_recheck_ms INTEGER NOT NULL DEFAULT 0,
    recheck_count INTEGER NOT NULL DEFAULT 0,
    cancel_requested INTEGER NOT NULL DEFAULT 0,
    deadline_ms INTEGER NOT NULL DEFAULT 0,
    started_ms INTEGER NOT NULL,
    updated_ms INTEGER NOT NULL,
    finished_ms INTEGER NOT NULL DEFAULT 0,
    scope TEXT NOT NULL DEFAULT '[]'
  ) STRICT;
  CREATE INDEX jobs_by_vm ON jobs (vm_uuid, state);
  CREATE INDEX jobs_by_parent ON jobs (parent);
  CREATE INDEX jobs_by_state ON jobs (state);
  `,
  // 5: the HA duty's per-tick read (issue 12): only the VMs HA may act on, through partial
  // indexes that hold just them (StateReader.vmsNeedingHa). The WHERE clauses must stay exactly
  // those of the query, or SQLite cannot use the indexes and scans every VM again. Comparisons,
  // not NOT IN: SQLite evaluates the clause on every write of a VM row, and an IN list made a
  // first inventory of 200,000 VMs ~20 % slower, the comparisons ~5 %.
  `
  CREATE INDEX vms_needing_ha ON vms (priority DESC, name, uuid)
    WHERE (state <> 'running' AND state <> 'paused' AND state <> 'blocked' AND state <> 'pmsuspended') OR ha_state <> '';
  CREATE INDEX hosts_not_alive ON hosts (id) WHERE liveness <> 'alive';
  `,
];

export const schemaVersion = migrations.length;

/**
 * The tables every replica holds identically: what a snapshot carries. `meta`
 * (applied_index, cluster id, lock), the log, hard state and snapshot record
 * are this replica's own.
 */
export const replicatedTables = ["settings", "members", "hosts", "vms", "command_results", "cluster_events", "config", "primary_lease", "vm_jobs", "vm_disks", "vm_disk_syncs", "skip_trace", "jobs"] as const;

export class SchemaTooNewError extends Error {
  override name = "SchemaTooNewError";
}

export function migrate(db: Database): void {
  const current = db.pragma("user_version", { simple: true }) as number;
  if (current > schemaVersion) {
    throw new SchemaTooNewError(`database schema version ${current} is newer than this vigild supports (${schemaVersion})`);
  }
  for (let version = current; version < schemaVersion; version++) {
    db.transaction(() => {
      db.exec(migrations[version]!);
      db.pragma(`user_version = ${version + 1}`);
    })();
  }
}
