// Random mode (TigerBeetle's VOPR): one seed draws a cluster and a swarm of fault weights, then a
// safety phase of seeded faults and operator actions between runs of simulated time, then a
// liveness phase that heals everything and must converge. Every invariant runs throughout; the
// first violation stops the run with the seed, the step and the command that replays it.
import type { Rng } from "../../common/env.js";
import { seededRng } from "../../common/env.js";
import { commands } from "./commands/index.js";
import type { SimBug } from "./bugs.js";
import { parseClusterSpec, type ClusterSpec } from "./cluster-spec.js";
import { executingStates, migrationFaults } from "./hypervisor.js";
import { Violation } from "./invariants.js";
import { calmLinks } from "./network.js";
import { World, type Failure } from "./world.js";

export interface RandomOptions {
  seed: number;
  bugs?: ReadonlySet<SimBug>;
  /** Simulated time of the faulty phase. */
  safetyMs?: number;
  /** Bound on the healed phase: the cluster must converge within it. */
  livenessMs?: number;
  echo?: (line: string) => void;
  /** Echo every production log record too (replays with --verbose). */
  verbose?: boolean;
}

export interface RandomFailure extends Failure {
  /** The random action after which it failed (0: before the first). */
  step: number;
  phase: "safety" | "liveness";
}

export interface RandomResult {
  seed: number;
  failure: RandomFailure | null;
  traceHash: string;
  steps: number;
  events: number;
  simulatedMs: number;
  swarm: Swarm;
  migrationSwarm: MigrationSwarm;
  /** What the run exercised: elections, kills, snapshots, commands, operator calls, events applied. */
  counts: Record<string, number>;
}

export const defaultSafetyMs = 20_000;
export const defaultLivenessMs = 60_000;
const livenessCheckEveryMs = 500;
const warmUpMs = 3_000;

/**
 * The migration actions (issue 8) one seed favours. They are drawn from their own random stream
 * (world.seedFor("migrations")), after the step's action, so the stream of the older actions, and
 * every seed's older behaviour up to its first migration, stays as it was.
 */
export interface MigrationSwarm {
  /** Chance that a step also takes a migration action. */
  perStep: number;
  weights: Record<MigrationActionName, number>;
}

type MigrationActionName = "migrate" | "migrateDuringFault" | "flush" | "unflush" | "fault" | "cancel" | "fallback";

function drawMigrationSwarm(rng: Rng): MigrationSwarm {
  const weight = (choices: readonly number[]) => pick(rng, choices);
  return {
    perStep: pick(rng, [0, 0.1, 0.2, 0.35]),
    weights: {
      migrate: weight([2, 4]),
      migrateDuringFault: weight([0, 1, 2]),
      flush: weight([0, 1, 2]),
      unflush: weight([0, 1, 2]),
      fault: weight([0, 1, 2]),
      cancel: weight([0, 1]),
      fallback: weight([0, 1]),
    },
  };
}

/** Weights of the actions one seed favours (swarm testing: each seed its own mix). */
export interface Swarm {
  replicas: number;
  hosts: number;
  latencyMaxMs: number;
  dropProbability: number;
  duplicateProbability: number;
  weights: Record<ActionName, number>;
}

type ActionName =
  | "quiet"
  | "partition"
  | "heal"
  | "cut"
  | "kill"
  | "restart"
  | "pause"
  | "agentKill"
  | "agentRestart"
  | "streamBreak"
  | "loseAck"
  | "burst"
  | "vm"
  | "transfer"
  | "config"
  | "maintenance"
  | "staleCommand"
  | "redeliver"
  | "guest"
  | "libvirtFailure"
  | "power"
  | "clock"
  | "confirmFenced"
  | "startDuringFault"
  | "policy";

function pick<T>(rng: Rng, choices: readonly T[]): T {
  return choices[Math.floor(rng.next() * choices.length)]!;
}

