// Proves the leader lease: a leader without quorum contact steps down within one election timeout, and its status reports that contact.
import { test } from "node:test";
import assert from "node:assert/strict";
import { MessageType, replicaId } from "../../controlplane/replication/raft-types.js";
import { electionTimeoutTicks, ids, TestCluster } from "./harness.js";

test("an isolated leader steps down exactly one election timeout after its last quorum contact", () => {
  const cluster = new TestCluster(ids("r1", "r2", "r3"));
  cluster.campaign("r1");
  cluster.tickAll(5);
  const before = cluster.raft("r1").status();
  assert.ok(before.lease !== null);
  assert.equal(before.lease.hasQuorumContact, true);
  const lastContact = before.lease.quorumContactTick;
  assert.equal(before.lease.expiresAtTick, lastContact + electionTimeoutTicks);

  cluster.isolate("r1");
  let steppedDownAt = -1;
  for (let tick = 0; tick < 2 * electionTimeoutTicks && steppedDownAt < 0; tick += 1) {
    cluster.tick("r1");
    cluster.deliverAll();
    const status = cluster.raft("r1").status();
    if (status.role !== "leader") steppedDownAt = status.currentTick;
    else assert.equal(status.lease!.quorumContactTick, lastContact, "no contact while isolated");
  }
  assert.equal(steppedDownAt, lastContact + electionTimeoutTicks);
  assert.equal(cluster.raft("r1").status().leader, null);
  assert.equal(cluster.raft("r1").status().lease, null);
});

test("a leader that keeps hearing from one follower of three keeps its lease", () => {
  const cluster = new TestCluster(ids("r1", "r2", "r3"));
  cluster.campaign("r1");
  cluster.isolate("r3");
  cluster.tickAll(5 * electionTimeoutTicks);
  assert.deepEqual(cluster.leaders(), ["r1"]);
  const lease = cluster.raft("r1").status().lease!;
  assert.equal(lease.hasQuorumContact, true);
  assert.ok(cluster.raft("r1").status().currentTick - lease.quorumContactTick <= 1);
});

test("a follower that heard from its leader within the lease ignores a vote request for a higher term", () => {
  const cluster = new TestCluster(ids("r1", "r2", "r3"));
  cluster.campaign("r1");
  cluster.tickAll(2);
  const follower = cluster.raft("r2");
  const before = follower.hardState();
  const outcome = follower.step({
    type: MessageType.vote,
    from: replicaId("r3"),
    to: replicaId("r2"),
    term: before.term + 5,
    lastLogIndex: 1000,
    lastLogTerm: before.term + 4,
    transfer: false,
  });
  assert.equal(outcome.accepted, false);
  assert.equal(!outcome.accepted && outcome.reason, "leader-lease");
  assert.deepEqual(follower.hardState(), before);
  assert.equal(follower.hasReady(), false, "nothing to persist or send");
});

test("after the lease runs out the same vote request is granted", () => {
  // Seed 2 gives r2 a randomized timeout above electionTimeoutTicks, so it is still a follower
  // (with a known leader) when its lease runs out.
  const cluster = new TestCluster(ids("r1", "r2", "r3"), { seed: 2 });
  cluster.campaign("r1");
  cluster.isolate("r1");
  cluster.tick("r2", electionTimeoutTicks);
  const follower = cluster.raft("r2");
  assert.equal(follower.status().role, "follower");
  assert.equal(follower.status().leader, "r1");
  const term = follower.hardState().term;
  const outcome = follower.step({
    type: MessageType.vote,
    from: replicaId("r3"),
    to: replicaId("r2"),
    term: term + 1,
    lastLogIndex: 1000,
    lastLogTerm: term,
    transfer: false,
  });
  assert.equal(outcome.accepted, true);
  assert.equal(follower.hardState().vote, "r3");
  assert.equal(follower.hardState().term, term + 1);
});
