// Proves the agent journal's guarantees on a real SQLite file: events survive a reopen until acked,
// a stale term is refused durably, a command id executes once, and a lost journal continues numbering.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { Journal } from "../../agent/journal.js";
import { temporaryDirectory } from "../support/processes.js";

describe("agent journal", () => {
  it("keeps events across a reopen until they are acknowledged", () => {
    const directory = temporaryDirectory("journal");
    const path = `${directory.path}/journal.db`;
    const journal = new Journal(path);
    const first = journal.append({ inventory: { domains: [] } }, 1000);
    const second = journal.append({ lifecycle: { event: "started", detail: "booted" } }, 1001);
    assert.deepEqual([first, second], [1, 2]);
    journal.close();
    const reopened = new Journal(path);
    assert.deepEqual(reopened.pending(0, 10).map((event) => event.seq), [1, 2]);
    reopened.acknowledge(1);
    assert.deepEqual(reopened.pending(0, 10).map((event) => event.seq), [2]);
    assert.equal(reopened.lastAckedSeq(), 1);
    assert.equal(reopened.append({ inventory: { domains: [] } }, 1002), 3, "numbering continues after a reopen");
    reopened.close();
    directory.remove();
  });

  it("never lets an ack beyond the journal drop unsent events", () => {
    const directory = temporaryDirectory("journal");
    const journal = new Journal(`${directory.path}/journal.db`);
    journal.append({ inventory: { domains: [] } }, 1);
    journal.acknowledge(99);
    assert.equal(journal.lastAckedSeq(), 1);
    journal.close();
    directory.remove();
  });

  it("refuses a command whose term is below the highest seen, even after a reopen", () => {
    const directory = temporaryDirectory("journal");
    const path = `${directory.path}/journal.db`;
    const journal = new Journal(path);
    assert.deepEqual(journal.admitCommand("c1", 5, 0), { kind: "execute" });
    journal.close();
    const reopened = new Journal(path);
    assert.equal(reopened.highestTerm(), 5);
    assert.deepEqual(reopened.admitCommand("c2", 4, 0), { kind: "stale", highestTerm: 5 });
    assert.deepEqual(reopened.admitCommand("c3", 5, 0), { kind: "execute" });
    reopened.raiseTerm(3);
    assert.equal(reopened.highestTerm(), 5, "raiseTerm never lowers the term");
    reopened.close();
    directory.remove();
  });

  it("executes a command id once and answers a redelivery with the first result", () => {
    const directory = temporaryDirectory("journal");
    const journal = new Journal(`${directory.path}/journal.db`);
    assert.equal(journal.admitCommand("c1", 1, 0).kind, "execute");
    assert.deepEqual(journal.admitCommand("c1", 1, 0), { kind: "duplicate", previousResult: null });
    const seq = journal.completeCommand({ commandId: "c1", term: 1, outcome: "COMMAND_OUTCOME_SUCCEEDED", error: "" }, 10);
    assert.equal(journal.pending(0, 10).at(-1)?.seq, seq, "the result is journaled in the outbox");
    const again = journal.admitCommand("c1", 1, 0);
    assert.equal(again.kind, "duplicate");
    assert.equal(again.kind === "duplicate" ? again.previousResult?.outcome : "", "COMMAND_OUTCOME_SUCCEEDED");
    journal.close();
    directory.remove();
  });

  it("forgets executed command ids older than the bound, and only those", () => {
    const directory = temporaryDirectory("journal");
    const journal = new Journal(`${directory.path}/journal.db`);
    journal.admitCommand("old", 1, 1_000);
    journal.completeCommand({ commandId: "old", term: 1, outcome: "COMMAND_OUTCOME_SUCCEEDED", error: "" }, 1_000);
    journal.admitCommand("recent", 1, 9_000);
    journal.completeCommand({ commandId: "recent", term: 1, outcome: "COMMAND_OUTCOME_SUCCEEDED", error: "" }, 9_000);
    journal.forgetCommandsBefore(5_000);
    assert.equal(journal.admitCommand("old", 1, 10_000).kind, "execute", "forgotten: no longer a duplicate");
    assert.equal(journal.admitCommand("recent", 1, 10_000).kind, "duplicate", "still remembered");
    journal.close();
    directory.remove();
  });

  it("continues numbering after the control plane's applied sequence when its own history is gone", () => {
    const directory = temporaryDirectory("journal");
    const journal = new Journal(`${directory.path}/journal.db`);
    journal.adoptAppliedSeq(40);
    assert.equal(journal.lastSeq(), 40);
    assert.equal(journal.append({ inventory: { domains: [] } }, 1), 41);
    journal.adoptAppliedSeq(41);
    assert.equal(journal.outboxSize(), 0);
    journal.close();
    directory.remove();
  });
});
