// CPU of one full VM sync cycle over every VM of the cluster, measured in-process on a real SQLite
// file (synchronous=FULL) holding `hosts` x `vmsPerHost` VMs, discovered through the agents'
// inventories (StateMachine.applyEntry, as the replicas apply them).
//
// The cycle is the HA duty's restart step (controlplane/primary/ha-duty.ts planRestartStep), which
// the primary runs every tick (DESIGN §6): the VMs HA may act on (StateReader.vmsNeedingHa, through
// partial indexes), and when there are any, every host, the hosts' provisioned sums (one GROUP BY),
// the skip-trace set and the unresolved jobs, then planRestarts over them. Every host is connected
// (a session with stats, as the primary holds them). Two states are timed: the steady state, every
// VM running where it should (the cycle finds nothing to do), and one host of 20 VMs fenced (the
// cycle reads everything it needs and plans restarts). What was measured travels with the result.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { AgentEvent__Output } from "../../common/generated/vigil/v1/AgentEvent.js";
import type { DomainStatus__Output } from "../../common/generated/vigil/v1/DomainStatus.js";
import { clusterConfig } from "../../controlplane/context.js";
import { planRestartStep } from "../../controlplane/primary/ha-duty.js";
import { SessionRegistry } from "../../controlplane/primary/sessions.js";
import { StateMachine } from "../../controlplane/state/apply.js";
import { decodeEntry, encodeEntry, type StateCommand } from "../../controlplane/state/commands.js";
import { openDatabase, StateReader, type Db } from "../../controlplane/state/store.js";

export interface SyncCycleResult {
  /** What the cycle did. */
  measured: string;
  vms: number;
  /** CPU of this process (user + system) for the setup's first full inventory: every VM discovered. */
  discoveryCpuMs: number;
  /** CPU of one full sync cycle over every VM, warm (the median of the cycles after the first): the primary repeats it every tick. */
  cycleCpuMs: number;
  cycleWallMs: number;
  /** CPU of the first cycle (statements prepared, code not yet optimised). */
  firstCycleCpuMs: number;
  /** Effects the cycle decided (0 in the steady state it measures). */
  cycleEffects: number;
  /** CPU of one cycle, warm (median), with one host's VMs to restart: hosts and their sums read, restarts planned. */
  restartingCycleCpuMs: number;
  restartingCycleWallMs: number;
  /** Effects that cycle decided (ha.maxConcurrentRestarts restarts). */
  restartingCycleEffects: number;
  /** CPU of reading every host (StateReader.listHosts), warm (median): the HA duty's liveness step does it every tick. */
  hostsReadCpuMs: number;
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

/** Every host connected to this primary, with the stats its heartbeats carry. */
function connectedSessions(hosts: number, vmsPerHost: number): SessionRegistry {
  const sessions = new SessionRegistry();
  for (let host = 0; host < hosts; host++) {
    const stats = { cpus: 32, memoryBytes: 256 * 2 ** 30, freeMemoryBytes: 128 * 2 ** 30, memoryProvisionedBytes: vmsPerHost * 67108864, load: 1.5, vcpusProvisioned: vmsPerHost, vmCount: vmsPerHost };
    sessions.put({ hostId: `bench-h${host}`, bootId: "boot-1", sessionId: "session-1", via: null, connectedAtMs: 1_700_000_000_000, lastHeartbeatMs: 1_700_000_000_000, stats, send: () => {}, close: () => {} });
  }
  return sessions;
}

/** One cycle of the HA duty's restart step over every VM and host; returns the effects it decided. */
function syncCycle(reader: StateReader, sessions: SessionRegistry): number {
  return planRestartStep(reader, sessions, clusterConfig(reader), 1_700_000_001_000).length;
}
const syncCycleMeasured =
  "the HA duty's restart step (ha-duty.ts planRestartStep: the VMs HA may act on read through partial indexes, then, when there are any, every host, their provisioned sums, skip-trace and unresolved jobs, and planRestarts), every host connected, nothing to restart";

/** Cycles timed after the first; the median is the figure. */
const warmCycles = 3;

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
    const sessions = connectedSessions(hosts, vmsPerHost);
    const reader = new StateReader(db);
    const timeCycles = () => {
      const cycles = Array.from({ length: 1 + warmCycles }, () => {
        const cycleStart = cpuMs();
        const wallStart = performance.now();
        const effects = syncCycle(reader, sessions);
        return { cpuMs: cpuMs() - cycleStart, wallMs: performance.now() - wallStart, effects };
      });
      return { first: cycles[0]!, warm: cycles.slice(1).sort((a, b) => a.cpuMs - b.cpuMs)[Math.floor(warmCycles / 2)]! };
    };
    const steady = timeCycles();
    const hostsReads = Array.from({ length: 1 + warmCycles }, () => {
      const readStart = cpuMs();
      reader.listHosts();
      return cpuMs() - readStart;
    });
    const hostsReadCpuMs = hostsReads.slice(1).sort((a, b) => a - b)[Math.floor(warmCycles / 2)]!;
    // One host fenced: its VMs are shut off by the fence and wait for HA (nothing is committed, so every cycle plans the same).
    applyAll(cluster, [{ kind: "HostLiveness", hostId: "bench-h0", liveness: "fenced", missedKeepalives: 6, reason: "bench: fence confirmed" }]);
    const restarting = timeCycles();
    return {
      measured: syncCycleMeasured,
      vms: hosts * vmsPerHost,
      discoveryCpuMs,
      cycleCpuMs: steady.warm.cpuMs,
      cycleWallMs: steady.warm.wallMs,
      firstCycleCpuMs: steady.first.cpuMs,
      cycleEffects: steady.first.effects,
      restartingCycleCpuMs: restarting.warm.cpuMs,
      restartingCycleWallMs: restarting.warm.wallMs,
      restartingCycleEffects: restarting.first.effects,
      hostsReadCpuMs,
    };
  } finally {
    db.close();
    rmSync(directory, { recursive: true, force: true });
  }
}
