// CPU of one full VM sync cycle over every VM of the cluster, measured in-process on a real SQLite
// file (synchronous=FULL) holding `hosts` x `vmsPerHost` VMs.
//
// Until the periodic VM sync duty (DESIGN §6, built in wt-ha) lands, `syncCycle` below is a STAND-IN:
// it re-applies every host's unchanged full inventory through StateMachine.applyEntry, including
// encoding and decoding the log entries, which is the per-VM work a replica does when every agent
// resyncs. The integrator points `syncCycle` at the real sync function (for example: read every
// VM's reported and desired state and decide) and the benchmark measures that instead; the name
// of what was measured travels with the result (`SyncCycleResult.measured`).
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { AgentEvent__Output } from "../../common/generated/vigil/v1/AgentEvent.js";
import type { DomainStatus__Output } from "../../common/generated/vigil/v1/DomainStatus.js";
import { StateMachine } from "../../controlplane/state/apply.js";
import { decodeEntry, encodeEntry, type StateCommand } from "../../controlplane/state/commands.js";
import { openDatabase, type Db } from "../../controlplane/state/store.js";

export interface SyncCycleResult {
  /** What the cycle did (a stand-in until the sync duty exists). */
  measured: string;
  vms: number;
  /** CPU of this process (user + system) for the setup's first full inventory: every VM discovered. */
  discoveryCpuMs: number;
  /** CPU of one full sync cycle over every VM. */
  cycleCpuMs: number;
  cycleWallMs: number;
}

/** One simulated host's inventory, as the gateway proposes it (the decoded wire shape). */
export function inventoryEvent(host: number, vmsPerHost: number, seq: number): AgentEvent__Output {
  const domains: DomainStatus__Output[] = Array.from({ length: vmsPerHost }, (_, vm) => ({
    name: `bench-h${host}-vm${vm}`,
    uuid: `${String(host).padStart(8, "0")}-0000-4000-8000-${String(vm).padStart(12, "0")}`,
    state: "running",
    reason: "booted",
    vcpus: 1,
    memoryBytes: 67108864,
    persistent: true,
  }));
  return { seq, atMs: 1_700_000_000_000, recovered: false, inventory: { domains }, body: "inventory" } as AgentEvent__Output;
}

interface Cluster {
  db: Db;
  machine: StateMachine;
  hosts: number;
  vmsPerHost: number;
  nextIndex: number;
}

/** Applies `commands` as consecutive log entries, `perTransaction` to a transaction (like a Ready batch). */
function applyAll(cluster: Cluster, commands: Iterable<StateCommand>, perTransaction = 64): void {
  let batch: Uint8Array[] = [];
  const flush = () => {
    const entries = batch;
    batch = [];
    cluster.db.transaction(() => {
      for (const data of entries) cluster.machine.applyEntry(cluster.nextIndex++, decodeEntry(data));
      cluster.machine.setAppliedIndex(cluster.nextIndex - 1);
    })();
  };
  for (const command of commands) {
    batch.push(encodeEntry({ atMs: 1_700_000_000_000, term: 2, replicaId: "cp1", command }));
    if (batch.length >= perTransaction) flush();
  }
  if (batch.length > 0) flush();
}

function* inventories(cluster: Cluster, seq: number): Iterable<StateCommand> {
  for (let host = 0; host < cluster.hosts; host++) {
    yield { kind: "AgentEvents", hostId: `bench-h${host}`, events: [inventoryEvent(host, cluster.vmsPerHost, seq)] };
  }
}

/** THE STAND-IN: every host resends its full, unchanged inventory. Replace with the VM sync duty. */
function syncCycle(cluster: Cluster, cycle: number): void {
  applyAll(cluster, inventories(cluster, 1 + cycle));
}
const syncCycleMeasured = "stand-in: every host's unchanged full inventory re-applied (encode + decode + StateMachine.applyEntry), until the VM sync duty lands";

function cpuMs(): number {
  const usage = process.cpuUsage();
  return (usage.user + usage.system) / 1000;
}

export function measureSyncCycle(hosts: number, vmsPerHost: number): SyncCycleResult {
  const directory = mkdtempSync(join(tmpdir(), "vigil-bench-sync-"));
  const db = openDatabase({ path: join(directory, "vigild.db") });
  try {
    const cluster: Cluster = { db, machine: new StateMachine(db), hosts, vmsPerHost, nextIndex: 1 };
    applyAll(
      cluster,
      (function* () {
        for (let host = 0; host < hosts; host++) {
          yield { kind: "HostHello", hostId: `bench-h${host}`, bootId: "boot-1", agentVersion: "bench", migrationUri: "", cpus: 32, memoryBytes: 256 * 2 ** 30 } satisfies StateCommand;
        }
      })(),
    );
    const discoveryStart = cpuMs();
    applyAll(cluster, inventories(cluster, 1));
    const discoveryCpuMs = cpuMs() - discoveryStart;
    const cycleStart = cpuMs();
    const wallStart = performance.now();
    syncCycle(cluster, 1);
    return { measured: syncCycleMeasured, vms: hosts * vmsPerHost, discoveryCpuMs, cycleCpuMs: cpuMs() - cycleStart, cycleWallMs: performance.now() - wallStart };
  } finally {
    db.close();
    rmSync(directory, { recursive: true, force: true });
  }
}
