// Proves leadership transfer: TimeoutNow moves leadership at once to a caught-up replica, a lagging one is caught up first, and proposals wait.
import { test } from "node:test";
import assert from "node:assert/strict";
import { MessageType } from "../../controlplane/replication/raft-types.js";
import { electionTimeoutTicks, ids, TestCluster, text } from "./harness.js";

test("a transfer to an up-to-date follower makes it leader in the next term without waiting for any lease", () => {
  const cluster = new TestCluster(ids("r1", "r2", "r3"));
  cluster.campaign("r1");
  cluster.tickAll(2);
  const term = cluster.raft("r1").status().term;
  assert.equal(cluster.raft("r1").transferLeadership(ids("r2")[0]!).accepted, true);
  cluster.deliverAll();
  assert.deepEqual(cluster.leaders(), ["r2"]);
  assert.equal(cluster.raft("r2").status().term, term + 1);
  assert.equal(cluster.raft("r1").status().leader, "r2");
  const timeoutNow = cluster.delivered.filter((message) => message.type === MessageType.timeoutNow);
  assert.equal(timeoutNow.length, 1);
});

test("a lagging transferee is caught up before TimeoutNow, and proposals are refused meanwhile", () => {
  const cluster = new TestCluster(ids("r1", "r2", "r3"));
  cluster.campaign("r1");
  cluster.isolate("r3");
  for (let count = 0; count < 10; count += 1) cluster.raft("r1").propose(text(`e${count}`));
  cluster.deliverAll();
  assert.equal(cluster.raft("r1").transferLeadership(ids("r3")[0]!).accepted, true);
  cluster.deliverAll();
  const refused = cluster.raft("r1").propose(text("during transfer"));
  assert.equal(refused.accepted, false);
  assert.equal(!refused.accepted && refused.reason, "leadership-transfer");
  assert.equal(cluster.delivered.filter((message) => message.type === MessageType.timeoutNow).length, 0);
  cluster.heal();
  cluster.tickAll(3);
  assert.deepEqual(cluster.leaders(), ["r3"]);
  assert.equal(cluster.replica("r3").applied.length, 10);
  const timeoutNow = cluster.delivered.find((message) => message.type === MessageType.timeoutNow);
  assert.ok(timeoutNow !== undefined);
});

test("a transfer to an unreachable follower is abandoned after an election timeout", () => {
  const cluster = new TestCluster(ids("r1", "r2", "r3"));
  cluster.campaign("r1");
  cluster.isolate("r3");
  cluster.raft("r1").propose(text("behind"));
  cluster.deliverAll();
  cluster.raft("r1").transferLeadership(ids("r3")[0]!);
  assert.equal(cluster.raft("r1").status().leadTransferee, "r3");
  cluster.tickAll(electionTimeoutTicks);
  assert.equal(cluster.raft("r1").status().leadTransferee, null);
  assert.deepEqual(cluster.leaders(), ["r1"]);
  assert.equal(cluster.raft("r1").propose(text("after")).accepted, true);
});

test("only the leader transfers, and only to a voter", () => {
  const cluster = new TestCluster(ids("r1", "r2", "r3"));
  cluster.campaign("r1");
  const fromFollower = cluster.raft("r2").transferLeadership(ids("r3")[0]!);
  assert.equal(!fromFollower.accepted && fromFollower.reason, "not-leader");
  const toStranger = cluster.raft("r1").transferLeadership(ids("r9")[0]!);
  assert.equal(!toStranger.accepted && toStranger.reason, "unknown-member");
  const toSelf = cluster.raft("r1").transferLeadership(ids("r1")[0]!);
  assert.equal(!toSelf.accepted && toSelf.reason, "already-leader");
});
