// Proves single-server membership changes: an empty replica joins and counts, a voter leaves, a removed leader steps down, one change at a time.
import { test } from "node:test";
import assert from "node:assert/strict";
import { ConfChangeKind } from "../../controlplane/replication/raft-configuration.js";
import { replicaId } from "../../controlplane/replication/raft-types.js";
import { ids, snapshotAndCompact, TestCluster, text } from "./harness.js";

const add = (id: string) => ({ kind: ConfChangeKind.addVoter, replica: replicaId(id) });
const remove = (id: string) => ({ kind: ConfChangeKind.removeVoter, replica: replicaId(id) });

test("an empty replica added as a voter learns the whole log and then counts toward the quorum", () => {
  const cluster = new TestCluster(ids("r1", "r2", "r3"));
  cluster.campaign("r1");
  cluster.raft("r1").propose(text("before"));
  cluster.deliverAll();
  cluster.addReplica(replicaId("r4"));
  const outcome = cluster.raft("r1").proposeConfChange(add("r4"));
  assert.equal(outcome.accepted, true);
  // In force on the leader as soon as it is appended.
  assert.deepEqual(cluster.raft("r1").status().voters, ["r1", "r2", "r3", "r4"]);
  cluster.tickAll(3);
  assert.deepEqual(cluster.raft("r4").status().voters, ["r1", "r2", "r3", "r4"]);
  assert.deepEqual(cluster.replica("r4").applied, ["before"]);
  // With four voters a commit needs three: r1 and r2 alone are not enough.
  cluster.crash("r3");
  cluster.crash("r4");
  cluster.raft("r1").propose(text("needs three"));
  cluster.tickAll(2);
  assert.ok(!cluster.replica("r1").applied.includes("needs three"));
  cluster.restart("r4");
  cluster.tickAll(3);
  assert.ok(cluster.replica("r1").applied.includes("needs three"));
});

test("a replica joining after compaction starts from the snapshot and its membership", () => {
  const cluster = new TestCluster(ids("r1", "r2", "r3"));
  cluster.campaign("r1");
  for (let count = 0; count < 5; count += 1) cluster.raft("r1").propose(text(`v${count}`));
  cluster.deliverAll();
  snapshotAndCompact(cluster.replica("r1"));
  cluster.addReplica(replicaId("r4"));
  cluster.raft("r1").proposeConfChange(add("r4"));
  cluster.tickAll(3);
  assert.deepEqual(cluster.replica("r4").applied, ["v0", "v1", "v2", "v3", "v4"]);
  assert.deepEqual(cluster.raft("r4").status().voters, ["r1", "r2", "r3", "r4"]);
});

test("a removed follower gets no more entries and its campaigns are refused", () => {
  const cluster = new TestCluster(ids("r1", "r2", "r3"));
  cluster.campaign("r1");
  assert.equal(cluster.raft("r1").proposeConfChange(remove("r3")).accepted, true);
  cluster.tickAll(3);
  assert.deepEqual(cluster.raft("r2").status().voters, ["r1", "r2"]);
  cluster.raft("r1").propose(text("after removal"));
  cluster.tickAll(3);
  assert.ok(cluster.replica("r2").applied.includes("after removal"));
  assert.ok(!cluster.replica("r3").applied.includes("after removal"));
  const term = cluster.raft("r1").status().term;
  cluster.tickAll(30);
  assert.deepEqual(cluster.leaders(), ["r1"]);
  assert.equal(cluster.raft("r1").status().term, term, "the removed replica disrupted nothing");
});

test("a leader that removes itself leads until the removal commits, then hands over at once", () => {
  const cluster = new TestCluster(ids("r1", "r2", "r3"));
  cluster.campaign("r1");
  assert.equal(cluster.raft("r1").proposeConfChange(remove("r1")).accepted, true);
  assert.equal(cluster.raft("r1").status().role, "leader");
  assert.deepEqual(cluster.raft("r1").status().voters, ["r2", "r3"]);
  cluster.deliverAll();
  assert.notEqual(cluster.raft("r1").status().role, "leader");
  const leaders = cluster.leaders();
  assert.equal(leaders.length, 1, "the successor got TimeoutNow and won without waiting");
  assert.notEqual(leaders[0], "r1");
  cluster.raft(leaders[0]!).propose(text("two voters"));
  cluster.tickAll(2);
  assert.ok(cluster.replica("r2").applied.includes("two voters"));
  assert.ok(cluster.replica("r3").applied.includes("two voters"));
});

test("one change at a time, only after the leader committed an entry of its term, and only valid ones", () => {
  const cluster = new TestCluster(ids("r1", "r2", "r3"));
  cluster.raft("r1").campaignNow();
  // Deliver only the election, not the leader's first append: its term entry is uncommitted.
  cluster.dropIf = (message) => message.type === "append";
  cluster.deliverAll();
  assert.equal(cluster.raft("r1").status().role, "leader");
  const early = cluster.raft("r1").proposeConfChange(add("r4"));
  assert.equal(!early.accepted && early.reason, "leader-not-ready");
  cluster.heal();
  cluster.tickAll(2);
  cluster.isolate("r2");
  cluster.isolate("r3");
  assert.equal(cluster.raft("r1").proposeConfChange(add("r4")).accepted, true);
  const second = cluster.raft("r1").proposeConfChange(add("r5"));
  assert.equal(!second.accepted && second.reason, "configuration-change-pending");
  cluster.heal();
  cluster.addReplica(replicaId("r4"));
  cluster.tickAll(3);
  const duplicate = cluster.raft("r1").proposeConfChange(add("r2"));
  assert.equal(!duplicate.accepted && duplicate.reason, "invalid-configuration-change");
  const missing = cluster.raft("r1").proposeConfChange(remove("r9"));
  assert.equal(!missing.accepted && missing.reason, "invalid-configuration-change");
  assert.equal(cluster.raft("r1").proposeConfChange(add("r5")).accepted, true);
});

test("a configuration change that is truncated away reverts the membership", () => {
  const cluster = new TestCluster(ids("r1", "r2", "r3"));
  cluster.campaign("r1");
  cluster.tickAll(2);
  // r1 appends the removal of r3 but cannot replicate it; r2 then leads and overwrites it.
  cluster.isolate("r1");
  cluster.raft("r1").proposeConfChange(remove("r3"));
  assert.deepEqual(cluster.raft("r1").status().voters, ["r1", "r2"]);
  cluster.deliverAll();
  cluster.forgetLeaders(["r1", "r2", "r3"]);
  cluster.campaign("r2");
  cluster.raft("r2").propose(text("overwrites"));
  cluster.heal();
  cluster.tickAll(3);
  assert.deepEqual(cluster.raft("r1").status().voters, ["r1", "r2", "r3"]);
  assert.ok(cluster.replica("r1").applied.includes("overwrites"));
  snapshotAndCompact(cluster.replica("r1"));
  assert.deepEqual(cluster.replica("r1").storage.snapshot().metadata.confState.voters, ["r1", "r2", "r3"]);
});
