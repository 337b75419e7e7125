// Proves snapshots: a follower behind the leader's compacted log gets InstallSnapshot, restores the state machine, and keeps it across a restart.
import { test } from "node:test";
import assert from "node:assert/strict";
import { MessageType } from "../../controlplane/replication/raft-types.js";
import { ids, snapshotAndCompact, TestCluster, text } from "./harness.js";

function clusterWithLaggingFollower(): TestCluster {
  const cluster = new TestCluster(ids("r1", "r2", "r3"));
  cluster.campaign("r1");
  cluster.crash("r3");
  for (let count = 0; count < 20; count += 1) cluster.raft("r1").propose(text(`v${count}`));
  cluster.deliverAll();
  snapshotAndCompact(cluster.replica("r1"));
  assert.ok(cluster.replica("r1").storage.firstIndex() > cluster.replica("r3").storage.lastIndex() + 1, "r3's next entry is gone");
  return cluster;
}

test("a follower whose next entry was compacted away receives the snapshot and catches up", () => {
  const cluster = clusterWithLaggingFollower();
  cluster.restart("r3");
  cluster.tickAll(3);
  const snapshots = cluster.delivered.filter((message) => message.type === MessageType.installSnapshot && message.to === "r3");
  assert.equal(snapshots.length, 1);
  assert.deepEqual(cluster.replica("r3").applied, cluster.replica("r1").applied);
  assert.equal(cluster.replica("r3").storage.snapshot().metadata.index, cluster.replica("r1").storage.snapshot().metadata.index);
  assert.deepEqual(cluster.replica("r3").storage.snapshot().metadata.confState.voters, ["r1", "r2", "r3"]);
  // Replication continues normally after the snapshot.
  cluster.raft("r1").propose(text("after"));
  cluster.tickAll(2);
  assert.equal(cluster.replica("r3").applied.at(-1), "after");
});

test("a lost snapshot is sent again after an election timeout", () => {
  const cluster = clusterWithLaggingFollower();
  cluster.restart("r3");
  let dropped = 0;
  cluster.dropIf = (message) => {
    if (message.type !== MessageType.installSnapshot || dropped > 0) return false;
    dropped += 1;
    return true;
  };
  cluster.tickAll(15);
  assert.equal(dropped, 1);
  assert.deepEqual(cluster.replica("r3").applied, cluster.replica("r1").applied);
});

test("a replica restarts from its installed snapshot and the entries after it", () => {
  const cluster = clusterWithLaggingFollower();
  cluster.restart("r3");
  cluster.tickAll(3);
  cluster.raft("r1").propose(text("tail"));
  cluster.tickAll(2);
  const appliedBefore = [...cluster.replica("r3").applied];
  cluster.crash("r3");
  cluster.restart("r3");
  const status = cluster.raft("r3").status();
  assert.equal(status.firstIndex, cluster.replica("r3").storage.snapshot().metadata.index + 1);
  assert.deepEqual(status.voters, ["r1", "r2", "r3"]);
  cluster.tickAll(3);
  assert.deepEqual(cluster.replica("r3").applied, appliedBefore);
  assert.equal(cluster.raft("r3").status().leader, "r1");
});

test("a leader elected after compaction still serves snapshots and appends", () => {
  const cluster = clusterWithLaggingFollower();
  snapshotAndCompact(cluster.replica("r2"), 2);
  cluster.crash("r1");
  cluster.restart("r3");
  cluster.forgetLeaders(["r2", "r3"]);
  cluster.campaign("r2");
  assert.deepEqual(cluster.leaders(), ["r2"]);
  cluster.raft("r2").propose(text("new leader"));
  cluster.tickAll(3);
  assert.equal(cluster.replica("r3").applied.at(-1), "new leader");
  assert.equal(cluster.replica("r3").applied.length, 21);
});
