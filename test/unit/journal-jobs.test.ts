// Proves the journal's job table on a real SQLite file: a job and its JobStarted are one write, one unresolved job per disk, a completion is journaled exactly once across reopens, unknown and running again are journaled, an old (version 1) journal upgrades in place, and what was last reported (domains, chains, sync requests) is remembered.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import Database from "better-sqlite3";
import { Journal, journalSchemaVersion, type NewJob } from "../../agent/journal.js";
import { temporaryDirectory } from "../support/processes.js";

const vmUuid = "9d25f96b-d63b-448a-8d6e-0f1a2cf49bdd";
const commit: NewJob = { vmUuid, kind: "active-commit", disk: "vda", chainBefore: ["/img/top.qcow2", "/img/base.qcow2"], top: "/img/top.qcow2", target: "/img/base.qcow2", commandId: "" };

function withJournal(test: (journal: Journal, path: string) => void): void {
  const directory = temporaryDirectory("journal-jobs");
  try {
    const path = `${directory.path}/journal.db`;
    const journal = new Journal(path);
    try {
      test(journal, path);
    } finally {
      journal.close();
    }
  } finally {
    directory.remove();
  }
}

describe("agent journal: jobs", () => {
  it("journals a job together with its JobStarted event, and refuses a second unresolved job on the same disk", () =>
    withJournal((journal) => {
      const job = journal.beginJob(commit, 1_000, true);
      assert.ok(job !== null);
      assert.match(job.jobId, /^bj-9d25f96b-vda-1$/);
      const [event] = journal.pending(0, 10);
      assert.deepEqual(event?.body.jobStarted, { jobId: job.jobId, vmUuid, kind: "active-commit", disk: "vda", chainBefore: commit.chainBefore, top: commit.top, target: commit.target, commandId: "" });
      assert.equal(event?.recovered, true);
      assert.equal(journal.beginJob({ ...commit, kind: "copy" }, 1_001), null, "vda is busy");
      assert.ok(journal.beginJob({ ...commit, disk: "vdb" }, 1_002) !== null, "another disk may run its own job");
      assert.ok(journal.beginJob({ ...commit, kind: "migrate-out", disk: "", chainBefore: [], top: "", target: "qemu+tls://h2/system" }, 1_003)?.jobId.startsWith("mig-"));
      assert.deepEqual(journal.unresolvedJobs().map((candidate) => candidate.disk), ["vda", "vdb", ""]);
    }));

  it("journals a completion exactly once, also after a reopen (a crash between two recoveries)", () =>
    withJournal((journal, path) => {
      const job = journal.beginJob(commit, 1_000)!;
      assert.equal(journal.finishJob(job.jobId, { outcome: "completed", detail: "top gone" }, 2_000, true), true);
      assert.equal(journal.finishJob(job.jobId, { outcome: "completed", detail: "top gone" }, 2_001, false), false);
      journal.close();
      const reopened = new Journal(path);
      try {
        assert.equal(reopened.finishJob(job.jobId, { outcome: "aborted", detail: "again" }, 3_000, true), false);
        const finishes = reopened.pending(0, 10).filter((event) => event.body.jobFinished !== undefined);
        assert.equal(finishes.length, 1);
        assert.deepEqual(finishes[0]?.body.jobFinished, { jobId: job.jobId, vmUuid, kind: "active-commit", disk: "vda", outcome: "completed", error: "top gone" });
        assert.equal(reopened.job(job.jobId)?.state, "finished");
        assert.deepEqual(reopened.unresolvedJobs(), []);
        assert.ok(reopened.beginJob(commit, 4_000) !== null, "the disk is free again");
        assert.equal(reopened.finishJob("no-such-job", { outcome: "completed", detail: "" }, 5_000, false), false);
      } finally {
        reopened.close();
      }
    }));

  it("journals unknown as a JobFinished with outcome unknown, and running again as a JobStarted, once per change", () =>
    withJournal((journal) => {
      const job = journal.beginJob(commit, 1_000)!;
      assert.equal(journal.setJobState(job.jobId, "unknown", "libvirt is not answering", 2_000, true), true);
      assert.equal(journal.setJobState(job.jobId, "unknown", "still not", 2_001, true), false);
      assert.equal(journal.setJobState(job.jobId, "running", "", 3_000, true), true);
      const bodies = journal.pending(0, 10).map((event) => event.body);
      assert.equal(bodies.length, 3);
      assert.equal(bodies[1]?.jobFinished?.outcome, "unknown");
      assert.equal(bodies[1]?.jobFinished?.error, "libvirt is not answering");
      assert.equal(bodies[2]?.jobStarted?.jobId, job.jobId);
      journal.finishJob(job.jobId, { outcome: "completed", detail: "" }, 4_000, false);
      assert.equal(journal.setJobState(job.jobId, "unknown", "late", 5_000, false), false, "a finished job never changes");
    }));

  it("upgrades a version 1 journal in place, keeping its outbox, term and numbering", () => {
    const directory = temporaryDirectory("journal-jobs");
    const path = `${directory.path}/journal.db`;
    const old = new Database(path);
    old.exec(`
      CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) STRICT;
      CREATE TABLE outbox (seq INTEGER PRIMARY KEY, at_ms INTEGER NOT NULL, recovered INTEGER NOT NULL, body TEXT NOT NULL) STRICT;
      CREATE TABLE commands (command_id TEXT PRIMARY KEY, term INTEGER NOT NULL, received_ms INTEGER NOT NULL, result TEXT) STRICT;
      INSERT INTO meta VALUES ('last_seq', '7'), ('last_acked_seq', '6'), ('highest_term', '4');
      INSERT INTO outbox VALUES (7, 1, 0, '{"inventory":{"domains":[]}}');
    `);
    old.close();
    const journal = new Journal(path);
    try {
      assert.deepEqual([journal.lastSeq(), journal.lastAckedSeq(), journal.highestTerm()], [7, 6, 4]);
      assert.deepEqual(journal.pending(6, 10).map((event) => event.seq), [7]);
      assert.equal(journal.beginJob(commit, 1_000)?.jobId, "bj-9d25f96b-vda-1");
      assert.equal(journal.lastSeq(), 8);
    } finally {
      journal.close();
    }
    const check = new Database(path);
    assert.equal(check.pragma("user_version", { simple: true }), journalSchemaVersion);
    check.close();
    directory.remove();
  });

  it("refuses a journal written by a newer agent", () => {
    const directory = temporaryDirectory("journal-jobs");
    const path = `${directory.path}/journal.db`;
    const newer = new Database(path);
    newer.pragma(`user_version = ${journalSchemaVersion + 1}`);
    newer.close();
    assert.throws(() => new Journal(path), /newer than this agent supports/);
    directory.remove();
  });

  it("remembers the domains and chains it reported, and completes a disk sync request with its synced report only", () =>
    withJournal((journal) => {
      const web1 = { name: "web1", uuid: vmUuid, state: "running", reason: "booted", vcpus: 1, memoryBytes: 1, persistent: true };
      const db1 = { ...web1, name: "db1", uuid: "47a402ed-4c8c-44b2-8ee7-b83666f7307d" };
      journal.append({ inventory: { domains: [web1, db1] } }, 1);
      journal.append({ lifecycle: { domain: { ...web1, state: "shutoff", reason: "crashed" }, event: "stopped", detail: "crashed" } }, 2);
      assert.deepEqual([...journal.reportedDomains().values()].map((domain) => `${domain.name}:${domain.state}`).sort(), ["db1:running", "web1:shutoff"]);
      journal.append({ inventory: { domains: [db1] } }, 3);
      assert.deepEqual([...journal.reportedDomains().keys()], [db1.uuid], "an inventory forgets domains that left");

      journal.requestDiskSync(vmUuid, "command", 4);
      journal.requestDiskSync(vmUuid, "job", 5);
      assert.deepEqual(journal.pendingDiskSyncs(), [{ vmUuid, cause: "command", requestedMs: 4 }]);
      journal.reportDiskChain({ vmUuid, disks: [], pending: true, error: "storage is not answering", attempts: 1 }, 6, false);
      assert.equal(journal.pendingDiskSyncs().length, 1, "a pending report keeps the request");
      assert.equal(journal.reportedDisks(vmUuid), null);
      journal.reportDiskChain({ vmUuid, disks: [{ target: "vda", files: ["/img/base.qcow2"] }], pending: false, error: "", attempts: 2 }, 7, false);
      assert.deepEqual(journal.pendingDiskSyncs(), []);
      assert.deepEqual(journal.reportedDisks(vmUuid), [{ target: "vda", files: ["/img/base.qcow2"] }]);
    }));

  it("refuses a corrupt job row when reading it back", () =>
    withJournal((journal, path) => {
      const job = journal.beginJob(commit, 1_000)!;
      const raw = new Database(path);
      raw.prepare("UPDATE jobs SET chain_before = '{\"not\":\"a list\"}' WHERE job_id = ?").run(job.jobId);
      raw.close();
      assert.throws(() => journal.job(job.jobId), /chain_before is not a list of files/);
    }));
});