function drawSwarm(rng: Rng): Swarm {
  const weight = (choices: readonly number[]) => pick(rng, choices);
  return {
    replicas: pick(rng, [3, 3, 3, 5]),
    hosts: pick(rng, [1, 2, 3, 3]),
    latencyMaxMs: pick(rng, [2, 5, 20, 60]),
    dropProbability: pick(rng, [0, 0, 0.02, 0.1]),
    duplicateProbability: pick(rng, [0, 0, 0.02, 0.1]),
    weights: {
      quiet: weight([2, 6]),
      partition: weight([0, 1, 3]),
      heal: weight([1, 3]),
      cut: weight([0, 1, 2]),
      kill: weight([0, 2, 4]),
      restart: weight([2, 4]),
      pause: weight([0, 1, 2]),
      agentKill: weight([0, 1, 3]),
      agentRestart: weight([2, 4]),
      streamBreak: weight([0, 1, 3]),
      loseAck: weight([0, 1, 3]),
      burst: weight([1, 3, 6]),
      vm: weight([4, 8, 12]),
      transfer: weight([0, 1, 2]),
      config: weight([0, 1]),
      maintenance: weight([0, 1]),
      staleCommand: weight([0, 1, 2]),
      redeliver: weight([0, 1, 2]),
      guest: weight([0, 1, 2]),
      libvirtFailure: weight([0, 1]),
      power: weight([0, 1, 2]),
      clock: weight([0, 1]),
      confirmFenced: weight([0, 1, 2]),
      startDuringFault: weight([0, 2, 4]),
      policy: weight([0, 1, 2]),
    },
  };
}

function drawCluster(rng: Rng, seed: number, swarm: Swarm): ClusterSpec {
  const replicas = Array.from({ length: swarm.replicas }, (_, position) => `cp${position + 1}`);
  const hosts: Record<string, unknown> = {};
  let vmNumber = 0;
  for (let position = 1; position <= swarm.hosts; position += 1) {
    const vms: Record<string, string> = {};
    const count = 1 + Math.floor(rng.next() * 3);
    for (let vm = 0; vm < count; vm += 1) vms[`vm${++vmNumber}`] = rng.next() < 0.7 ? "running" : "shutoff";
    // Some agents know one endpoint, most all of them (followers relay for them). Most hosts have
    // a fence device; some are fenced by hand (the operator confirms only hosts that are off).
    hosts[`h${position}`] = { vms, fence: pick(rng, ["fence-agent", "fence-agent", "manual"]), ...(rng.next() < 0.2 ? { endpoints: [pick(rng, replicas)] } : {}) };
  }
  return parseClusterSpec({
    seed,
    replicas,
    hosts,
    network: { latencyMs: [1, swarm.latencyMaxMs], drop: swarm.dropProbability, duplicate: swarm.duplicateProbability },
    // Small snapshot intervals so that snapshots, compaction and catch-up by snapshot happen.
    raft: { snapshotEveryEntries: pick(rng, [8, 20, 60, 10_000]), retainedEntries: pick(rng, [2, 4, 20]) },
    config: {
      "keepalive.interval": pick(rng, ["1", "2", "5"]),
      "keepalive.savingThrows": pick(rng, ["2", "3", "6"]),
      "command.timeout": pick(rng, ["10", "30"]),
      "vm.orphanedSkipTimeout": pick(rng, ["5", "600"]),
      "fence.retryBackoff": pick(rng, ["1", "10"]),
    },
    // HA can start any VM anywhere (shared storage); without it an HA start fails and stays pending.
    sharedDefinitions: rng.next() < 0.9,
  }, `seed ${seed}`);
}

/** The command line that reproduces a random run. */
export function replayCommand(seed: number, bugs: ReadonlySet<SimBug>): string {
  return `npm run sim -- --replay ${seed}${[...bugs].map((bug) => ` --bug ${bug}`).join("")}`;
}

