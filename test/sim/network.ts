// The simulated network between every node (replicas, agents): who can reach whom, latency, and
// the faults a seed or a scenario sets.
// - Topology: partitions (groups that cannot talk), cut nodes (a host's network down), powered-off
//   hosts. A link is up when both ends are reachable from each other.
// - Datagrams (Raft messages) may be dropped, duplicated and reordered (independent delays).
// - Connections (connection.ts) model TCP under gRPC: ordered and reliable until they break.
import type { Rng } from "../../common/env.js";
import type { Connection } from "./connection.js";
import type { ProcessSlot, Scheduler } from "./scheduler.js";

export interface LinkFaults {
  latencyMinMs: number;
  latencyMaxMs: number;
  /** Datagrams only: connections never lose or duplicate (TCP), they break instead. */
  dropProbability: number;
  duplicateProbability: number;
}

export const calmLinks: LinkFaults = { latencyMinMs: 1, latencyMaxMs: 3, dropProbability: 0, duplicateProbability: 0 };

/** How long a connection survives a silent peer before gRPC keepalive breaks it. */
export const keepaliveMs = { peer: 3_000, agent: 15_000 } as const;
/** How long a connection attempt to an unreachable address takes to fail. */
export const connectTimeoutMs = 5_000;

export class Network {
  faults: LinkFaults = { ...calmLinks };
  /** Node → group; nodes in different groups cannot talk; nodes not listed reach everyone. */
  private groups = new Map<string, number>();
  private readonly cutNodes = new Set<string>();
  private readonly poweredOff = new Set<string>();
  private readonly slots = new Map<string, ProcessSlot>();
  private readonly connections = new Set<Connection>();
  private readonly lastDatagramDue = new Map<string, number>();

  constructor(
    readonly scheduler: Scheduler,
    private readonly rng: Rng,
  ) {}

  register(slot: ProcessSlot): void {
    this.slots.set(slot.name, slot);
  }

  slot(node: string): ProcessSlot | undefined {
    return this.slots.get(node);
  }

  // ---- topology ----

  reachable(a: string, b: string): boolean {
    if (a === b) return true;
    if (this.cutNodes.has(a) || this.cutNodes.has(b)) return false;
    if (this.poweredOff.has(a) || this.poweredOff.has(b)) return false;
    const groupA = this.groups.get(a);
    const groupB = this.groups.get(b);
    return groupA === undefined || groupB === undefined || groupA === groupB;
  }

  partition(groups: string[][]): void {
    this.groups = new Map();
    groups.forEach((members, group) => members.forEach((node) => this.groups.set(node, group)));
    this.topologyChanged();
  }

  cut(node: string, on: boolean): void {
    if (on) this.cutNodes.add(node);
    else this.cutNodes.delete(node);
    this.topologyChanged();
  }

  power(node: string, on: boolean): void {
    if (on) this.poweredOff.delete(node);
    else this.poweredOff.add(node);
    this.topologyChanged();
  }

  isPoweredOff(node: string): boolean {
    return this.poweredOff.has(node);
  }

  heal(): void {
    this.groups = new Map();
    this.cutNodes.clear();
    this.topologyChanged();
  }

  describe(): string {
    const parts: string[] = [];
    if (this.groups.size > 0) {
      const byGroup = new Map<number, string[]>();
      for (const [node, group] of [...this.groups.entries()].sort(([a], [b]) => a.localeCompare(b))) byGroup.set(group, [...(byGroup.get(group) ?? []), node]);
      parts.push([...byGroup.entries()].sort(([a], [b]) => a - b).map(([, members]) => members.join(" ")).join(" | "));
    }
    if (this.cutNodes.size > 0) parts.push(`cut ${[...this.cutNodes].sort().join(" ")}`);
    return parts.length === 0 ? "whole" : parts.join("; ");
  }

  /** Reachability or a process's pause state changed: connections re-check their links. */
  topologyChanged(): void {
    for (const connection of [...this.connections]) connection.linkChanged();
  }

  // ---- connections ----

  track(connection: Connection): void {
    this.connections.add(connection);
  }

  untrack(connection: Connection): void {
    this.connections.delete(connection);
  }

  /** Every open connection with an end at `node` (for kills, pauses, power). */
  connectionsOf(node: string): Connection[] {
    return [...this.connections].filter((connection) => connection.client.node === node || connection.serverNode === node);
  }

  // ---- delivery ----

  latencyMs(): number {
    const { latencyMinMs, latencyMaxMs } = this.faults;
    return latencyMinMs + Math.floor(this.rng.next() * (latencyMaxMs - latencyMinMs + 1));
  }

  /**
   * Sends one datagram: dropped when the link is down at sending or arrival or by chance,
   * sometimes duplicated; each copy has its own delay, so datagrams reorder.
   */
  datagram(from: string, to: string, label: string, deliver: () => void): void {
    if (!this.reachable(from, to)) return;
    if (this.rng.next() < this.faults.dropProbability) return;
    const copies = this.rng.next() < this.faults.duplicateProbability ? 2 : 1;
    for (let copy = 0; copy < copies; copy += 1) {
      const target = this.slots.get(to);
      if (target === undefined) return;
      const dueMs = this.scheduler.nowMs + this.latencyMs();
      const key = `${from}>${to}`;
      this.lastDatagramDue.set(key, Math.max(this.lastDatagramDue.get(key) ?? 0, dueMs));
      this.scheduler.at(dueMs, target, label, () => {
        if (this.reachable(from, to)) deliver();
      });
    }
  }

  /**
   * When the last datagram from `from` to `to` arrives. A dying process's reset follows what it
   * sent before it died, as on its real stream, so the reset is not delivered before it.
   */
  lastDatagramDueMs(from: string, to: string): number {
    return this.lastDatagramDue.get(`${from}>${to}`) ?? 0;
  }
}
