// The migration invariants (issue 8, DESIGN §8 and §10.2, §10.6), observed from committed state:
//  A. Ownership of a VM (vms.host, the host allowed to run it) changes exactly once per migration.
//     Every replica's apply is watched entry by entry (a temporary SQLite trigger on vms.host and
//     the index of the entry being applied); a move made while the VM is held by a migration (it
//     sits in the skip-trace set, and the hold began as operation "migrate") is that migration's
//     move. Two moves within one hold break the invariant at once. Against the jobs JobService
//     lists, per VM: succeeded migrations <= migration moves <= succeeded + the VM's migrations that
//     are not final or ended failed or canceled — so a succeeded migration moved ownership exactly
//     once, a rolled-back one never, and every migration move goes from a migration's source to its
//     target.
//  B. Every job reaches a final state within its bound: a migration within migration.timeout +
//     migration.recheckTimeout + migration.shutdownTimeout (the fallback's shutdown) + two command
//     timeouts (the offline copy and the start) + a margin; a flush or unflush within its steps'
//     bounds. Time counts only while some replica may command agents (no primary, no progress is
//     the duty gate's promise, not a job's); a flush's child is timed from when it leaves pending.
// The jobs are read through the production JobService (jobs.ts); the config keys through the
// replicated config, with the contract's defaults for keys this version does not know yet.
import type { Database } from "better-sqlite3";
import type { StateMachine } from "../../controlplane/state/apply.js";
import type { EntryPayload } from "../../controlplane/state/commands.js";
import { finalJobStates, withSteps, type Job } from "./jobs.js";
import { uuidOf } from "./hypervisor.js";
import { Violation } from "./invariants.js";

/** One change of a VM's owner in committed state. */
export interface OwnershipMove {
  index: number;
  vmUuid: string;
  from: string | null;
  to: string | null;
  /** The index at which the migration hold the VM was under began, or null when it was not held by a migration. */
  migrationHold: number | null;
}

/** Contract defaults (migration contract) for keys a control plane without migrations does not define. */
const migrationDefaultsS: Record<string, number> = { "migration.timeout": 600, "migration.recheckTimeout": 300, "migration.recheckInterval": 10, "migration.shutdownTimeout": 120, "command.timeout": 120 };
/** Beyond the sum of a migration's own bounds: dispatch margins, result delivery, a primary's takeover. */
export const jobBoundMarginMs = 60_000;

export function migrationBoundMs(config: ReadonlyMap<string, string>): number {
  const seconds = (key: string) => {
    const value = Number(config.get(key));
    return (Number.isFinite(value) && value > 0 ? value : migrationDefaultsS[key]!) * 1000;
  };
  return seconds("migration.timeout") + seconds("migration.recheckTimeout") + seconds("migration.shutdownTimeout") + 2 * seconds("command.timeout") + jobBoundMarginMs;
}

interface SkipRow {
  vmUuid: string;
  operation: string;
}

/** Per replica database: what the trigger needs to know about the entry being applied. */
interface Watch {
  index: number | null;
  held: Map<string, SkipRow>;
}

export class MigrationChecker {
  /** Ownership moves by entry index, as the first replica to apply each index saw them. */
  private readonly movesByIndex = new Map<number, OwnershipMove[]>();
  /** Per VM: the index its current migration hold began at (canonical, from the first applier). */
  private readonly holdSince = new Map<string, number>();
  private highestIndexSeen = 0;
  /** Which database applied each index first: only its trigger's moves are recorded. */
  private readonly firstApplier = new Map<number, Watch>();
  private readonly watches = new WeakMap<Database, Watch>();
  /** Per job id: the primary-time (ms) at which it was first seen counting against its bound. */
  private readonly clockStart = new Map<string, number>();
  readonly counts = { ownershipMoves: 0, migrationMoves: 0, jobsAudited: 0, jobAuditsFailed: 0 };

  /** Watches one replica incarnation's apply (its database survives incarnations; the trigger is per connection). */
  watch(db: Database, stateMachine: StateMachine, note: (check: () => void) => void): void {
    let watch = this.watches.get(db);
    if (watch === undefined) {
      const created: Watch = { index: null, held: new Map() };
      watch = created;
      this.watches.set(db, created);
      db.function("sim_owner_moved", { deterministic: false, varargs: false }, (vmUuid: unknown, from: unknown, to: unknown) => {
        if (created.index !== null) note(() => this.moved(created, String(vmUuid), from === null ? null : String(from), to === null ? null : String(to)));
        return null;
      });
    }
    const current = watch;
    const ensureTrigger = db.prepare(
      "CREATE TEMP TRIGGER IF NOT EXISTS sim_owner_moved AFTER UPDATE OF host ON main.vms WHEN OLD.host IS NOT NEW.host BEGIN SELECT sim_owner_moved(NEW.uuid, OLD.host, NEW.host); END",
    );
    const heldRows = db.prepare("SELECT vm_uuid AS vmUuid, operation FROM skip_trace");
    const apply = stateMachine.applyEntry.bind(stateMachine);
    stateMachine.applyEntry = (index: number, payload: EntryPayload) => {
      ensureTrigger.run();
      current.index = index;
      current.held = new Map((heldRows.all() as SkipRow[]).map((row) => [row.vmUuid, row]));
      if (index > this.highestIndexSeen) {
        this.firstApplier.set(index, current);
        this.noteHolds(index, current.held);
      }
      try {
        return apply(index, payload);
      } finally {
        current.index = null;
      }
    };
  }