class RandomRun {
  private readonly rng: Rng;
  private readonly migrationRng: Rng;
  readonly swarm: Swarm;
  readonly migrationSwarm: MigrationSwarm;
  readonly world: World;
  step = 0;
  private phase: "safety" | "liveness" = "safety";

  constructor(private readonly options: RandomOptions) {
    const setupRng = seededRng(options.seed);
    this.swarm = drawSwarm(setupRng);
    this.world = new World({ spec: drawCluster(setupRng, options.seed, this.swarm), seed: options.seed, bugs: options.bugs ?? new Set() });
    this.rng = this.world.rng;
    this.migrationRng = seededRng(this.world.seedFor("migrations"));
    this.migrationSwarm = drawMigrationSwarm(this.migrationRng);
    this.world.trace.echo = options.echo ?? null;
    this.world.trace.echoAll = options.verbose === true;
  }

  async run(): Promise<RandomFailure | null> {
    const world = this.world;
    try {
      world.start();
      world.trace.line("sim", `swarm ${JSON.stringify(this.swarm)}`);
      world.trace.line("sim", `migration swarm ${JSON.stringify(this.migrationSwarm)}`);
      const safetyEndsMs = this.options.safetyMs ?? defaultSafetyMs;
      // The cluster forms undisturbed first, so most actions meet a working cluster to break.
      await world.runFor(warmUpMs);
      while (world.scheduler.nowMs < safetyEndsMs) {
        await world.runFor(Math.min(safetyEndsMs - world.scheduler.nowMs, 200 + Math.floor(this.rng.next() * 1_800)));
        this.step += 1;
        await this.act();
        if (this.migrationRng.next() < this.migrationSwarm.perStep) await this.actMigration();
        world.checkState();
      }
      this.phase = "liveness";
      await this.heal();
      await this.converge();
      await world.settleChecks();
      return null;
    } catch (error) {
      if (!(error instanceof Violation)) throw error;
      const failure = world.failure ?? { invariant: error.invariant, detail: error.detail, event: world.scheduler.executed, atMs: world.scheduler.nowMs };
      world.trace.line("sim", `FAIL ${failure.invariant}: ${failure.detail}`);
      return { ...failure, step: this.step, phase: this.phase };
    } finally {
      await world.dispose();
    }
  }

  private async command(line: string): Promise<void> {
    this.world.trace.line("step", `${this.step}: ${line}`);
    const [name, ...args] = line.split(" ");
    await commands.get(name!)!.run(this.world, args);
  }

  private chooseAction(): ActionName {
    const entries = Object.entries(this.swarm.weights) as [ActionName, number][];
    const total = entries.reduce((sum, [, weight]) => sum + weight, 0);
    let draw = this.rng.next() * total;
    for (const [name, weight] of entries) {
      draw -= weight;
      if (draw < 0) return name;
    }
    return "quiet";
  }

  private replicaIds(): string[] {
    return [...this.world.replicas.keys()];
  }

  private hostIds(): string[] {
    return [...this.world.agents.keys()];
  }

  private vmNames(): string[] {
    return this.world.hosts().flatMap((host) => host.sortedDomains().map((domain) => domain.name));
  }

