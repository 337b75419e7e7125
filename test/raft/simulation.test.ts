// Proves the Raft core safe and live over 1,000 seeded simulations (3 and 5 replicas, faults, crashes, snapshots, membership, transfers).
import { test } from "node:test";
import assert from "node:assert/strict";
import { replayCommand, runSimulation } from "./simulation.js";

const seedCount = Number(process.env.VIGIL_RAFT_SEEDS ?? 1000);
const firstSeed = Number(process.env.VIGIL_RAFT_FROM ?? 1);

test(`${seedCount} seeds: every step safe, every healed run converges`, () => {
  const failures: string[] = [];
  const replicaCounts = new Set<number>();
  let snapshots = 0;
  let membershipChanges = 0;
  for (let seed = firstSeed; seed < firstSeed + seedCount; seed += 1) {
    const result = runSimulation({ seed });
    replicaCounts.add(result.swarm.founders);
    snapshots += result.stats.snapshotsInstalled;
    membershipChanges += result.stats.configurationChanges;
    if (result.failure === null) continue;
    const { invariant, detail, step } = result.failure;
    failures.push(`seed ${seed} step ${step}: ${invariant}: ${detail}\n  replay: ${replayCommand({ seed })}`);
    if (failures.length >= 5) break;
  }
  assert.deepEqual(failures, []);
  assert.deepEqual([...replicaCounts].sort(), [3, 5]);
  assert.ok(snapshots > 0, "some runs installed snapshots");
  assert.ok(membershipChanges > 0, "some runs changed membership");
});
