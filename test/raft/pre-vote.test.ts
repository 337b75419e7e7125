// Proves pre-vote keeps a healthy leader in place: a partitioned replica or an early campaign hint neither bumps terms nor unseats it.
import { test } from "node:test";
import assert from "node:assert/strict";
import { electionTimeoutTicks, ids, TestCluster, text } from "./harness.js";

test("a replica cut off for many election timeouts rejoins without raising any term", () => {
  const cluster = new TestCluster(ids("r1", "r2", "r3"));
  cluster.campaign("r1");
  const term = cluster.raft("r1").status().term;
  cluster.isolate("r3");
  cluster.tickAll(10 * electionTimeoutTicks);
  // r3 kept pre-campaigning, but a pre-vote never changes its own term.
  assert.equal(cluster.raft("r3").status().term, term);
  assert.notEqual(cluster.raft("r3").status().role, "leader");
  cluster.heal();
  cluster.tickAll(2 * electionTimeoutTicks);
  assert.deepEqual(cluster.leaders(), ["r1"]);
  for (const id of cluster.sortedIds()) assert.equal(cluster.raft(id).status().term, term);
  assert.equal(cluster.raft("r3").status().leader, "r1");
});

test("a campaign hint on a follower of a healthy leader is refused by the lease and changes nothing", () => {
  const cluster = new TestCluster(ids("r1", "r2", "r3"));
  cluster.campaign("r1");
  cluster.tickAll(3);
  const term = cluster.raft("r1").status().term;
  const outcome = cluster.raft("r2").campaignNow();
  assert.equal(outcome.accepted, true);
  assert.equal(cluster.raft("r2").status().role, "pre-candidate");
  cluster.deliverAll();
  // r3 still hears from r1, so it ignores the pre-vote; r1 is the leader and ignores it too.
  const refusal = cluster.replica("r3").stepOutcomes.at(-1);
  assert.deepEqual(refusal && !refusal.accepted ? refusal.reason : null, "leader-lease");
  cluster.tickAll(3);
  assert.deepEqual(cluster.leaders(), ["r1"]);
  assert.equal(cluster.raft("r2").status().role, "follower");
  assert.equal(cluster.raft("r2").status().leader, "r1");
  for (const id of cluster.sortedIds()) assert.equal(cluster.raft(id).status().term, term);
  assert.equal(cluster.raft("r1").propose(text("still leading")).accepted, true);
});

test("campaign hints on every follower elect a new leader at once when the leader is gone", () => {
  const cluster = new TestCluster(ids("r1", "r2", "r3"));
  cluster.campaign("r1");
  cluster.tickAll(2);
  cluster.down.add(ids("r1")[0]!);
  // Each follower's edge sees its connection to r1 close and hints, without waiting for a timeout.
  // r3's hint alone wins nothing: r2 still holds r1's lease. Once r2 hints too, r3 (now without a
  // leader) grants r2's pre-vote and vote; no tick has passed.
  cluster.raft("r3").campaignNow();
  cluster.deliverAll();
  assert.deepEqual(cluster.leaders(), []);
  cluster.raft("r2").campaignNow();
  cluster.deliverAll();
  assert.deepEqual(cluster.leaders(), ["r2"]);
  assert.equal(cluster.raft("r3").status().leader, "r2");
});
