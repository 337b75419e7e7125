// Proves the commit rule on the Raft paper's figure 8: an old-term entry on a majority is not committed by counting, because a later leader may still overwrite it.
import { test } from "node:test";
import assert from "node:assert/strict";
import { InjectedBug, MessageType, type InjectedBug as Bug, type Message } from "../../controlplane/replication/raft-types.js";
import { ids, TestCluster, text } from "./harness.js";

interface Figure8 {
  readonly cluster: TestCluster;
  /** s1's commit index once its old-term entry x sits on a majority (s1 to s4). */
  readonly commitWithOldEntryOnMajority: number;
  readonly indexOfX: number;
}

const isAppendTo = (message: Message, targets: readonly string[]): boolean =>
  message.type === MessageType.append && targets.includes(message.to);

/**
 * Replays figure 8 with one entry per append message:
 *  (a) s1 leads term 2 and puts x at index i on s1 and s2 only;
 *  (b) s5 leads term 3 with votes of s3 and s4 and appends its own entry at i, which nobody gets;
 *  (c) s1 leads term 4 and replicates x to s3 and s4 (now on a majority) but not its term-4 entry.
 */
function playFigure8(injectedBug: Bug | null): Figure8 {
  const cluster = new TestCluster(ids("s1", "s2", "s3", "s4", "s5"), { limits: { appendBytesMax: 1 }, injectedBug });
  // (a)
  cluster.campaign("s1");
  cluster.dropIf = (message) => isAppendTo(message, ["s3", "s4", "s5"]);
  const x = cluster.raft("s1").propose(text("x"));
  assert.ok(x.accepted);
  cluster.deliverAll();
  cluster.heal();
  // (b)
  cluster.crash("s1");
  cluster.forgetLeaders(["s2", "s3", "s4", "s5"]);
  cluster.dropIf = (message) => message.to === "s2" || message.from === "s2" || (message.from === "s5" && message.type !== MessageType.vote && message.type !== MessageType.preVote);
  cluster.campaign("s5");
  assert.equal(cluster.raft("s5").status().role, "leader");
  assert.equal(cluster.raft("s5").status().term, 3);
  assert.equal(cluster.raft("s5").termAt(x.index), 3, "s5's own entry sits at x's index");
  cluster.crash("s5");
  cluster.heal();
  // (c)
  cluster.restart("s1");
  cluster.forgetLeaders(["s1", "s2", "s3", "s4"]);
  const indexOfNewTermEntry = x.index + 1;
  // Appends carrying the term-4 entry reach only replicas that still lack x: there they are
  // rejected, which walks s1 back so that it sends x alone.
  cluster.dropIf = (message) =>
    message.to === "s5" ||
    (message.type === MessageType.append &&
      message.entries.some((entry) => entry.index >= indexOfNewTermEntry) &&
      cluster.raft(message.to).termAt(x.index) === 2);
  cluster.raft("s1").campaignNow(); // refused by s3 and s4 (they voted in term 3), but s1 learns term 3
  cluster.deliverAll();
  cluster.campaign("s1");
  assert.equal(cluster.raft("s1").status().role, "leader");
  assert.equal(cluster.raft("s1").status().term, 4);
  cluster.tickAll(3);
  for (const id of ["s1", "s2", "s3", "s4"]) assert.equal(cluster.raft(id).termAt(x.index), 2, `${id} holds x`);
  for (const id of ["s2", "s3", "s4"]) assert.equal(cluster.raft(id).termAt(indexOfNewTermEntry), null, `${id} lacks the term-4 entry`);
  return { cluster, commitWithOldEntryOnMajority: cluster.raft("s1").status().commitIndex, indexOfX: x.index };
}

/** (d) s1 crashes; s5 returns and wins term 5 with s2, s3 and s4, whose last term (2) is below its own (3). */
function electS5(cluster: TestCluster): void {
  cluster.crash("s1");
  cluster.heal();
  cluster.restart("s5");
  cluster.forgetLeaders(["s2", "s3", "s4", "s5"]);
  cluster.raft("s5").campaignNow(); // refused (the others voted in term 4), but s5 learns term 4
  cluster.deliverAll();
  cluster.campaign("s5");
  assert.equal(cluster.raft("s5").status().role, "leader");
  assert.equal(cluster.raft("s5").status().term, 5);
}

test("an entry of an earlier term on a majority is not committed by counting replicas", () => {
  const { cluster, commitWithOldEntryOnMajority, indexOfX } = playFigure8(null);
  assert.equal(commitWithOldEntryOnMajority, indexOfX - 1);
  electS5(cluster);
  cluster.tickAll(3);
  // s5 overwrote x everywhere; that was allowed because x was never committed.
  for (const id of ["s2", "s3", "s4", "s5"]) {
    assert.equal(cluster.raft(id).termAt(indexOfX), 3);
    assert.ok(!cluster.replica(id).applied.includes("x"));
  }
});

test("the same run commits x by counting when the rule is broken, and x is then overwritten", () => {
  const { cluster, commitWithOldEntryOnMajority, indexOfX } = playFigure8(InjectedBug.commitOldTermByCounting);
  assert.equal(commitWithOldEntryOnMajority, indexOfX, "the broken leader committed x");
  assert.ok(cluster.replica("s1").applied.includes("x"), "and applied it");
  electS5(cluster);
  // Leader completeness is broken: s1 applied x at its index, yet the new leader holds another
  // entry there (and the simulator's checker reports exactly this).
  assert.equal(cluster.raft("s5").termAt(indexOfX), 3);
  assert.ok(cluster.raft("s2").status().commitIndex >= indexOfX, "followers learned the bad commit too");
});

test("once the term-4 entry reaches the majority, x commits with it", () => {
  const { cluster, indexOfX } = playFigure8(null);
  cluster.heal();
  cluster.tickAll(3);
  assert.ok(cluster.raft("s1").status().commitIndex >= indexOfX + 1);
  for (const id of ["s1", "s2", "s3", "s4"]) assert.ok(cluster.replica(id).applied.includes("x"), `${id} applied x`);
});