  private async act(): Promise<void> {
    const world = this.world;
    const rng = this.rng;
    const replicas = this.replicaIds();
    const hosts = this.hostIds();
    const action = this.chooseAction();
    switch (action) {
      case "quiet":
        return;
      case "partition": {
        // Like Jepsen's partition-leader nemesis: most partitions cut off the current leader.
        const leader = world.currentLeader();
        const isolated = leader !== null && rng.next() < 0.6 ? leader : pick(rng, replicas);
        const nodes = [...replicas, ...hosts];
        const groups: string[][] = [[], []];
        for (const node of nodes) groups[node === isolated ? 0 : rng.next() < 0.25 ? 0 : 1]!.push(node);
        if (groups[1]!.length === 0) return;
        return this.command(`partition ${groups[0]!.join(" ")} | ${groups[1]!.join(" ")}`);
      }
      case "heal":
        return this.command("heal");
      case "cut":
        return this.command(`cut ${pick(rng, [...hosts, ...replicas])}`);
      case "kill": {
        const running = replicas.filter((id) => world.requireReplica(id).slot.isAlive());
        if (running.length === 0) return;
        return this.command(`kill ${pick(rng, running)}`);
      }
      case "restart": {
        const dead = replicas.filter((id) => !world.requireReplica(id).slot.isAlive());
        const paused = [...replicas, ...hosts].filter((id) => world.network.slot(id)?.state === "paused");
        if (paused.length > 0 && rng.next() < 0.5) return this.command(`resume ${pick(rng, paused)}`);
        if (dead.length === 0) return;
        return this.command(`restart ${pick(rng, dead)}`);
      }
      case "pause": {
        const running = [...replicas, ...hosts].filter((id) => world.network.slot(id)?.state === "running");
        if (running.length === 0) return;
        return this.command(`pause ${pick(rng, running)}`);
      }
      case "agentKill":
        return this.command(`agent-kill ${pick(rng, hosts)}`);
      case "agentRestart":
        return this.command(`agent-restart ${pick(rng, hosts)}`);
      case "streamBreak":
        return this.command(`stream-break ${pick(rng, hosts)}`);
      case "loseAck":
        return this.command(`lose-ack ${pick(rng, hosts)}`);
      case "burst": {
        const host = pick(rng, hosts);
        const running = world.requireAgent(host).host.sortedDomains().some((domain) => domain.state === "running" || domain.state === "paused");
        if (!running || !world.requireAgent(host).host.powered) return;
        return this.command(`burst ${host} ${1 + Math.floor(rng.next() * 40)} every ${pick(rng, ["1ms", "5ms", "50ms"])}`);
      }
      case "vm": {
        const verb = pick(rng, ["start", "stop", "shutdown", "start"]);
        const via = rng.next() < 0.2 ? ` via ${pick(rng, replicas)}` : "";
        return this.command(`vm ${verb} ${pick(rng, this.vmNames())}${verb === "shutdown" ? " timeout 5" : ""}${via}`);
      }
      case "transfer":
        return this.command(`transfer-primary${rng.next() < 0.5 ? ` ${pick(rng, replicas)}` : ""}`);
      case "config":
        return this.command(`config set keepalive.interval ${pick(rng, ["1", "2", "5"])}`);
      case "maintenance":
        return this.command(`maintenance ${pick(rng, ["on", "off"])}`);
      case "staleCommand": {
        // A deposed primary's command arriving late: a fresh id with a term below what the agent saw.
        const host = pick(rng, hosts);
        if (world.requireAgent(host).journalFacts().highestTerm < 2) return;
        return this.command(`command ${host} ${pick(rng, ["start", "destroy", "suspend"])} ${pick(rng, this.vmNames())} term stale`);
      }
      case "redeliver": {
        const host = pick(rng, hosts);
        if (world.requireAgent(host).lastCommand === null) return;
        return this.command(`redeliver ${host}`);
      }
      case "guest":
        return this.command(`guest ${pick(rng, this.vmNames())} ${pick(rng, ["crash", "poweroff", "pause", "resume"])}`);
      case "libvirtFailure":
        return this.command(`libvirt ${pick(rng, hosts)} fail-next ${pick(rng, ["start", "destroy", "shutdown"])} internal error: simulated`);
      case "power": {
        const host = pick(rng, hosts);
        return this.command(`power ${host} ${world.requireAgent(host).host.powered ? "off" : "on"}`);
      }
      case "clock":
        return this.command(`clock ${pick(rng, replicas)} rate ${pick(rng, [-200, 0, 200])}`);
      case "confirmFenced": {
        // An operator confirms only a host that is really off (a wrong confirmation is outside vigil's promise).
        const off = hosts.filter((id) => !world.requireAgent(id).host.powered);
        if (off.length === 0) return;
        return this.command(`host confirm-fenced ${pick(rng, off)}`);
      }
      case "startDuringFault":
        return this.startDuringFault();
      case "policy":
        return this.command(`vm policy ${pick(rng, this.vmNames())} restart=${pick(rng, ["always", "on-host-failure", "never"])} priority=${Math.floor(rng.next() * 10)}`);
    }
  }

