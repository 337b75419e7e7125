// The simulator's network: seeded drops, duplicates, delays (which reorder), and partitions.
// Messages are delivered at whole ticks; within one tick their order is shuffled by the seed.
import type { Rng } from "../../common/env.js";
import type { Message, ReplicaId } from "../../controlplane/replication/raft-types.js";

export interface NetworkFaults {
  readonly dropProbability: number;
  readonly duplicateProbability: number;
  /** Extra delay beyond the minimum of one tick. */
  readonly delayTicksMax: number;
}

export const healedFaults: NetworkFaults = { dropProbability: 0, duplicateProbability: 0, delayTicksMax: 0 };

/** Bound on messages in flight; beyond it new messages are dropped (a congested network). */
const inFlightMessagesMax = 20_000;

export class SimNetwork {
  private readonly buckets = new Map<number, Message[]>();
  private inFlightCount = 0;
  /** Replica → group; replicas in different groups cannot talk. Null when whole. */
  private groups: Map<ReplicaId, number> | null = null;
  partitionEndsAtTick = 0;

  constructor(
    private readonly rng: Rng,
    public faults: NetworkFaults,
  ) {}

  get size(): number {
    return this.inFlightCount;
  }

  send(message: Message, nowTick: number): void {
    if (this.rng.next() < this.faults.dropProbability) return;
    const copies = this.rng.next() < this.faults.duplicateProbability ? 2 : 1;
    for (let copy = 0; copy < copies; copy += 1) {
      if (this.inFlightCount >= inFlightMessagesMax) return;
      const delayTicks = 1 + Math.floor(this.rng.next() * (this.faults.delayTicksMax + 1));
      const deliverAtTick = nowTick + delayTicks;
      let bucket = this.buckets.get(deliverAtTick);
      if (bucket === undefined) {
        bucket = [];
        this.buckets.set(deliverAtTick, bucket);
      }
      bucket.push(message);
      this.inFlightCount += 1;
    }
  }

  /** The messages due at `tick`, in a seeded random order. */
  takeDue(tick: number): Message[] {
    const bucket = this.buckets.get(tick);
    if (bucket === undefined) return [];
    this.buckets.delete(tick);
    this.inFlightCount -= bucket.length;
    for (let position = bucket.length - 1; position > 0; position -= 1) {
      const other = Math.floor(this.rng.next() * (position + 1));
      const held = bucket[position]!;
      bucket[position] = bucket[other]!;
      bucket[other] = held;
    }
    return bucket;
  }

  connected(from: ReplicaId, to: ReplicaId): boolean {
    if (this.groups === null) return true;
    return this.groups.get(from) === this.groups.get(to);
  }

  partition(groups: Map<ReplicaId, number>, endsAtTick: number): void {
    this.groups = groups;
    this.partitionEndsAtTick = endsAtTick;
  }

  partitioned(): boolean {
    return this.groups !== null;
  }

  heal(): void {
    this.groups = null;
  }

  describePartition(): string {
    if (this.groups === null) return "whole";
    const byGroup = new Map<number, ReplicaId[]>();
    for (const [replica, group] of [...this.groups.entries()].sort()) {
      byGroup.set(group, [...(byGroup.get(group) ?? []), replica]);
    }
    return [...byGroup.values()].map((members) => members.join(",")).join(" | ");
  }
}
