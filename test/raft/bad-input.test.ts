// Proves bad peer input is refused with a clear reason and no state change: stale terms, unknown members, misaddressed messages.
import { test } from "node:test";
import assert from "node:assert/strict";
import type { Raft } from "../../controlplane/replication/raft.js";
import { MessageType, replicaId, type Message, type StepOutcome } from "../../controlplane/replication/raft-types.js";
import { ids, TestCluster } from "./harness.js";

const r1 = replicaId("r1");
const r2 = replicaId("r2");
const stranger = replicaId("r9");

/** A cluster where r1 leads term 3 (after one earlier election), and r2 follows. */
function steadyCluster(): TestCluster {
  const cluster = new TestCluster(ids("r1", "r2", "r3"));
  cluster.campaign("r2");
  cluster.forgetLeaders(["r1", "r2", "r3"]);
  cluster.campaign("r1");
  cluster.tickAll(2);
  assert.equal(cluster.raft("r1").status().term, 3);
  return cluster;
}

function snapshotOf(raft: Raft): unknown {
  const { currentTick: _tick, lease: _lease, ...status } = raft.status();
  return { status, hardState: raft.hardState(), softState: raft.softState() };
}

function assertRefused(raft: Raft, message: Message, reason: string): StepOutcome {
  const before = snapshotOf(raft);
  const outcome = raft.step(message);
  assert.equal(outcome.accepted, false, `${message.type} was accepted`);
  assert.equal(!outcome.accepted && outcome.reason, reason);
  assert.ok(!outcome.accepted && outcome.detail.length > 0, "the rejection explains itself");
  assert.deepEqual(snapshotOf(raft), before, `${message.type} changed state`);
  return outcome;
}

test("messages of an older term are refused and change no state", () => {
  const cluster = steadyCluster();
  const follower = cluster.raft("r2");
  const old = 2;
  const stale: Message[] = [
    { type: MessageType.append, from: r1, to: r2, term: old, previousIndex: 4, previousTerm: 2, entries: [], commitIndex: 4 },
    { type: MessageType.heartbeat, from: r1, to: r2, term: old, commitIndex: 4, readSequence: 0 },
    { type: MessageType.vote, from: r1, to: r2, term: old, lastLogIndex: 99, lastLogTerm: 2, transfer: false },
    { type: MessageType.preVote, from: r1, to: r2, term: old, lastLogIndex: 99, lastLogTerm: 2, transfer: false },
    { type: MessageType.voteResponse, from: r1, to: r2, term: old, reject: false },
    { type: MessageType.installSnapshot, from: r1, to: r2, term: old, snapshot: cluster.replica("r1").storage.snapshot() },
    { type: MessageType.timeoutNow, from: r1, to: r2, term: old },
  ];
  for (const message of stale) {
    const outcome = assertRefused(follower, message, "stale-term");
    assert.match(!outcome.accepted ? outcome.detail : "", /term 2, below r2's term 3/);
  }
  const leader = cluster.raft("r1");
  assertRefused(leader, { type: MessageType.appendResponse, from: r2, to: r1, term: old, index: 99, reject: false, rejectHintIndex: 0, rejectHintTerm: 0 }, "stale-term");
});

test("a stale leader's append is answered with the current term so that it steps down", () => {
  const cluster = steadyCluster();
  const follower = cluster.raft("r2");
  follower.step({ type: MessageType.heartbeat, from: r1, to: r2, term: 2, commitIndex: 0, readSequence: 0 });
  const ready = follower.ready();
  const answer = ready.messages.find((message) => message.to === "r1");
  assert.ok(answer !== undefined && answer.type === MessageType.appendResponse && answer.term === 3);
  assert.equal(ready.hardState, null, "nothing new to persist");
  assert.deepEqual(ready.entries, []);
  follower.advance(ready);
});

test("messages from a replica outside the configuration are refused and change no state", () => {
  const cluster = steadyCluster();
  const follower = cluster.raft("r2");
  const term = follower.hardState().term;
  const last = follower.status().lastIndex;
  const fromStranger: Message[] = [
    { type: MessageType.vote, from: stranger, to: r2, term: term + 1, lastLogIndex: last, lastLogTerm: term, transfer: false },
    { type: MessageType.preVote, from: stranger, to: r2, term: term + 1, lastLogIndex: last, lastLogTerm: term, transfer: false },
    { type: MessageType.voteResponse, from: stranger, to: r2, term, reject: false },
    { type: MessageType.heartbeatResponse, from: stranger, to: r2, term, readSequence: 1 },
    { type: MessageType.timeoutNow, from: stranger, to: r2, term: term + 7 },
    { type: MessageType.readIndex, from: stranger, to: r2, term, context: "read" },
  ];
  for (const message of fromStranger) assertRefused(follower, message, "unknown-member");
  const leader = cluster.raft("r1");
  assertRefused(leader, { type: MessageType.appendResponse, from: stranger, to: r1, term, index: 99, reject: false, rejectHintIndex: 0, rejectHintTerm: 0 }, "unknown-member");
  assert.equal(follower.hasReady(), false, "not even an answer is sent");
});

test("a message addressed to another replica, or claiming to come from us, is refused", () => {
  const cluster = steadyCluster();
  const follower = cluster.raft("r2");
  assertRefused(follower, { type: MessageType.heartbeat, from: r1, to: replicaId("r3"), term: 3, commitIndex: 0, readSequence: 0 }, "misaddressed");
  assertRefused(follower, { type: MessageType.heartbeat, from: r2, to: r2, term: 3, commitIndex: 0, readSequence: 0 }, "misaddressed");
});

test("a joining replica accepts its leader's log although it knows no member yet", () => {
  const cluster = steadyCluster();
  cluster.addReplica(replicaId("r4"));
  const joining = cluster.raft("r4");
  assert.deepEqual(joining.status().voters, []);
  const outcome = joining.step({ type: MessageType.heartbeat, from: r1, to: replicaId("r4"), term: 3, commitIndex: 0, readSequence: 0 });
  assert.deepEqual(outcome, { accepted: true });
  assert.equal(joining.status().leader, "r1");
});