  private async actMigration(): Promise<void> {
    const world = this.world;
    const rng = this.migrationRng;
    const hosts = this.hostIds();
    const entries = Object.entries(this.migrationSwarm.weights) as [MigrationActionName, number][];
    let draw = rng.next() * entries.reduce((sum, [, weight]) => sum + weight, 0);
    const action = entries.find(([, weight]) => (draw -= weight) < 0)?.[0] ?? "migrate";
    switch (action) {
      case "migrate":
        return this.command(this.migrateLine());
      case "migrateDuringFault": {
        // A migration in flight when the primary dies, or its source or destination loses power or network.
        await this.command(this.migrateLine());
        await world.runFor(Math.floor(rng.next() * 3_000));
        const fault = pick(rng, ["kill-leader", "power", "cut", "agent-kill"]);
        const leader = world.currentLeader();
        if (fault === "kill-leader") return leader === null ? undefined : this.command(`kill ${leader}`);
        const host = pick(rng, hosts);
        if (fault === "power") return world.requireAgent(host).host.powered ? this.command(`power ${host} off`) : undefined;
        if (fault === "cut") return this.command(`cut ${host}`);
        return this.command(`agent-kill ${host}`);
      }
      case "flush":
        return this.command(`host flush ${pick(rng, hosts)}`);
      case "unflush":
        return this.command(`host unflush ${pick(rng, hosts)}`);
      case "fault":
        return this.command(`fail-next-migration ${pick(rng, hosts)} ${pick(rng, migrationFaults)}`);
      case "cancel":
        return this.command("job cancel latest");
      case "fallback":
        return this.command(`vm set ${pick(rng, this.vmNames())} --migration-fallback ${pick(rng, ["on", "off"])}`);
    }
  }

  /** A migration request: most often of a VM that runs, to a named host (sometimes its own) or to placement's choice. */
  private migrateLine(): string {
    const rng = this.migrationRng;
    const running = this.world.hosts().flatMap((host) => host.sortedDomains().filter((domain) => executingStates.has(domain.state) && !host.inactiveForMigration(domain.uuid)).map((domain) => domain.name));
    const vm = running.length > 0 && rng.next() < 0.8 ? pick(rng, running) : pick(rng, this.vmNames());
    const target = rng.next() < 0.6 ? ` to ${pick(rng, this.hostIds())}` : "";
    const forceLive = rng.next() < 0.3 ? " force-live" : "";
    const via = rng.next() < 0.2 ? ` via ${pick(rng, this.replicaIds())}` : "";
    return `vm migrate ${vm}${target}${forceLive}${via}`;
  }

  /** A start in flight when its host loses power or its network, or the primary dies (DESIGN §7's hard case). */
  private async startDuringFault(): Promise<void> {
    const world = this.world;
    const rng = this.rng;
    const stopped = world.hosts().flatMap((host) => host.sortedDomains().filter((domain) => domain.state === "shutoff").map((domain) => domain.name));
    if (stopped.length === 0) return;
    await this.command(`vm start ${pick(rng, stopped)}`);
    await world.runFor(Math.floor(rng.next() * 600));
    const leader = world.currentLeader();
    const fault = pick(rng, ["kill-leader", "power", "cut"]);
    if (fault === "kill-leader" && leader !== null) return this.command(`kill ${leader}`);
    const host = pick(rng, this.hostIds());
    if (fault === "power" && world.requireAgent(host).host.powered) return this.command(`power ${host} off`);
    if (fault === "cut") return this.command(`cut ${host}`);
  }