  /** The first replica to apply `index` updates the migration holds from the skip-trace set before it. */
  private noteHolds(index: number, held: ReadonlyMap<string, SkipRow>): void {
    this.highestIndexSeen = index;
    for (const vmUuid of [...this.holdSince.keys()]) if (!held.has(vmUuid)) this.holdSince.delete(vmUuid);
    for (const row of held.values()) if (row.operation === "migrate" && !this.holdSince.has(row.vmUuid)) this.holdSince.set(row.vmUuid, index);
  }

  private moved(watch: Watch, vmUuid: string, from: string | null, to: string | null): void {
    const index = watch.index!;
    // Another replica applied this index first and recorded its moves (invariant 4: the entries are the same).
    if (this.firstApplier.get(index) !== watch) return;
    const known = this.movesByIndex.get(index) ?? [];
    const migrationHold = watch.held.has(vmUuid) ? (this.holdSince.get(vmUuid) ?? null) : null;
    const move: OwnershipMove = { index, vmUuid, from, to, migrationHold };
    this.counts.ownershipMoves += 1;
    if (migrationHold !== null) {
      this.counts.migrationMoves += 1;
      const earlier = [...this.movesByIndex.values()].flat().find((other) => other.vmUuid === vmUuid && other.migrationHold === migrationHold);
      if (earlier !== undefined) {
        throw new Violation(
          "ownership of a VM changes exactly once per migration",
          `vm ${vmUuid} moved ${earlier.from} -> ${earlier.to} at index ${earlier.index} and ${from} -> ${to} at index ${index}, both under the migration hold that began at index ${migrationHold}`,
        );
      }
    }
    known.push(move);
    this.movesByIndex.set(index, known);
  }

  /** Moves of `vmUuid` made under migration holds, through `appliedIndex`. */
  private migrationMovesOf(vmUuid: string, appliedIndex: number): OwnershipMove[] {
    return [...this.movesByIndex.values()].flat().filter((move) => move.vmUuid === vmUuid && move.migrationHold !== null && move.index <= appliedIndex);
  }

  /**
   * Checks the jobs one replica lists at `appliedIndex` (its state) against the ownership moves
   * and the bounds. `primaryTimeMs` counts the simulated time during which a replica could command.
   */
  audit(listed: readonly Job[], appliedIndex: number, config: ReadonlyMap<string, string>, primaryTimeMs: number): void {
    this.counts.jobsAudited += 1;
    const jobs = withSteps(listed);
    const migrations = jobs.filter((job) => job.kind === "migrate");
    const byVm = new Map<string, Job[]>();
    for (const job of migrations) {
      const vmUuid = job.vm.includes("-") && job.vm.length === 36 ? job.vm : uuidOf(job.vm);
      byVm.set(vmUuid, [...(byVm.get(vmUuid) ?? []), job]);
    }
    for (const vmUuid of new Set([...byVm.keys(), ...[...this.movesByIndex.values()].flat().filter((move) => move.migrationHold !== null).map((move) => move.vmUuid)])) {
      const vmJobs = byVm.get(vmUuid) ?? [];
      const moves = this.migrationMovesOf(vmUuid, appliedIndex);
      const succeeded = vmJobs.filter((job) => job.state === "succeeded").length;
      const open = vmJobs.filter((job) => !finalJobStates.has(job.state) || job.state === "failed" || job.state === "canceled").length;
      const jobsText = vmJobs.map((job) => `${job.id} ${job.host}->${job.target} ${job.state}`).join(", ") || "none";
      const movesText = moves.map((move) => `${move.from}->${move.to} at ${move.index}`).join(", ") || "none";
      if (moves.length < succeeded) throw new Violation("ownership of a VM changes exactly once per migration", `vm ${vmJobs[0]?.vm ?? vmUuid}: ${succeeded} migrations succeeded but ownership moved ${moves.length} times under migration (jobs: ${jobsText}; moves: ${movesText})`);
      if (moves.length > succeeded + open) {
        throw new Violation("ownership of a VM changes exactly once per migration", `vm ${vmJobs[0]?.vm ?? vmUuid}: ownership moved ${moves.length} times under migration, more than its migrations account for (a rolled-back migration never moves it; jobs: ${jobsText}; moves: ${movesText})`);
      }
      for (const move of moves) {
        if (!vmJobs.some((job) => job.host === move.from && job.target === move.to && job.state !== "rolled-back")) {
          throw new Violation("ownership of a VM changes exactly once per migration", `vm ${vmJobs[0]?.vm ?? vmUuid}: ownership moved ${move.from} -> ${move.to} at index ${move.index} under migration, but no migration that did not roll back goes that way (jobs: ${jobsText})`);
        }
      }
    }
    this.checkBounds(jobs, config, primaryTimeMs);
  }

  private checkBounds(jobs: readonly Job[], config: ReadonlyMap<string, string>, primaryTimeMs: number): void {
    const migrationMs = migrationBoundMs(config);
    for (const job of jobs) {
      if (finalJobStates.has(job.state)) {
        this.clockStart.delete(job.id);
        continue;
      }
      // A flush's child waits its turn in pending: its bound runs from when it starts.
      if (job.parent !== "" && job.state === "pending") continue;
      const since = this.clockStart.get(job.id) ?? primaryTimeMs;
      this.clockStart.set(job.id, since);
      const boundMs = job.kind === "migrate" ? migrationMs : Math.max(1, job.steps.length) * migrationMs + jobBoundMarginMs;
      const elapsedMs = primaryTimeMs - since;
      if (elapsedMs > boundMs) {
        throw new Violation("every job reaches a final state within its bound", `job ${job.id} (${job.kind} ${job.vm || job.host}) is still ${job.state}${job.phase ? ` (${job.phase})` : ""} after ${Math.round(elapsedMs / 1000)} s with a primary, beyond its bound of ${Math.round(boundMs / 1000)} s`);
      }
    }
  }
}
