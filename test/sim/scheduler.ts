// Virtual time for the whole-cluster simulator. One queue of events ordered by (time, sequence)
// drives every simulated process; nothing waits on real time.
// 1. Every event belongs to a process incarnation (or to the world). A killed incarnation's events
//    are dropped, so a crashed process never acts again; a restart is a new incarnation.
// 2. A paused process (SIGSTOP) keeps its events parked; on resume they run at once, in order,
//    as a real process catches up on timers and buffered input.
// 3. Each process sees its own clock (an offset from true time and a bounded rate error), so lease
//    arithmetic meets clocks that disagree within the drift bound, as on real hosts.
import { assert } from "../../common/assert.js";
import type { Cancel, Clock, Timers } from "../../common/env.js";

export type ProcessState = "running" | "paused" | "dead";

/** A simulated OS process slot: a node's name and its current incarnation. */
export class ProcessSlot {
  incarnation = 0;
  state: ProcessState = "dead";
  /** Events that came due while paused, in the order they came due. */
  parked: ScheduledEvent[] = [];
  /** Wall-clock offset of this node (a stepped wall clock; monotonic time is not affected). */
  clockOffsetMs = 0;
  /** Rate error of this node's oscillator: local time runs (1 + ppm/10^6) times as fast as true time. */
  private ratePpm = 0;
  private localBaseMs = 0;
  private trueBaseMs = 0;

  constructor(readonly name: string) {}

  get clockRatePpm(): number {
    return this.ratePpm;
  }

  /** Changes the rate from `trueNowMs` on; local time stays continuous. */
  setClockRate(ratePpm: number, trueNowMs: number): void {
    this.localBaseMs = this.localMs(trueNowMs);
    this.trueBaseMs = trueNowMs;
    this.ratePpm = ratePpm;
  }

  /** This node's monotonic time at true time `trueNowMs` (the clock survives restarts, as a host's does). */
  localMs(trueNowMs: number): number {
    return this.localBaseMs + (trueNowMs - this.trueBaseMs) * (1 + this.ratePpm / 1_000_000);
  }

  isAlive(): boolean {
    return this.state !== "dead";
  }
}

export interface ScheduledEvent {
  readonly atMs: number;
  readonly sequence: number;
  readonly owner: ProcessSlot | null;
  readonly incarnation: number;
  readonly label: string;
  readonly run: () => void;
  cancelled: boolean;
}

/** The epoch of every simulated wall clock: a fixed date, so logs read like real ones and repeat exactly. */
export const wallEpochMs = Date.UTC(2030, 0, 1);

export class Scheduler {
  nowMs = 0;
  private sequence = 0;
  private readonly heap: ScheduledEvent[] = [];
  executed = 0;

  get pending(): number {
    return this.heap.length;
  }

  /**
   * Schedules `run` at `atMs` (true time) for one incarnation of `owner` (its current one unless
   * given): a later incarnation never runs an earlier one's events. A null owner is the world.
   */
  at(atMs: number, owner: ProcessSlot | null, label: string, run: () => void, incarnation = owner?.incarnation ?? 0): Cancel {
    assert(atMs >= this.nowMs, "events are never scheduled in the past");
    const event: ScheduledEvent = { atMs, sequence: this.sequence++, owner, incarnation, label, run, cancelled: false };
    this.push(event);
    return () => {
      event.cancelled = true;
    };
  }

  after(delayMs: number, owner: ProcessSlot | null, label: string, run: () => void, incarnation = owner?.incarnation ?? 0): Cancel {
    return this.at(this.nowMs + Math.max(0, delayMs), owner, label, run, incarnation);
  }

  /**
   * The next event that may run now or later, or null when the queue holds nothing due by
   * `untilMs`. Drops events of dead incarnations and parks those of paused processes.
   */
  next(untilMs: number): ScheduledEvent | null {
    for (;;) {
      const head = this.heap[0];
      if (head === undefined || head.atMs > untilMs) return null;
      this.pop();
      if (head.cancelled) continue;
      const owner = head.owner;
      if (owner !== null && (owner.incarnation !== head.incarnation || owner.state === "dead")) continue;
      this.nowMs = head.atMs;
      if (owner !== null && owner.state === "paused") {
        owner.parked.push(head);
        continue;
      }
      this.executed += 1;
      return head;
    }
  }

  /** Runs a paused process's parked events from now on, in the order they came due. */
  unpark(slot: ProcessSlot): void {
    const parked = slot.parked;
    slot.parked = [];
    for (const event of parked) {
      if (event.cancelled || event.incarnation !== slot.incarnation) continue;
      this.at(this.nowMs, slot, event.label, event.run);
    }
  }

  /** The earliest time anything is scheduled, or null. */
  peekTimeMs(): number | null {
    return this.heap[0]?.atMs ?? null;
  }

  // ---- per-process environment ----

  /** The clock `slot`'s processes read: true time, shifted and scaled by the node's clock error. */
  clockOf(slot: ProcessSlot): Clock {
    return { nowMs: () => Math.floor(wallEpochMs + slot.clockOffsetMs + slot.localMs(this.nowMs)), monotonicMs: () => slot.localMs(this.nowMs) };
  }

  /**
   * Timers of `slot`'s current incarnation: a killed process's timers never fire, even those its
   * leftover objects would set after the restart.
   */
  timersOf(slot: ProcessSlot, label: string): Timers {
    const incarnation = slot.incarnation;
    return {
      after: (delayMs, callback) => {
        // A local delay on a fast clock passes sooner in true time.
        const trueDelayMs = delayMs / (1 + slot.clockRatePpm / 1_000_000);
        return this.after(trueDelayMs, slot, label, callback, incarnation);
      },
    };
  }

  /** setImmediate for `slot`'s current incarnation: runs after the current event, at the same time. */
  deferOf(slot: ProcessSlot, label: string): (callback: () => void) => void {
    const incarnation = slot.incarnation;
    return (callback) => {
      this.after(0, slot, label, callback, incarnation);
    };
  }

  // ---- binary heap on (atMs, sequence) ----

  private static before(a: ScheduledEvent, b: ScheduledEvent): boolean {
    return a.atMs < b.atMs || (a.atMs === b.atMs && a.sequence < b.sequence);
  }

  private push(event: ScheduledEvent): void {
    const heap = this.heap;
    heap.push(event);
    let position = heap.length - 1;
    while (position > 0) {
      const parent = (position - 1) >> 1;
      if (!Scheduler.before(heap[position]!, heap[parent]!)) break;
      [heap[position], heap[parent]] = [heap[parent]!, heap[position]!];
      position = parent;
    }
  }

  private pop(): void {
    const heap = this.heap;
    const last = heap.pop()!;
    if (heap.length === 0) return;
    heap[0] = last;
    let position = 0;
    for (;;) {
      const left = position * 2 + 1;
      const right = left + 1;
      let smallest = position;
      if (left < heap.length && Scheduler.before(heap[left]!, heap[smallest]!)) smallest = left;
      if (right < heap.length && Scheduler.before(heap[right]!, heap[smallest]!)) smallest = right;
      if (smallest === position) return;
      [heap[position], heap[smallest]] = [heap[smallest]!, heap[position]!];
      position = smallest;
    }
  }
}
