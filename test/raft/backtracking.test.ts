// Proves fast conflict backtracking: a follower holding a long divergent tail of an old term is repaired in one rejection, not one per entry.
import { test } from "node:test";
import assert from "node:assert/strict";
import { MessageType } from "../../controlplane/replication/raft-types.js";
import { ids, TestCluster, text } from "./harness.js";

test("a follower with 50 conflicting entries of an old term needs at most two rejections to converge", () => {
  const cluster = new TestCluster(ids("r1", "r2", "r3"));
  cluster.campaign("r1");
  // r1 leads term 2 but is cut off: its 50 proposals stay in its own log only.
  cluster.isolate("r1");
  for (let count = 0; count < 50; count += 1) cluster.raft("r1").propose(text(`lost-${count}`));
  cluster.deliverAll();
  // r2 leads term 3 with r3 and commits 100 entries that r1 never sees.
  cluster.forgetLeaders(["r2", "r3"]);
  cluster.campaign("r2");
  for (let count = 0; count < 100; count += 1) cluster.raft("r2").propose(text(`kept-${count}`));
  cluster.deliverAll();
  // r3 takes over in term 4: its progress for r1 starts beyond r1's whole log.
  cluster.crash("r2");
  cluster.heal();
  cluster.forgetLeaders(["r1", "r3"]); // r1's check-quorum makes it step down meanwhile
  const rejectionsBefore = cluster.delivered.length;
  cluster.campaign("r3");
  assert.deepEqual(cluster.leaders(), ["r3"]);

  const rejections = cluster.delivered.slice(rejectionsBefore).filter(
    (message) => message.type === MessageType.appendResponse && message.from === "r1" && message.reject,
  );
  assert.ok(rejections.length >= 1, "r1 did reject the leader's first append");
  assert.ok(rejections.length <= 2, `took ${rejections.length} rejections`);
  const first = rejections[0]!;
  assert.ok(first.type === MessageType.appendResponse && first.rejectHintIndex === 54 && first.rejectHintTerm === 2, "hint names r1's last entry and its term");
  assert.equal(cluster.raft("r1").status().lastIndex, cluster.raft("r3").status().lastIndex);
  assert.equal(cluster.raft("r1").status().commitIndex, cluster.raft("r3").status().commitIndex);
  assert.equal(cluster.replica("r1").applied.filter((value) => value.startsWith("lost-")).length, 0);
  assert.equal(cluster.replica("r1").applied.filter((value) => value.startsWith("kept-")).length, 100);
});
