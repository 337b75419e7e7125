// The seeded fault schedule of a chaos run. Pure: the same (seed, window) always gives the same
// faults at the same offsets, so a failing run is replayed by its seed (the processes' own timing
// still varies; the schedule does not).
// Rules the planner keeps:
//  1. A process (replica or agent) has at most one fault at a time, and a link at most one.
//  2. At most one replica is down or paused at a time, so a majority usually stands; partitions
//     and link faults may still take the quorum away for a while (that is part of the test).
//  3. Every fault heals within its window: nothing is left broken when the window ends.
import { seededRng, type Rng } from "../../common/env.js";
import { describeMode, type LinkMode } from "./fault-proxy.js";

export type Fault =
  | { kind: "kill-replica"; replica: string; downMs: number }
  | { kind: "pause-replica"; replica: string; downMs: number }
  | { kind: "kill-agent"; host: string; downMs: number }
  | { kind: "pause-agent"; host: string; downMs: number }
  /** Every connection `from` (a replica or an agent) opens to replica `to`. */
  | { kind: "link"; from: string; to: string; mode: LinkMode; durationMs: number }
  | { kind: "reset-link"; from: string; to: string }
  /** An operator's graceful hand-over (`vigilctl cluster transfer-primary`), asked of any replica. */
  | { kind: "transfer-primary"; via: string }
  /** Replica `replica` cut from its peers both ways; with `agentsToo`, from every agent as well. */
  | { kind: "partition"; replica: string; agentsToo: boolean; mode: LinkMode; durationMs: number };

export interface ScheduledFault {
  /** Offset from the start of the window. */
  atMs: number;
  fault: Fault;
}

export interface Topology {
  replicas: readonly string[];
  hosts: readonly string[];
}

export interface WindowOptions {
  windowMs: number;
  /** Mean gap between two faults. */
  meanGapMs: number;
}

export function describeFault(fault: Fault): string {
  switch (fault.kind) {
    case "kill-replica":
      return `kill -9 ${fault.replica}, restart after ${fault.downMs} ms`;
    case "pause-replica":
      return `SIGSTOP ${fault.replica} for ${fault.downMs} ms`;
    case "kill-agent":
      return `kill -9 agent ${fault.host}, restart after ${fault.downMs} ms`;
    case "pause-agent":
      return `SIGSTOP agent ${fault.host} for ${fault.downMs} ms`;
    case "link":
      return `link ${fault.from}->${fault.to} ${describeMode(fault.mode)} for ${fault.durationMs} ms`;
    case "reset-link":
      return `reset connections ${fault.from}->${fault.to}`;
    case "transfer-primary":
      return `transfer-primary asked of ${fault.via}`;
    case "partition":
      return `partition ${fault.replica} from its peers${fault.agentsToo ? " and agents" : ""} (${describeMode(fault.mode)}) for ${fault.durationMs} ms`;
  }
}

/** What a fault occupies (rule 1) and for how long. */
export function faultFootprint(fault: Fault, topology: Topology): { keys: string[]; durationMs: number } {
  switch (fault.kind) {
    case "kill-replica":
    case "pause-replica":
      return { keys: [`process:${fault.replica}`, "replica-process"], durationMs: fault.downMs };
    case "kill-agent":
    case "pause-agent":
      return { keys: [`process:${fault.host}`], durationMs: fault.downMs };
    case "link":
      return { keys: [`link:${fault.from}->${fault.to}`], durationMs: fault.durationMs };
    case "reset-link":
      return { keys: [`link:${fault.from}->${fault.to}`], durationMs: 0 };
    case "transfer-primary":
      // It moves the leader: keep it apart from replica process faults, like one of them.
      return { keys: ["replica-process"], durationMs: 2_000 };
    case "partition": {
      const peers = topology.replicas.filter((replica) => replica !== fault.replica);
      const sources = fault.agentsToo ? [...peers, ...topology.hosts] : peers;
      const keys = [...sources.map((source) => `link:${source}->${fault.replica}`), ...peers.map((peer) => `link:${fault.replica}->${peer}`)];
      return { keys, durationMs: fault.durationMs };
    }
  }
}

function pick<T>(rng: Rng, items: readonly T[]): T {
  return items[Math.floor(rng.next() * items.length)]!;
}

function between(rng: Rng, lowMs: number, highMs: number): number {
  return Math.round(lowMs + rng.next() * (highMs - lowMs));
}

function randomLinkMode(rng: Rng): LinkMode {
  const roll = rng.next();
  if (roll < 0.35) return { kind: "blackhole" };
  if (roll < 0.5) return { kind: "blackhole-return" };
  if (roll < 0.7) return { kind: "drop-new" };
  return { kind: "latency", delayMs: between(rng, 20, 400) };
}

function randomFault(rng: Rng, topology: Topology): Fault {
  const roll = rng.next();
  const replica = pick(rng, topology.replicas);
  const host = pick(rng, topology.hosts);
  if (roll < 0.14) return { kind: "kill-replica", replica, downMs: between(rng, 500, 6_000) };
  if (roll < 0.26) return { kind: "pause-replica", replica, downMs: between(rng, 500, 6_000) };
  if (roll < 0.36) return { kind: "kill-agent", host, downMs: between(rng, 500, 6_000) };
  if (roll < 0.44) return { kind: "pause-agent", host, downMs: between(rng, 500, 5_000) };
  if (roll < 0.48) return { kind: "transfer-primary", via: replica };
  if (roll < 0.58) return { kind: "partition", replica, agentsToo: rng.next() < 0.4, mode: randomLinkMode(rng), durationMs: between(rng, 1_000, 8_000) };
  const to = replica;
  const sources = [...topology.replicas.filter((other) => other !== to), ...topology.hosts];
  const from = pick(rng, sources);
  if (roll < 0.67) return { kind: "reset-link", from, to };
  return { kind: "link", from, to, mode: randomLinkMode(rng), durationMs: between(rng, 1_000, 8_000) };
}

/** The faults of window `window` (0, 1, ...) of the run with `seed`. */
export function faultWindow(seed: number, window: number, topology: Topology, options: WindowOptions): ScheduledFault[] {
  const rng = seededRng((Math.imul(seed >>> 0, 0x9e3779b1) ^ Math.imul(window + 1, 0x85ebca6b)) >>> 0);
  const busyUntil = new Map<string, number>();
  const faults: ScheduledFault[] = [];
  let atMs = between(rng, 200, options.meanGapMs);
  // Leave the window's last stretch free of new faults so every one heals inside it (rule 3).
  const lastStartMs = options.windowMs - 8_000;
  while (atMs < lastStartMs) {
    const fault = randomFault(rng, topology);
    const footprint = faultFootprint(fault, topology);
    const free = footprint.keys.every((key) => (busyUntil.get(key) ?? 0) <= atMs);
    if (free && atMs + footprint.durationMs <= options.windowMs) {
      for (const key of footprint.keys) busyUntil.set(key, atMs + footprint.durationMs + 200);
      faults.push({ atMs, fault });
    }
    atMs += between(rng, options.meanGapMs / 2, (options.meanGapMs * 3) / 2);
  }
  return faults;
}
