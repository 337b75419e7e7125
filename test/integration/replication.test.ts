// Proves the replicated control plane with 3 real vigild processes on loopback: kill -9 and SIGSTOP
// of the leader, kill -9 of all three, catch-up through a snapshot, every acknowledged write kept on
// every replica.
import assert from "node:assert/strict";
import { after, describe, it } from "node:test";
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
import { protoPath as healthProtoPath } from "grpc-health-check";
import { TestCluster } from "../support/cluster.js";
import { waitFor } from "../support/wait.js";

interface DutyLog {
  term: number;
  dutiesStartedAtMs?: number;
  dutiesStoppedAtMs?: number;
  msg: string;
}

function dutyLines(output: string): DutyLog[] {
  return output
    .split("\n")
    .filter((line) => line.includes('"primary duties'))
    .map((line) => JSON.parse(line) as DutyLog);
}

/**
 * Writes config values from `writers` concurrent loops until `stop()` is called; returns every value
 * whose write was acknowledged.
 */
function writeContinuously(cluster: TestCluster, writers = 1) {
  const acknowledged: number[] = [];
  let value = 0;
  let stopped = false;
  const loop = async () => {
    while (!stopped) {
      value += 1;
      const mine = value;
      try {
        await cluster.setConfig("command.timeout", String(mine));
        acknowledged.push(mine);
      } catch {
        // Unacknowledged: it may or may not have committed; only acknowledged writes are checked.
      }
    }
  };
  const done = Promise.all(Array.from({ length: writers }, loop));
  return {
    acknowledged,
    count: () => acknowledged.length,
    async stop() {
      stopped = true;
      await done;
      return acknowledged;
    },
  };
}

async function assertAllPresent(cluster: TestCluster, acknowledged: number[]): Promise<void> {
  for (const replica of cluster.running()) {
    const present = await waitFor(
      async () => {
        const messages = new Set(await cluster.configEvents(replica.address));
        return acknowledged.every((value) => messages.has(`config command.timeout = ${value}`)) ? messages : undefined;
      },
      { timeoutMs: 20_000, what: `every acknowledged write on ${replica.id}` },
    );
    assert.ok(present.size >= acknowledged.length, `${replica.id} holds all ${acknowledged.length} acknowledged writes`);
  }
}

function healthOf(address: string): Promise<string> {
  const definition = protoLoader.loadSync(healthProtoPath, { enums: String })["grpc.health.v1.Health"] as grpc.ServiceDefinition;
  const Client = grpc.makeGenericClientConstructor(definition, "Health");
  const client = new Client(address, grpc.credentials.createInsecure()) as unknown as {
    Check(request: object, options: grpc.CallOptions, callback: (error: grpc.ServiceError | null, response?: { status: string }) => void): void;
    close(): void;
  };
  return new Promise((resolve, reject) =>
    client.Check({ service: "" }, { deadline: Date.now() + 2_000 }, (error, response) => {
      client.close();
      if (error !== null || response === undefined) reject(error ?? new Error("no health"));
      else resolve(response.status);
    }),
  );
}

