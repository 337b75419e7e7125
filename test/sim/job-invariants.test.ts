// Proves the migration invariants' checker (job-invariants.ts) catches what it promises: ownership
// moved twice under one migration, a succeeded migration that never moved ownership, a rolled-back
// one that did, and a job past its bound — and stays quiet for a correct history, for moves outside
// migrations (HA) and when several replicas apply the same entries.
import assert from "node:assert/strict";
import Database from "better-sqlite3";
import { describe, it } from "node:test";
import type { StateMachine } from "../../controlplane/state/apply.js";
import type { EntryPayload } from "../../controlplane/state/commands.js";
import { uuidOf } from "./hypervisor.js";
import { jobBoundMarginMs, MigrationChecker, migrationBoundMs } from "./job-invariants.js";
import type { Job } from "./jobs.js";

/** A replica's database with the two tables the checker reads, and an apply that runs one SQL step per entry. */
function replica(checker: MigrationChecker) {
  const db = new Database(":memory:");
  db.exec("CREATE TABLE vms (uuid TEXT PRIMARY KEY, name TEXT, host TEXT); CREATE TABLE skip_trace (vm_uuid TEXT PRIMARY KEY, operation TEXT)");
  db.prepare("INSERT INTO vms VALUES (?, 'web1', 'h1')").run(uuidOf("web1"));
  const steps = new Map<number, string>();
  const machine = {
    applyEntry(index: number, _payload: EntryPayload) {
      const sql = steps.get(index);
      if (sql !== undefined) db.exec(sql);
      return [];
    },
  } as unknown as StateMachine;
  checker.watch(db, machine, (check) => check());
  const apply = (index: number) => db.transaction(() => machine.applyEntry(index, {} as EntryPayload))();
  return { steps, apply };
}

const web1 = uuidOf("web1");
const hold = `INSERT INTO skip_trace VALUES ('${web1}', 'migrate')`;
const release = `DELETE FROM skip_trace WHERE vm_uuid = '${web1}'`;
const move = (to: string) => `UPDATE vms SET host = '${to}' WHERE uuid = '${web1}'`;

function job(fields: Partial<Job>): Job {
  return { id: "j1", kind: "migrate", vm: "web1", host: "h1", target: "h2", state: "running", phase: "", error: "", processedBytes: 0, remainingBytes: 0, downtimeMs: 0, startedMs: 0, finishedMs: 0, deadlineMs: 0, steps: [], totalBytes: 0, forceLive: false, mode: "live", parent: "", originState: "running", updatedMs: 0, ...fields };
}

const config = new Map<string, string>();

describe("migration invariants", () => {
  it("accepts a migration that moved ownership once, on two replicas applying the same entries", () => {
    const checker = new MigrationChecker();
    const replicas = [replica(checker), replica(checker)];
    for (const { steps } of replicas) {
      steps.set(1, hold);
      steps.set(2, `${move("h2")}; ${release}`);
    }
    for (const index of [1, 2]) for (const { apply } of replicas) apply(index);
    checker.audit([job({ state: "succeeded" })], 2, config, 0);
    assert.equal(checker.counts.migrationMoves, 1);
  });

  it("refuses ownership moved twice under one migration, at the second move", () => {
    const checker = new MigrationChecker();
    const { steps, apply } = replica(checker);
    steps.set(1, hold);
    steps.set(2, move("h2"));
    steps.set(3, move("h3"));
    apply(1);
    apply(2);
    assert.throws(() => apply(3), /ownership of a VM changes exactly once per migration.*h1 -> h2 at index 2 and h2 -> h3 at index 3/);
  });

  it("refuses a succeeded migration that never moved ownership, and a rolled-back one that did", () => {
    const checker = new MigrationChecker();
    const { steps, apply } = replica(checker);
    steps.set(1, hold);
    steps.set(2, release);
    apply(1);
    apply(2);
    assert.throws(() => checker.audit([job({ state: "succeeded" })], 2, config, 0), /1 migrations succeeded but ownership moved 0 times/);
    const other = new MigrationChecker();
    const second = replica(other);
    second.steps.set(1, hold);
    second.steps.set(2, `${move("h2")}; ${release}`);
    second.apply(1);
    second.apply(2);
    assert.throws(() => other.audit([job({ state: "rolled-back" })], 2, config, 0), /more than its migrations account for/);
    other.audit([job({ state: "running" })], 2, config, 0);
    assert.throws(() => other.audit([job({ state: "failed", target: "h3" })], 2, config, 0), /no migration that did not roll back goes that way/);
  });

  it("ignores ownership moves outside migrations (an HA restart) and counts only through the audited index", () => {
    const checker = new MigrationChecker();
    const { steps, apply } = replica(checker);
    steps.set(1, move("h2"));
    steps.set(2, hold);
    steps.set(3, `${move("h3")}; ${release}`);
    for (const index of [1, 2, 3]) apply(index);
    assert.equal(checker.counts.ownershipMoves, 2);
    assert.equal(checker.counts.migrationMoves, 1);
    checker.audit([job({ host: "h2", target: "h3", state: "running" })], 2, config, 0);
    checker.audit([job({ host: "h2", target: "h3", state: "succeeded" })], 3, config, 0);
  });

  it("refuses a job past its bound of primary time; a flush's pending child waits unbounded", () => {
    const checker = new MigrationChecker();
    const boundMs = migrationBoundMs(config);
    assert.equal(boundMs, (600 + 300 + 120 + 2 * 120) * 1000 + jobBoundMarginMs, "the contract's defaults");
    const child = job({ id: "j2", parent: "f1", state: "pending" });
    const flush = job({ id: "f1", kind: "flush", vm: "", host: "h1", target: "", steps: [child] });
    checker.audit([job({ state: "running" }), flush], 0, config, 1_000);
    checker.audit([job({ state: "adjudicating" }), flush], 0, config, 1_000 + boundMs);
    assert.throws(() => checker.audit([job({ state: "adjudicating" }), flush], 0, config, 1_001 + boundMs), /job j1 \(migrate web1\) is still adjudicating after \d+ s with a primary, beyond its bound/);
    const short = new Map([["migration.timeout", "10"], ["migration.recheckTimeout", "20"], ["migration.shutdownTimeout", "5"], ["command.timeout", "10"]]);
    assert.equal(migrationBoundMs(short), 55_000 + jobBoundMarginMs);
  });
});
