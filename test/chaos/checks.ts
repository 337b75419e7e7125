// The checks of a chaos run over what the real processes left behind: the replicas' event logs
// (read from their SQLite files once stopped), the agents' own logs, and the clients' history.
// Each returns violations as sentences; an empty list means the property held.
import Database from "better-sqlite3";
import { StateReader, type ClusterEventRecord } from "../../controlplane/state/store.js";
import type { CallRecord } from "./history.js";
import type { LeaderObservation } from "./workload.js";

export type EventRow = ClusterEventRecord;

const eventPageRows = 5_000;

/** A stopped replica's whole event log, read from its SQLite file. */
export function readEventLog(databasePath: string): EventRow[] {
  const db = new Database(databasePath, { readonly: true, fileMustExist: true });
  try {
    const reader = new StateReader(db);
    const rows: EventRow[] = [];
    for (;;) {
      const page = reader.listEvents({ afterIndex: rows.at(-1)?.index ?? 0, limit: eventPageRows });
      rows.push(...page);
      if (page.length < eventPageRows) return rows;
    }
  } finally {
    db.close();
  }
}

const aliveStates = new Set(["running", "paused", "blocked", "pmsuspended"]);

function rowText(row: EventRow): string {
  return `#${row.logIndex} term ${row.term} ${row.kind} ${row.host}/${row.vm}: ${row.message}`;
}

/** Committed state is the same everywhere: one replica's event log is a prefix of every longer one. */
export function eventLogsAgree(logs: ReadonlyMap<string, EventRow[]>): string[] {
  const entries = [...logs.entries()];
  const violations: string[] = [];
  for (let first = 0; first < entries.length; first++) {
    for (let second = first + 1; second < entries.length; second++) {
      const [idA, rowsA] = entries[first]!;
      const [idB, rowsB] = entries[second]!;
      const common = Math.min(rowsA.length, rowsB.length);
      for (let index = 0; index < common; index++) {
        if (rowText(rowsA[index]!) === rowText(rowsB[index]!) && rowsA[index]!.atMs === rowsB[index]!.atMs) continue;
        violations.push(`event logs of ${idA} and ${idB} differ at row ${index + 1}: ${rowText(rowsA[index]!)} vs ${rowText(rowsB[index]!)}`);
        break;
      }
    }
  }
  return violations;
}

/** At most one primary takeover per term (DESIGN §10.1). */
export function oneTakeoverPerTerm(rows: readonly EventRow[]): string[] {
  const byTerm = new Map<number, Set<string>>();
  for (const row of rows) {
    const match = /^primary: replica (\S+) takes over in term (\d+)$/.exec(row.message);
    if (match === null) continue;
    const term = Number(match[2]);
    byTerm.set(term, (byTerm.get(term) ?? new Set()).add(match[1]!));
  }
  return [...byTerm.entries()].filter(([, replicas]) => replicas.size > 1).map(([term, replicas]) => `term ${term} has two primaries: ${[...replicas].join(" and ")}`);
}

/** Raft: at most one leader per term, across every Status answer any replica gave. */
export function oneLeaderPerTerm(observations: readonly LeaderObservation[]): string[] {
  const byTerm = new Map<number, Map<string, LeaderObservation>>();
  for (const observation of observations) {
    const leaders = byTerm.get(observation.term) ?? new Map<string, LeaderObservation>();
    if (!leaders.has(observation.leader)) leaders.set(observation.leader, observation);
    byTerm.set(observation.term, leaders);
  }
  return [...byTerm.entries()]
    .filter(([, leaders]) => leaders.size > 1)
    .map(([term, leaders]) => `term ${term} has two leaders: ${[...leaders.values()].map((seen) => `${seen.leader} (said ${seen.replica})`).join(" and ")}`);
}

/**
 * No VM ever runs on two hosts (DESIGN §10.2), from the committed record of what agents reported:
 * a report of a VM running on a host other than its owner is a conflict event, and a VM's alive
 * reports never move to another host while it is still alive on the first.
 */
