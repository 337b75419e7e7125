// Proves linearizable reads by read index: answered only after a majority confirms leadership, at an index covering everything committed before.
import { test } from "node:test";
import assert from "node:assert/strict";
import { ids, TestCluster, text } from "./harness.js";

test("a read on the leader is answered after one heartbeat round, at the commit index", () => {
  const cluster = new TestCluster(ids("r1", "r2", "r3"));
  cluster.campaign("r1");
  cluster.raft("r1").propose(text("written"));
  cluster.deliverAll();
  const commitIndex = cluster.raft("r1").status().commitIndex;
  assert.equal(cluster.raft("r1").readIndex("q1").accepted, true);
  cluster.processReady(ids("r1")[0]!);
  assert.deepEqual(cluster.replica("r1").readStates, [], "not before a majority confirmed");
  cluster.deliverAll();
  assert.deepEqual(cluster.replica("r1").readStates, [{ index: commitIndex, context: "q1" }]);
});

test("a read on a follower is forwarded to the leader and answered there", () => {
  const cluster = new TestCluster(ids("r1", "r2", "r3"));
  cluster.campaign("r1");
  cluster.raft("r1").propose(text("written"));
  cluster.deliverAll();
  assert.equal(cluster.raft("r3").readIndex("q2").accepted, true);
  cluster.deliverAll();
  assert.deepEqual(cluster.replica("r3").readStates, [{ index: cluster.raft("r1").status().commitIndex, context: "q2" }]);
});

test("a leader cut off from the majority answers no read", () => {
  const cluster = new TestCluster(ids("r1", "r2", "r3"));
  cluster.campaign("r1");
  cluster.isolate("r1");
  cluster.raft("r1").readIndex("q3");
  cluster.tickAll(3);
  assert.deepEqual(cluster.replica("r1").readStates, []);
});

test("a new leader answers reads only after committing an entry of its own term", () => {
  const cluster = new TestCluster(ids("r1", "r2", "r3"));
  cluster.raft("r1").campaignNow();
  cluster.dropIf = (message) => message.type === "append";
  cluster.deliverAll();
  assert.equal(cluster.raft("r1").readIndex("q4").accepted, true);
  cluster.tickAll(2);
  assert.deepEqual(cluster.replica("r1").readStates, []);
  cluster.heal();
  cluster.tickAll(2);
  const commitIndex = cluster.raft("r1").status().commitIndex;
  assert.deepEqual(cluster.replica("r1").readStates, [{ index: commitIndex, context: "q4" }]);
});

test("a replica that knows no leader refuses the read at once", () => {
  const cluster = new TestCluster(ids("r1", "r2", "r3"));
  const outcome = cluster.raft("r2").readIndex("q5");
  assert.equal(!outcome.accepted && outcome.reason, "no-leader");
});
