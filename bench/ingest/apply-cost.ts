// The apply side of ingest alone, in-process: CPU per lifecycle event when a replica applies the
// ingest benchmark's events (the same hosts, VMs and alternating running/paused reports as
// simulated-agent.ts) from entries of a given size, on a real SQLite file with synchronous=FULL
// (each entry batch commits as a Ready would). What every replica pays per event, without the
// network or Raft; load on the machine disturbs CPU time less than wall time. Each entry is what the
// gateway proposes (AgentEventBatches): HOSTS_PER_ENTRY hosts' streams with EVENTS_PER_HOST each.
// `--entry-per-host` proposes each host's events as its own AgentEvents entry instead (what the
// gateway did before one entry carried many streams' events), for a before/after comparison.
//   node dist/bench/ingest/apply-cost.js [EVENTS_PER_HOST=64] [HOSTS_PER_ENTRY=16] [ENTRIES_PER_COMMIT=2] [ROUNDS=100] [--entry-per-host]
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import { join } from "node:path";
import type { AgentEvent__Output } from "../../common/generated/vigil/v1/AgentEvent.js";
import { StateMachine } from "../../controlplane/state/apply.js";
import { decodeEntry, encodeEntry, type StateCommand } from "../../controlplane/state/commands.js";
import { openDatabase } from "../../controlplane/state/store.js";
import { simulatedDomain, simulatedHostCapacity, simulatedHostId } from "./simulated-agent.js";

const entryPerHost = process.argv.includes("--entry-per-host");
const [eventsPerHost = 64, hostsPerEntry = 16, entriesPerCommit = 2, rounds = 100] = process.argv.slice(2).filter((arg) => !arg.startsWith("--")).map(Number);
const hosts = 200;
const vmsPerHost = 50;

const directory = mkdtempSync(join(os.tmpdir(), "vigil-apply-cost-"));
const db = openDatabase({ path: join(directory, "state.db"), synchronous: "FULL" });
const machine = new StateMachine(db);
let index = 0;
/** Applies `commands` as consecutive entries in one transaction, decoding each as a replica would. */
const commit = (commands: StateCommand[]) =>
  db.transaction(() => {
    for (const command of commands) {
      index += 1;
      machine.applyEntry(index, decodeEntry(encodeEntry({ atMs: index, term: 2, replicaId: "cp1", command })));
    }
    machine.setAppliedIndex(index);
  })();

const seqs = new Array<number>(hosts).fill(0);
const nextVm = new Array<number>(hosts).fill(0);
const event = (host: number, body: Omit<AgentEvent__Output, "seq" | "atMs" | "recovered">): AgentEvent__Output => ({ seq: ++seqs[host]!, atMs: 0, recovered: false, ...body }) as AgentEvent__Output;
for (let host = 0; host < hosts; host++) {
  const hostId = simulatedHostId(host);
  commit([{ kind: "HostHello", hostId, bootId: "b", agentVersion: "bench", migrationUri: "", cpus: simulatedHostCapacity.cpus, memoryBytes: simulatedHostCapacity.memoryBytes }]);
  const domains = Array.from({ length: vmsPerHost }, (_, vm) => simulatedDomain(host, vm, true));
  commit([{ kind: "AgentEvents", hostId, events: [event(host, { body: "inventory", inventory: { domains } } as never)] }]);
}

/** `host`'s next lifecycle events, as SimulatedAgent.emit makes them. */
function lifecycleEvents(host: number): { hostId: string; events: AgentEvent__Output[] } {
  const events = Array.from({ length: eventsPerHost }, () => {
    const vm = nextVm[host]! % vmsPerHost;
    const running = Math.floor(nextVm[host]! / vmsPerHost) % 2 === 1;
    nextVm[host]! += 1;
    return event(host, { body: "lifecycle", lifecycle: { domain: simulatedDomain(host, vm, running), event: running ? "resumed" : "suspended", detail: running ? "unpaused" : "paused" } } as never);
  });
  return { hostId: simulatedHostId(host), events };
}

let host = 0;
const started = process.cpuUsage();
const wallStarted = performance.now();
for (let round = 0; round < rounds; round++) {
  const entries = Array.from({ length: entriesPerCommit }, () => Array.from({ length: hostsPerEntry }, () => lifecycleEvents(host++ % hosts)));
  commit(entryPerHost ? entries.flat().map((batch): StateCommand => ({ kind: "AgentEvents", ...batch })) : entries.map((batches) => ({ kind: "AgentEventBatches", hosts: batches }) as unknown as StateCommand));
}
const cpu = process.cpuUsage(started);
const events = rounds * entriesPerCommit * hostsPerEntry * eventsPerHost;
const cpuUs = cpu.user + cpu.system;
process.stdout.write(
  `${JSON.stringify({ entryPerHost, eventsPerHost, hostsPerEntry, entriesPerCommit, events, cpuUsPerEvent: Math.round((cpuUs / events) * 100) / 100, wallUsPerEvent: Math.round(((performance.now() - wallStarted) * 1000 * 100) / events) / 100, loadAverage: os.loadavg().map((value) => Math.round(value * 100) / 100) })}\n`,
);
db.close();
rmSync(directory, { recursive: true, force: true });