describe("replicated control plane, 3 processes", () => {
  it("reports health SERVING only while a replica knows a leader and has caught up", async () => {
    const cluster = new TestCluster();
    after(() => cluster.stopAll());
    await cluster.start(3);
    for (const replica of cluster.replicas) {
      await waitFor(async () => (await healthOf(replica.address)) === "SERVING" || undefined, { timeoutMs: 10_000, what: `${replica.id} serving` });
    }
    const [survivor, ...others] = cluster.replicas;
    for (const replica of others) {
      replica.process!.child.kill("SIGKILL");
      await replica.process!.exited;
    }
    await waitFor(async () => (await healthOf(survivor!.address)) === "NOT_SERVING" || undefined, { timeoutMs: 10_000, what: "the replica without a quorum to stop serving" });
  });

  it("a follower stalled past the election timeout reads its leader's heartbeats before it times out: no pre-vote, no new term", async () => {
    const cluster = new TestCluster();
    after(() => cluster.stopAll());
    await cluster.start(3);
    const leader = await cluster.waitForLeader();
    const stalled = cluster.replicas.find((replica) => replica.id !== leader)!;
    const termBefore = (await cluster.status(cluster.replica(leader).address)).term;
    const outputBefore = stalled.process!.output().length;
    // A stall as an overloaded machine causes them (or a long GC): the process runs no code, its
    // timers run late, its peers' messages queue in its sockets.
    stalled.process!.child.kill("SIGSTOP");
    const stalledAtMs = performance.now();
    try {
      // Stalled long enough that its election timer (10–19 ticks of 100 ms) would fire on resume
      // if it caught up before reading: the leader has seen no answer for over an election timeout
      // (plus a margin), and a 1 s keepalive timeout would have torn down its channel by now.
      await waitFor(
        async () => {
          const status = await cluster.status(cluster.replica(leader).address);
          return status.members.some((member) => member.id === stalled.id && !member.healthy) || undefined;
        },
        { timeoutMs: 10_000, intervalMs: 100, what: `the leader to see ${stalled.id} silent for an election timeout` },
      );
      // 2.5 s in all: past the longest randomized election timeout (1.9 s) and the old keepalive's
      // 2 s + 1 s, short of the new keepalive time (5 s).
      await waitFor(() => performance.now() - stalledAtMs >= 2_500, { timeoutMs: 5_000, what: "the stall to last 2.5 s" });
    } finally {
      stalled.process!.child.kill("SIGCONT");
    }
    await waitFor(async () => ((await cluster.status(stalled.address)).leader === leader) || undefined, { timeoutMs: 10_000, what: `${stalled.id} to answer with its leader after the stall` });
    const output = stalled.process!.output().slice(outputBefore);
    assert.match(output, /event loop stalled/, "the stall was seen as one");
    assert.doesNotMatch(output, /=> pre-candidate|connection from the leader closed/, `${stalled.id} did not campaign after the stall`);
    for (const replica of cluster.replicas) {
      const status = await cluster.status(replica.address);
      assert.equal(status.term, termBefore, `${replica.id} is still in term ${termBefore}`);
      assert.equal(status.leader, leader, `${replica.id} still follows ${leader}`);
    }
  });

  it("survives kill -9 of the leader and catches the restarted replica up through a snapshot", async () => {
    const cluster = new TestCluster(["--snapshot-entries", "40", "--retained-entries", "10"]);
    after(() => cluster.stopAll());
    await cluster.start(3);
    const firstLeader = await cluster.waitForLeader();
    const writer = writeContinuously(cluster);
    await waitFor(() => writer.count() >= 20, { timeoutMs: 20_000, what: "20 writes before the fault" });

    const killed = cluster.replica(firstLeader);
    killed.process!.child.kill("SIGKILL");
    await killed.process!.exited;
    const countAtKill = writer.count();
    const newLeader = await cluster.waitForLeader({ excluding: firstLeader });
    assert.notEqual(newLeader, firstLeader);
    await waitFor(() => writer.count() >= countAtKill + 150, { timeoutMs: 60_000, what: "150 writes after the failover (several snapshots)" });

    cluster.launch(killed);
    await waitFor(() => killed.process!.output().includes("installed a snapshot from the leader") || undefined, {
      timeoutMs: 30_000,
      what: "the restarted replica to install a snapshot (its log position was compacted away)",
    });
    const acknowledged = await writer.stop();
    await assertAllPresent(cluster, acknowledged);
  });

  it("keeps every acknowledged write through kill -9 of all three replicas under concurrent writes", async () => {
    const cluster = new TestCluster();
    after(() => cluster.stopAll());
    await cluster.start(3);
    // Many writes in flight: the leader's Readies send their appends before its own fsync.
    const writer = writeContinuously(cluster, 16);
    await waitFor(() => writer.count() >= 200, { timeoutMs: 30_000, what: "200 writes before the fault" });
    const replicas = cluster.running();
    for (const replica of replicas) replica.process!.child.kill("SIGKILL");
    const acknowledged = await writer.stop();
    for (const replica of replicas) await replica.process!.exited;
    for (const replica of replicas) cluster.launch(replica);
    await cluster.waitForLeader({ timeoutMs: 30_000 });
    await assertAllPresent(cluster, acknowledged);
  });

  it("stops a SIGSTOPped leader's duties before a new primary's start, and keeps every acknowledged write", async () => {
    const cluster = new TestCluster();
    after(() => cluster.stopAll());
    await cluster.start(3);
    const firstLeader = await cluster.waitForLeader();
    const paused = cluster.replica(firstLeader);
    await waitFor(() => dutyLines(paused.process!.output()).some((line) => line.msg === "primary duties started"), { timeoutMs: 20_000, what: "the first primary's duties to start" });
    const writer = writeContinuously(cluster);
    await waitFor(() => writer.count() >= 10, { timeoutMs: 20_000, what: "10 writes before the pause" });

    paused.process!.child.kill("SIGSTOP");
    const newLeader = await cluster.waitForLeader({ excluding: firstLeader, timeoutMs: 30_000 });
    const successor = cluster.replica(newLeader);
    const started = await waitFor(() => dutyLines(successor.process!.output()).find((line) => line.msg === "primary duties started"), {
      timeoutMs: 20_000,
      what: "the new primary's duties to start",
    });
    paused.process!.child.kill("SIGCONT");
    const stopped = await waitFor(() => dutyLines(paused.process!.output()).find((line) => line.msg === "primary duties stopped"), {
      timeoutMs: 20_000,
      what: "the resumed old primary to stop its duties",
    });
    assert.ok(stopped.term < started.term, `old term ${stopped.term} < new term ${started.term}`);
    assert.ok(
      stopped.dutiesStoppedAtMs! <= started.dutiesStartedAtMs!,
      `old duties stopped at ${stopped.dutiesStoppedAtMs}, new ones started at ${started.dutiesStartedAtMs}: no overlap`,
    );
    await waitFor(() => writer.count() >= 30, { timeoutMs: 20_000, what: "writes to continue after the pause" });
    const acknowledged = await writer.stop();
    await assertAllPresent(cluster, acknowledged);
    const resumed = await cluster.status(paused.address);
    assert.notEqual(resumed.primaryState === "primary" && resumed.primary === firstLeader && resumed.leader === firstLeader, true, "the old leader no longer acts as primary");
  });
});
