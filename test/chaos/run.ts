// One chaos run with real processes (DESIGN §10 with real vigild, vigil-agent and vigilctl):
//  1. start 3 replicas and the agents behind fault proxies, wait until they have converged;
//  2. clients call random replicas concurrently and record a history;
//  3. fault windows from the seeded schedule (kill -9, SIGSTOP/SIGCONT, link faults, partitions),
//     each followed by healing everything and a bounded wait for convergence;
//  4. stop the clients, converge once more, then check:
//     (a) the config registers' history is linearizable;
//     (b) no acknowledged agent event is lost, none applied twice, on every replica;
//     (c) no VM ran on two hosts, one primary takeover and one leader per term, and the replicas'
//         event logs agree;
//     (d) every client call ended within its bound, every convergence within its bound.
import { cpSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { within } from "../../agent/disk-sync.js";
import { seededRng, systemTimers } from "../../common/env.js";
import { findConfigKey } from "../../controlplane/state/config-keys.js";
import { stopProcess, temporaryDirectory } from "../support/processes.js";
import { waitFor } from "../support/wait.js";
import { agentsNeverShareAVm, agentTermsNeverGoBack, callsEndedWithinBounds, convergencesWithinBound, eventLogsAgree, eventsAppliedExactlyOnce, neverRunningTwice, oneLeaderPerTerm, oneTakeoverPerTerm, readAdmittedTerms, readEventLog, type EventRow, type ReplicaEventView } from "./checks.js";
import { History, wallMs } from "./history.js";
import { checkRegisterHistory, describeVerdicts } from "./linearizability.js";
import { describeFault, faultWindow, type ScheduledFault } from "./schedule.js";
import { registerKeys, Workload } from "./workload.js";
import { ChaosWorld, firstLine, readJournalSeqs, type Heal } from "./world.js";

export interface ChaosOptions {
  seed: number;
  /** Total time of the fault windows; each window is followed by a convergence wait. */
  durationMs: number;
  windowMs: number;
  meanGapMs: number;
  hosts: number;
  vmsPerHost: number;
  /** Bound on each convergence after healing (DESIGN §10.6: a healed cluster converges). */
  convergeBoundMs: number;
  registerClients: number;
  vmClients: number;
  /** Where process logs are kept when the run fails. */
  failureLogsDirectory: string;
  log(line: string): void;
}

export const defaultChaosOptions: Omit<ChaosOptions, "seed" | "durationMs" | "failureLogsDirectory" | "log"> = {
  windowMs: 30_000,
  meanGapMs: 2_500,
  hosts: 3,
  vmsPerHost: 3,
  convergeBoundMs: 90_000,
  registerClients: 3,
  vmClients: 2,
};

export interface ChaosResult {
  seed: number;
  violations: string[];
  summary: string[];
  logsDirectory: string | null;
}

export interface ChaosHooks {
  /** Called once the processes exist, so a test can register their cleanup before any wait. */
  onWorld?(world: ChaosWorld): void;
}

/** vigild answers a VM call within this (config command.timeout, set for the run). */
const commandTimeoutS = 15;
/** Bound on draining every agent's outbox once the cluster is quiet. */
const drainBoundMs = 60_000;
/** Bound on a replica applying a drained agent's last event. */
const applyBoundMs = 20_000;

export async function runChaos(options: ChaosOptions, hooks: ChaosHooks = {}): Promise<ChaosResult> {
  const directory = temporaryDirectory("chaos");
  const world = new ChaosWorld({ directory: directory.path, hosts: options.hosts, vmsPerHost: options.vmsPerHost, log: options.log });
  hooks.onWorld?.(world);
  const violations: string[] = [];
  const summary: string[] = [];
  const history = new History();
  const maxAcked = new Map<string, number>();
  let workload: Workload | null = null;
  let sampler: NodeJS.Timeout | null = null;
  const startedMs = performance.now();
  try {
    await world.start();
    const startup = await world.converge(options.convergeBoundMs);
    summary.push(`startup: 3 replicas, ${options.hosts} agents x ${options.vmsPerHost} VMs converged in ${(startup.tookMs / 1000).toFixed(1)} s`);
    await world.cluster.setConfig("command.timeout", String(commandTimeoutS), 10_000);
    const topology = { replicas: world.replicaIds, hosts: world.hostIds };
    const replicas = world.cluster.replicas.map((replica) => ({ id: replica.id, address: replica.address }));
    workload = new Workload({ rng: seededRng(options.seed ^ 0x5eed), history, replicas, vms: world.vmNames(), commandTimeoutMs: commandTimeoutS * 1000, registerClients: options.registerClients, vmClients: options.vmClients });
    workload.start();
    sampler = setInterval(() => sampleAcks(world, maxAcked), 500);

    const convergences: { what: string; tookMs: number | null }[] = [];
    let faultCount = 0;
    for (let window = 0; window * options.windowMs < options.durationMs; window++) {
      const faults = faultWindow(options.seed, window, topology, { windowMs: options.windowMs, meanGapMs: options.meanGapMs });
      options.log(`window ${window}: ${faults.length} faults`);
      faultCount += faults.length;
      await runWindow(world, faults, options);
      world.healEverything();
      try {
        const { tookMs, waitedFor } = await world.converge(options.convergeBoundMs);
        convergences.push({ what: `window ${window}`, tookMs });
        options.log(`window ${window}: healed, converged in ${(tookMs / 1000).toFixed(1)} s${waitedFor === "" ? "" : ` (first waited for ${waitedFor})`}`);
      } catch (error) {
        convergences.push({ what: `window ${window} (${(error as Error).message})`, tookMs: null });
        break;
      }
    }
    options.log("stopping the clients");
    await workload.stop().catch((error: Error) => violations.push(`(d) ${error.message}`));
    const leaders = workload.leaders;
    workload = null;
    clearInterval(sampler);
    sampler = null;
    const converged = convergences.flatMap(({ tookMs }) => (tookMs === null ? [] : [`${(tookMs / 1000).toFixed(1)}`]));
    summary.push(`faults: ${faultCount} in ${Math.ceil(options.durationMs / options.windowMs)} windows of ${options.windowMs / 1000} s; convergence after healing ${converged.join(", ")} s (bound ${options.convergeBoundMs / 1000} s)`);
    if (convergences.every(({ tookMs }) => tookMs !== null)) {
      options.log("final convergence");
      await world.converge(options.convergeBoundMs).then(
        ({ tookMs }) => convergences.push({ what: "final convergence", tookMs }),
        (error: Error) => convergences.push({ what: `final convergence (${error.message})`, tookMs: null }),
      );
    }
    violations.push(...convergencesWithinBound(convergences, options.convergeBoundMs).map((text) => `(d) ${text}`));
    options.log("draining the agents' outboxes and checking their events");
    violations.push(...(await checkEvents(world, maxAcked, summary)));
    violations.push(...checkHistory(history, summary, startedMs));
    violations.push(...oneLeaderPerTerm(leaders).map((text) => `(c) ${text}`));
    violations.push(...checkAttribution(world, summary));
    options.log("stopping the replicas");
    violations.push(...(await stopReplicas(world)));
    violations.push(...checkEventLogs(world, summary));
  } catch (error) {
    violations.push(`the run itself failed: ${(error as Error).stack ?? String(error)}`);
  } finally {
    if (sampler !== null) clearInterval(sampler);
    if (workload !== null) await workload.stop().catch(() => undefined);
  }
  let logsDirectory: string | null = null;
  if (violations.length > 0) {
    logsDirectory = world.writeLogs(join(options.failureLogsDirectory, `chaos-seed-${options.seed}`));
    copyDataDirs(world, logsDirectory);
    writeFileSync(join(logsDirectory, "history.json"), JSON.stringify({ seed: options.seed, calls: history.all(), violations }, null, 1));
    options.log(`process logs and data dirs kept in ${logsDirectory}`);
  }
  options.log("stopping every process and proxy");
  await world.stop().catch((error: Error) => violations.push(`stopping the processes failed: ${error.message}`));
  directory.remove();
  summary.push(`run took ${((performance.now() - startedMs) / 1000).toFixed(1)} s`);
  return { seed: options.seed, violations, summary, logsDirectory };
}

/** Bound on a fault still being applied when its window ends (a kill -9 awaiting the exit, a transfer its answer). */
const applyingBoundMs = 15_000;

async function runWindow(world: ChaosWorld, faults: readonly ScheduledFault[], options: ChaosOptions): Promise<void> {
  const timers: NodeJS.Timeout[] = [];
  const applying = new Set<Promise<void>>();
  let over = false;
  const windowStartMs = performance.now();
  for (const scheduled of faults) {
    timers.push(
      setTimeout(() => {
        const lateMs = performance.now() - windowStartMs - scheduled.atMs;
        options.log(`  +${(scheduled.atMs / 1000).toFixed(1)} s ${describeFault(scheduled.fault)}${lateMs > 1_000 ? ` (${(lateMs / 1000).toFixed(1)} s late)` : ""}`);
        const applied = world.apply(scheduled.fault).then(
          (heal: Heal) => {
            // Past the window's end, healEverything undoes the fault; a timer set now would outlive the window.
            if (over) return;
            const durationMs = "downMs" in scheduled.fault ? scheduled.fault.downMs : "durationMs" in scheduled.fault ? scheduled.fault.durationMs : 0;
            timers.push(setTimeout(heal, durationMs));
          },
          (error: Error) => options.log(`  fault failed to apply: ${error.message}`),
        );
        applying.add(applied);
        void applied.finally(() => applying.delete(applied));
      }, scheduled.atMs),
    );
  }
  // The window's own length is the workload's pacing, not a synchronisation.
  await new Promise((resolve) => setTimeout(resolve, options.windowMs));
  over = true;
  for (const timer of timers) clearTimeout(timer);
  // A fault still being applied must be in force (a killed replica marked down) before the heal, or it would outlive it.
  await within(Promise.all(applying), applyingBoundMs, systemTimers, `the faults still being applied at the window's end`).catch((error: Error) => options.log(`  ${error.message}`));
}

function sampleAcks(world: ChaosWorld, maxAcked: Map<string, number>): void {
  for (const agent of world.agents) {
    try {
      const { lastAckedSeq } = readJournalSeqs(agent.stateDir);
      maxAcked.set(agent.hostId, Math.max(maxAcked.get(agent.hostId) ?? 0, lastAckedSeq));
    } catch {
      // The journal may be mid-recovery after a kill -9; the next sample reads it.
    }
  }
}

/** (b): drain every outbox, stop the agents, and compare each replica's view with each journal. */
async function checkEvents(world: ChaosWorld, maxAcked: Map<string, number>, summary: string[]): Promise<string[]> {
  const violations: string[] = [];
  for (const agent of world.agents) {
    await waitFor(() => {
      const seqs = readJournalSeqs(agent.stateDir);
      return seqs.lastSeq === seqs.lastAckedSeq || undefined;
    }, { timeoutMs: drainBoundMs, what: `${agent.hostId}'s outbox to drain` }).catch((error: Error) => violations.push(`(d) ${error.message}`));
  }
  sampleAcks(world, maxAcked);
  await world.stopAgents().catch((error: Error) => violations.push(`(d) ${error.message}`));
  const totals: string[] = [];
  for (const agent of world.agents) {
    const { lastSeq } = readJournalSeqs(agent.stateDir);
    totals.push(`${agent.hostId} ${lastSeq}`);
    const views: ReplicaEventView[] = [];
    for (const replica of world.cluster.replicas) {
      let applied: ReplicaEventView["applied"] = null;
      // Bounded: a replica that stays behind is reported below with what it applied last.
      await waitFor(
        async () => {
          const found = (await world.hosts(replica.address)).hosts.find((candidate) => candidate.id === agent.hostId);
          if (found !== undefined) applied = { appliedSeq: found.appliedSeq, eventsApplied: found.eventsApplied };
          return found !== undefined && found.appliedSeq >= lastSeq;
        },
        { timeoutMs: applyBoundMs, what: `${replica.id} to apply all ${lastSeq} events of ${agent.hostId}` },
      ).catch((error: Error) => violations.push(`(d) ${error.message}`));
      views.push({ replica: replica.id, applied });
    }
    violations.push(...eventsAppliedExactlyOnce(agent.hostId, { lastSeq, highestAcked: maxAcked.get(agent.hostId) ?? 0 }, views).map((text) => `(b) ${text}`));
  }
  summary.push(`agent events journaled and applied exactly once on every replica: ${totals.join(", ")}`);
  const admitted = world.agents.map((agent) => ({ hostId: agent.hostId, commands: readAdmittedTerms(join(agent.stateDir, "journal.db")) }));
  for (const { hostId, commands } of admitted) violations.push(...agentTermsNeverGoBack(hostId, commands).map((text) => `(c) ${text}`));
  summary.push(`commands admitted by agents: ${admitted.map(({ hostId, commands }) => `${hostId} ${commands.length} (terms ${[...new Set(commands.map((command) => command.term))].join(",")})`).join(", ")}`);
  return violations;
}

/** (a) and (d) over the clients' history. */
function checkHistory(history: History, summary: string[], startedMs: number): string[] {
  const violations: string[] = [];
  const operations = history.registerOperations();
  const checkStartMs = performance.now();
  const verdicts = checkRegisterHistory(operations, { initialValue: (key) => initialRegisterValues.get(key) ?? "" });
  const originMs = wallMs() - (performance.now() - startedMs);
  const report = describeVerdicts(verdicts, operations, originMs);
  if (report !== "") violations.push(`(a) the config registers' history is not linearizable:\n${report}`);
  summary.push(
    `linearizability: ${verdicts.map((verdict) => `${verdict.key} ${verdict.linearizable ? "ok" : verdict.undecided ? "UNDECIDED" : "VIOLATED"} (${verdict.operations} operations, ${verdict.steps} steps)`).join("; ")}, checked in ${((performance.now() - checkStartMs) / 1000).toFixed(1)} s`,
  );
  violations.push(...callsEndedWithinBounds(history.all()).map((text) => `(d) ${text}`));
  const counts = history.counts();
  summary.push(`calls: ${Object.keys(counts).sort().map((name) => `${name} ${counts[name]}`).join(", ")}`);
  summary.push(`why calls had no definite answer (most frequent): ${history.commonFailures(5).join("; ")}`);
  return violations;
}

/** The registers' values before the run: the config keys' defaults (nothing writes them before). */
const initialRegisterValues = new Map<string, string>(registerKeys.map((key) => [key, findConfigKey(key)!.defaultValue]));

/** SIGTERM to every replica, each bounded (one that does not stop in time is killed); returns who did not stop. */
async function stopReplicas(world: ChaosWorld): Promise<string[]> {
  const violations: string[] = [];
  for (const replica of world.cluster.replicas) {
    if (replica.process === null) continue;
    replica.process.child.kill("SIGCONT");
    await stopProcess(replica.process).catch((error: Error) => violations.push(`(d) ${firstLine(error.message)}`));
  }
  return violations;
}

/** (c) over the replicas' event logs, read from their SQLite files once they have stopped. */
function checkEventLogs(world: ChaosWorld, summary: string[]): string[] {
  const logs = new Map<string, EventRow[]>();
  for (const replica of world.cluster.replicas) logs.set(replica.id, readEventLog(join(replica.dataDir, "vigild.db")));
  const longest = [...logs.values()].reduce((best, rows) => (rows.length > best.length ? rows : best), [] as EventRow[]);
  const agentLogs = new Map(world.agents.map((agent) => [agent.hostId, agent.incarnations.map((process) => process.output())]));
  const violations = [
    ...eventLogsAgree(logs).map((text) => `(c) ${text}`),
    ...oneTakeoverPerTerm(longest).map((text) => `(c) ${text}`),
    ...neverRunningTwice(longest).map((text) => `(c) ${text}`),
    ...agentsNeverShareAVm(agentLogs).map((text) => `(c) ${text}`),
  ];
  const takeovers = longest.filter((row) => row.message.includes("takes over in term")).length;
  const vmChanges = longest.filter((row) => row.kind === "vm").length;
  summary.push(`event logs: ${[...logs.entries()].map(([id, rows]) => `${id} ${rows.length} rows`).join(", ")}; ${takeovers} primary takeovers, ${vmChanges} VM state changes`);
  return violations;
}

/**
 * The harness itself: only replicas and agents connect through the proxies, so a connection named
 * "client" means the proxy could not tell who opened it, and that link's faults would not apply.
 * An orphaned one (its opener closed it or died before the proxy looked) carries nothing to fault.
 */
function checkAttribution(world: ChaosWorld, summary: string[]): string[] {
  const lines: string[] = [];
  let unattributed = 0;
  for (const proxy of world.proxies.values()) {
    const sources = [...proxy.acceptedBySource.entries()].sort(([a], [b]) => a.localeCompare(b));
    unattributed += proxy.acceptedBySource.get("client") ?? 0;
    lines.push(`to ${proxy.name}: ${sources.map(([source, count]) => `${source} ${count}`).join(" ")} (${proxy.counts.dropped} dropped, ${proxy.counts.reset} reset)`);
  }
  summary.push(`proxied connections: ${lines.join("; ")}`);
  return unattributed === 0 ? [] : [`harness: ${unattributed} proxied connections could not be attributed to a replica or agent, so their link faults did not apply`];
}

/** The agents' journals and the replicas' databases, for a post-mortem (best effort). */
function copyDataDirs(world: ChaosWorld, logsDirectory: string): void {
  const directories = [...world.agents.map((agent) => [agent.hostId, agent.stateDir]), ...world.cluster.replicas.map((replica) => [replica.id, replica.dataDir])];
  for (const [name, source] of directories) {
    const target = join(logsDirectory, `${name}-data`);
    mkdirSync(target, { recursive: true });
    try {
      cpSync(source!, target, { recursive: true });
    } catch {
      // A data dir may be gone or mid-write; the logs still tell the story.
    }
  }
}
