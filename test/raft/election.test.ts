// Proves elections: one leader after the randomized timeout, votes only for up-to-date logs, and randomized timeouts in [T, 2T).
import { test } from "node:test";
import assert from "node:assert/strict";
import { seededRng } from "../../common/env.js";
import { Raft } from "../../controlplane/replication/raft.js";
import { MemoryStorage } from "../../controlplane/replication/raft-memory-storage.js";
import { electionTimeoutTicks, ids, TestCluster, text } from "./harness.js";

test("a fresh three-replica cluster elects exactly one leader and commits its empty entry everywhere", () => {
  const cluster = new TestCluster(ids("r1", "r2", "r3"));
  cluster.tickAll(2 * electionTimeoutTicks);
  const leaders = cluster.leaders();
  assert.equal(leaders.length, 1);
  const leader = leaders[0]!;
  for (const id of cluster.sortedIds()) {
    const status = cluster.raft(id).status();
    assert.equal(status.leader, leader);
    assert.equal(status.term, cluster.raft(leader).status().term);
    // Three bootstrap configuration entries plus the leader's empty entry.
    assert.equal(status.commitIndex, 4);
    assert.equal(status.appliedIndex, 4);
  }
});

test("the first replica to time out wins, and the others follow it", () => {
  const cluster = new TestCluster(ids("r1", "r2", "r3"));
  cluster.campaign("r2");
  assert.deepEqual(cluster.leaders(), ["r2"]);
  assert.equal(cluster.raft("r1").status().leader, "r2");
  assert.equal(cluster.raft("r3").status().leader, "r2");
  assert.equal(cluster.raft("r2").status().term, 2);
});

test("a replica whose log is behind gets no votes", () => {
  const cluster = new TestCluster(ids("r1", "r2", "r3"));
  cluster.campaign("r1");
  cluster.isolate("r3");
  assert.equal(cluster.raft("r1").propose(text("x")).accepted, true);
  cluster.deliverAll();
  cluster.heal();
  // Cut everyone off until r2 and r3 forget r1; pre-votes that reach nobody change no term.
  cluster.dropIf = () => true;
  cluster.tickAll(2 * electionTimeoutTicks);
  cluster.heal();
  cluster.isolate("r1");
  const before = cluster.raft("r2").status();
  cluster.campaign("r3");
  assert.notEqual(cluster.raft("r3").status().role, "leader");
  assert.equal(cluster.raft("r2").status().term, before.term, "a refused pre-vote moves no term");
  assert.equal(cluster.raft("r2").status().vote, before.vote);
  cluster.campaign("r2");
  assert.equal(cluster.raft("r2").status().role, "leader");
});

test("a single-replica cluster elects itself and commits proposals at once", () => {
  const cluster = new TestCluster(ids("solo"));
  cluster.campaign("solo");
  const outcome = cluster.raft("solo").propose(text("only"));
  assert.equal(outcome.accepted, true);
  cluster.deliverAll();
  assert.deepEqual(cluster.replica("solo").applied, ["only"]);
});

test("randomized election timeouts fall in [electionTimeoutTicks, 2 * electionTimeoutTicks)", () => {
  const observed = new Set<number>();
  for (let seed = 1; seed <= 200; seed += 1) {
    const raft = new Raft({
      id: ids("r1")[0]!,
      storage: MemoryStorage.bootstrap(ids("r1", "r2", "r3")),
      rng: seededRng(seed),
      electionTimeoutTicks,
      heartbeatIntervalTicks: 1,
    });
    let ticks = 0;
    while (raft.status().role === "follower") {
      raft.tick();
      ticks += 1;
      assert.ok(ticks < 2 * electionTimeoutTicks, "campaigned before twice the timeout");
    }
    assert.ok(ticks >= electionTimeoutTicks);
    observed.add(ticks);
  }
  assert.ok(observed.size > electionTimeoutTicks / 2, "timeouts are spread out");
});