export function neverRunningTwice(rows: readonly EventRow[]): string[] {
  const violations = rows.filter((row) => row.kind === "conflict").map((row) => `conflict: ${rowText(row)}`);
  const current = new Map<string, { host: string; alive: boolean; row: EventRow }>();
  for (const row of rows) {
    if (row.kind !== "vm" || row.vm === "") continue;
    const discovered = /: discovered on \S+, (\S+) \(/.exec(row.message);
    const change = / => (\S+) \(/.exec(row.message);
    const state = discovered?.[1] ?? change?.[1];
    if (state === undefined) continue;
    const alive = aliveStates.has(state);
    const before = current.get(row.vm);
    if (alive && before !== undefined && before.alive && before.host !== row.host) {
      violations.push(`vm ${row.vm} alive on ${row.host} (${rowText(row)}) while still alive on ${before.host} (${rowText(before.row)})`);
    }
    current.set(row.vm, { host: row.host, alive, row });
  }
  return violations;
}

/** The agents' own lifecycle logs: a VM that two hosts' agents each saw alive. */
export function agentsNeverShareAVm(agentLogs: ReadonlyMap<string, string[]>): string[] {
  const hostsByVm = new Map<string, Set<string>>();
  for (const [hostId, outputs] of agentLogs) {
    for (const output of outputs) {
      for (const line of output.split("\n")) {
        if (!line.includes('"domain lifecycle event"')) continue;
        let entry: { vm?: string; state?: string };
        try {
          entry = JSON.parse(line) as { vm?: string; state?: string };
        } catch {
          continue;
        }
        if (entry.vm === undefined || entry.state === undefined || !aliveStates.has(entry.state)) continue;
        hostsByVm.set(entry.vm, (hostsByVm.get(entry.vm) ?? new Set()).add(hostId));
      }
    }
  }
  return [...hostsByVm.entries()].filter(([, hosts]) => hosts.size > 1).map(([vm, hosts]) => `vm ${vm} was seen alive by the agents of ${[...hosts].join(" and ")}`);
}

/** The terms of the commands an agent admitted, in admission order (its journal, read once stopped). */
export function readAdmittedTerms(journalPath: string): { commandId: string; term: number }[] {
  const db = new Database(journalPath, { readonly: true, fileMustExist: true });
  try {
    return db.prepare("SELECT command_id AS commandId, term FROM commands ORDER BY rowid").all() as { commandId: string; term: number }[];
  } finally {
    db.close();
  }
}

/** DESIGN §10.1: an agent never executes a command whose term is below one it admitted before. */
export function agentTermsNeverGoBack(hostId: string, admitted: readonly { commandId: string; term: number }[]): string[] {
  const violations: string[] = [];
  let highest = 0;
  for (const command of admitted) {
    if (command.term < highest) violations.push(`${hostId} executed command ${command.commandId} of term ${command.term} after one of term ${highest}`);
    highest = Math.max(highest, command.term);
  }
  return violations;
}

/** What one replica said about one host's events once the agents had drained and stopped. */
export interface ReplicaEventView {
  replica: string;
  /** The host's applied_seq and count of applied events there, or null when the replica never answered. */
  applied: { appliedSeq: number; eventsApplied: number } | null;
}

/**
 * DESIGN §10.3 for one agent, after its outbox drained: every sequence number it journaled is
 * applied exactly once on every replica, and nothing it saw acknowledged (the highest
 * last_acked_seq sampled from its journal during the run) is missing anywhere.
 */
export function eventsAppliedExactlyOnce(hostId: string, journal: { lastSeq: number; highestAcked: number }, views: readonly ReplicaEventView[]): string[] {
  const violations: string[] = [];
  const { lastSeq, highestAcked } = journal;
  if (highestAcked > lastSeq) violations.push(`${hostId}: acknowledged seq ${highestAcked} is beyond its journal's last seq ${lastSeq}`);
  for (const { replica, applied } of views) {
    if (applied === null) {
      violations.push(`${replica} never answered how many of ${hostId}'s ${lastSeq} events it applied (acknowledged up to ${highestAcked})`);
      continue;
    }
    const { appliedSeq, eventsApplied } = applied;
    if (appliedSeq < highestAcked) violations.push(`${replica}: ${hostId} applied_seq ${appliedSeq} is below the acknowledged seq ${highestAcked}: acknowledged events are lost`);
    else if (appliedSeq < lastSeq) violations.push(`${replica}: ${hostId} applied_seq ${appliedSeq}, but the drained agent journaled ${lastSeq}`);
    else if (appliedSeq > lastSeq) violations.push(`${replica}: ${hostId} applied_seq ${appliedSeq}, but the agent journaled only ${lastSeq}`);
    if (eventsApplied !== appliedSeq) violations.push(`${replica}: ${hostId} has ${eventsApplied} events applied for ${appliedSeq} sequence numbers (${eventsApplied < appliedSeq ? "lost" : "applied twice"})`);
  }
  return violations;
}

/** How many overdue calls are named one by one; the rest are counted. */
const overdueCallsNamed = 20;

/** DESIGN §10.6 for the clients: every call ended, and within its bound (its deadline plus slack). */
export function callsEndedWithinBounds(records: readonly CallRecord[]): string[] {
  const overdue = records.filter((record) => record.endMs === null || record.endMs - record.startMs > record.boundMs);
  const violations = overdue
    .slice(0, overdueCallsNamed)
    .map((record) => `call #${record.id} ${record.client} ${record.kind} via ${record.via} to ${record.replica} ${record.endMs === null ? "never ended" : `took ${(record.endMs - record.startMs).toFixed(0)} ms`}, bound ${record.boundMs} ms`);
  if (overdue.length > overdueCallsNamed) violations.push(`... and ${overdue.length - overdueCallsNamed} more overdue calls`);
  return violations;
}

/** DESIGN §10.6 for the harness's own waits: each convergence after healing ended within its bound. */
export function convergencesWithinBound(convergences: readonly { what: string; tookMs: number | null }[], boundMs: number): string[] {
  return convergences
    .filter(({ tookMs }) => tookMs === null || tookMs > boundMs)
    .map(({ what, tookMs }) => `${what}: ${tookMs === null ? "did not converge" : `converged after ${(tookMs / 1000).toFixed(1)} s`}, bound ${boundMs / 1000} s`);
}