  /** Ends every fault: the network whole and calm, every process running, every host powered. */
  private async heal(): Promise<void> {
    const world = this.world;
    world.trace.line("sim", "liveness: healing everything");
    world.network.heal();
    world.network.faults = { ...calmLinks };
    for (const id of [...world.replicas.keys(), ...world.agents.keys()]) world.resume(id);
    for (const [id, node] of world.replicas) if (!node.slot.isAlive()) world.startReplica(id);
    for (const [id, agent] of world.agents) {
      if (!agent.host.powered) world.powerOn(id);
      else if (!agent.slot.isAlive()) world.startAgent(id);
    }
  }

  /** Runs until converged, or fails liveness at the bound. */
  private async converge(): Promise<void> {
    const world = this.world;
    const deadlineMs = world.scheduler.nowMs + (this.options.livenessMs ?? defaultLivenessMs);
    let why = "";
    while (world.scheduler.nowMs < deadlineMs) {
      await world.runFor(livenessCheckEveryMs);
      // A fence that was under way when healing began powers its host off afterwards: the
      // operator powers it on again, as after any fence.
      for (const [id, agent] of world.agents) if (!agent.host.powered) world.powerOn(id);
      world.checkState();
      why = this.notConverged();
      if (why === "") {
        world.guard(() => world.checker.checkAcknowledgedKept(world.checkedReplicas()));
        world.trace.line("sim", "converged: one primary, every replica caught up, every agent connected with an empty outbox");
        return;
      }
    }
    world.guard(() => {
      throw new Violation("liveness: a healed cluster converges", `not converged ${(this.options.livenessMs ?? defaultLivenessMs) / 1000} s after healing: ${why}`);
    });
  }

  /** Why the healed cluster has not converged yet, or "" when it has. */
  private notConverged(): string {
    const world = this.world;
    const leader = world.currentLeader();
    if (leader === null) return "no leader";
    const primaries = world.checkedReplicas().filter((replica) => replica.alive() && replica.mayCommand());
    if (primaries.length !== 1) return `${primaries.length} replicas may command agents`;
    const applied = world.checkedReplicas().map((replica) => replica.appliedIndex());
    if (new Set(applied).size !== 1) return `replicas applied ${applied.join(", ")}`;
    for (const agent of world.agents.values()) {
      if (agent.process?.link.isConnected() !== true) return `agent ${agent.hostId} not connected`;
      const journal = agent.journalFacts();
      if (journal.outbox !== 0) return `agent ${agent.hostId} has ${journal.outbox} unacknowledged events`;
    }
    if (world.operator.openCalls() > 0) return `${world.operator.openCalls()} operator calls unanswered`;
    return "";
  }
}

export async function runRandom(options: RandomOptions): Promise<RandomResult> {
  const run = new RandomRun(options);
  const failure = await run.run();
  const world = run.world;
  const traced = (pattern: RegExp) => world.trace.lines.filter((line) => pattern.test(line)).length;
  const ha = { fenceAttempts: world.checker.fenceRecords.length, haRestarts: traced(/ log .*: HA restart /), orphanedSkipTraces: traced(/ log .*skip-trace .* orphaned/) };
  const migrations = { migrationCalls: traced(/ op +vm migrate .* => /), libvirtMigrations: traced(/ libvirt: migrate .* => to /), ...world.migrations.counts };
  const counts = { ...world.counts, ...world.checker.counts, ...ha, ...migrations, operatorCalls: world.operator.callsAnswered, agentEventsAcknowledged: [...world.checker.ackedSeq.values()].reduce((sum, seq) => sum + seq, 0) };
  return { seed: options.seed, failure, traceHash: world.trace.hash(), steps: run.step, events: world.scheduler.executed, simulatedMs: world.scheduler.nowMs, swarm: run.swarm, migrationSwarm: run.migrationSwarm, counts };
}
