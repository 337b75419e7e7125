// A linearizability checker for register histories (Wing & Gong's search with Lowe's memoization,
// as Porcupine and Knossos do it). Pure: no clock, no I/O.
//
// A history is a list of completed or indeterminate operations on named registers. Rules:
//  1. Keys are independent registers (P-compositionality): each key is checked on its own.
//  2. An operation takes effect at one instant between its call and its return.
//  3. An indeterminate write (timed out, connection lost) may have taken effect at any instant
//     after its call, or never: it is given an infinite return. One whose value no read observed
//     is dropped first; placing it can never help a read, and dropping it keeps the search small.
//  4. A failed or indeterminate read has no effect and is dropped.
//  5. Equal timestamps count as concurrent (a call sorts before a return at the same instant), so
//     clock granularity never produces a false violation.

import { assert } from "../../common/assert.js";

export type RegisterOperation = { kind: "write"; value: string } | { kind: "read"; value: string };

export interface HistoryOperation {
  id: number;
  client: string;
  key: string;
  operation: RegisterOperation;
  callMs: number;
  /** null: indeterminate (no answer within the deadline, or an error that does not say it failed). */
  returnMs: number | null;
}

export interface KeyVerdict {
  key: string;
  linearizable: boolean;
  /** The search gave up after `stepsMax` steps: neither proven nor refuted. */
  undecided: boolean;
  operations: number;
  steps: number;
  /** When not linearizable: the operation no order could get past, and the operations around it. */
  stuckAt: HistoryOperation | null;
  concurrent: HistoryOperation[];
  /** The longest prefix of a linearization found, as operation ids in order. */
  longestPrefix: number[];
}

export interface CheckOptions {
  /** The register's value before the history starts, per key. */
  initialValue(key: string): string;
  /** Bound on search steps per key. */
  stepsMax?: number;
}

const defaultStepsMax = 20_000_000;

interface Event {
  kind: "call" | "return";
  operation: HistoryOperation;
  index: number;
  time: number;
  match: Event | null;
  previous: Event | null;
  next: Event | null;
}

export function checkRegisterHistory(history: readonly HistoryOperation[], options: CheckOptions): KeyVerdict[] {
  const keys = [...new Set(history.map((entry) => entry.key))].sort();
  return keys.map((key) => checkKey(key, history.filter((entry) => entry.key === key), options));
}

/**
 * Rules 3 and 4: what remains to be linearized, in call order. Written values are unique, so an
 * indeterminate write that a read observed took effect before that read returned: its return is
 * tightened to the earliest such read's (every linearization already obeys this; the search
 * then has no infinite returns to carry along).
 */
export function relevantOperations(operations: readonly HistoryOperation[]): HistoryOperation[] {
  const firstObservedMs = new Map<string, number>();
  for (const entry of operations) {
    if (entry.operation.kind !== "read" || entry.returnMs === null) continue;
    firstObservedMs.set(entry.operation.value, Math.min(firstObservedMs.get(entry.operation.value) ?? Infinity, entry.returnMs));
  }
  const kept: HistoryOperation[] = [];
  for (const entry of operations) {
    if (entry.returnMs !== null) kept.push(entry);
    else if (entry.operation.kind === "write" && firstObservedMs.has(entry.operation.value)) kept.push({ ...entry, returnMs: Math.max(entry.callMs, firstObservedMs.get(entry.operation.value)!) });
  }
  return kept.sort((a, b) => a.callMs - b.callMs || a.id - b.id);
}

function buildEvents(operations: readonly HistoryOperation[]): Event {
  const events: Event[] = [];
  operations.forEach((operation, index) => {
    const call: Event = { kind: "call", operation, index, time: operation.callMs, match: null, previous: null, next: null };
    const ret: Event = { kind: "return", operation, index, time: operation.returnMs ?? Infinity, match: call, previous: null, next: null };
    call.match = ret;
    events.push(call, ret);
  });
  events.sort((a, b) => a.time - b.time || (a.kind === b.kind ? a.index - b.index : a.kind === "call" ? -1 : 1));
  const head: Event = { kind: "call", operation: operations[0]!, index: -1, time: -Infinity, match: null, previous: null, next: null };
  let last = head;
  for (const event of events) {
    last.next = event;
    event.previous = last;
    last = event;
  }
  return head;
}

/** Removes a call and its return from the list (the call is linearized). */
function lift(call: Event): void {
  call.previous!.next = call.next;
  if (call.next !== null) call.next.previous = call.previous;
  const ret = call.match!;
  ret.previous!.next = ret.next;
  if (ret.next !== null) ret.next.previous = ret.previous;
}

/** Puts them back, in reverse order of lift. */
function unlift(call: Event): void {
  const ret = call.match!;
  ret.previous!.next = ret;
  if (ret.next !== null) ret.next.previous = ret;
  call.previous!.next = call;
  if (call.next !== null) call.next.previous = call;
}

/** The register's step function: the new value, or null when the operation cannot happen now. */
function step(state: string, operation: RegisterOperation): string | null {
  if (operation.kind === "write") return operation.value;
  return operation.value === state ? state : null;
}

/**
 * The set of linearized operations, exact and compact: operations are indexed in call order, so
 * the set is nearly always "every index below `prefix`" plus a few later ones (the concurrent
 * ones). Its key names exactly that, so the memo never confuses two sets.
 */
class LinearizedSet {
  private readonly members: Uint8Array;
  private prefix = 0;
  private above = 0;

  constructor(size: number) {
    this.members = new Uint8Array(size);
  }

  add(index: number): void {
    this.members[index] = 1;
    if (index !== this.prefix) {
      this.above += 1;
      return;
    }
    while (this.prefix < this.members.length && this.members[this.prefix] === 1) {
      this.prefix += 1;
      if (this.prefix - 1 !== index) this.above -= 1;
    }
  }

  remove(index: number): void {
    this.members[index] = 0;
    if (index > this.prefix) {
      this.above -= 1;
      return;
    }
    // Indexes between the removed one and the old prefix stay members, now above the prefix.
    this.above += this.prefix - index - 1;
    this.prefix = index;
  }

  key(): string {
    const extras: number[] = [];
    for (let index = this.prefix + 1; extras.length < this.above; index++) if (this.members[index] === 1) extras.push(index);
    return `${this.prefix}:${extras.join(",")}`;
  }
}

function checkKey(key: string, all: readonly HistoryOperation[], options: CheckOptions): KeyVerdict {
  const operations = relevantOperations(all);
  const verdict: KeyVerdict = { key, linearizable: true, undecided: false, operations: operations.length, steps: 0, stuckAt: null, concurrent: [], longestPrefix: [] };
  if (operations.length === 0) return verdict;
  const stepsMax = options.stepsMax ?? defaultStepsMax;
  const head = buildEvents(operations);
  const linearized = new LinearizedSet(operations.length);
  // Explored (linearized set, state) pairs: reaching one again cannot lead anywhere new.
  const seen = new Set<string>();
  const stack: { call: Event; state: string }[] = [];
  let state = options.initialValue(key);
  let entry = head.next;
  let deepestStuck: Event | null = null;
  let deepestStuckDepth = -1;
  while (head.next !== null) {
    verdict.steps += 1;
    if (verdict.steps > stepsMax) return { ...verdict, linearizable: false, undecided: true };
    // The list always ends with a return, and a return never advances `entry`.
    assert(entry !== null, "the search reached the end of the history without meeting a return");
    if (entry.kind === "call") {
      const next = step(state, entry.operation.operation);
      if (next !== null) {
        const index = entry.index;
        linearized.add(index);
        const memoKey = `${linearized.key()}|${next}`;
        if (!seen.has(memoKey)) {
          seen.add(memoKey);
          stack.push({ call: entry, state });
          state = next;
          lift(entry);
          entry = head.next;
          continue;
        }
        linearized.remove(index);
      }
      entry = entry.next;
      continue;
    }
    // A return: everything called before it must already be linearized; backtrack.
    if (stack.length > deepestStuckDepth) {
      deepestStuck = entry;
      deepestStuckDepth = stack.length;
      verdict.longestPrefix = stack.map((frame) => frame.call.operation.id);
    }
    const frame = stack.pop();
    if (frame === undefined) {
      verdict.linearizable = false;
      break;
    }
    state = frame.state;
    const index = frame.call.index;
    linearized.remove(index);
    unlift(frame.call);
    entry = frame.call.next;
  }
  if (!verdict.linearizable && deepestStuck !== null) {
    const stuck = deepestStuck.operation;
    verdict.stuckAt = stuck;
    const end = stuck.returnMs ?? Infinity;
    verdict.concurrent = operations.filter((other) => other !== stuck && other.callMs <= end && (other.returnMs ?? Infinity) >= stuck.callMs);
  }
  return verdict;
}

function describeOperation(entry: HistoryOperation, originMs: number): string {
  const end = entry.returnMs === null ? "?" : `${(entry.returnMs - originMs).toFixed(0)}`;
  return `#${entry.id} ${entry.client} ${entry.operation.kind}(${entry.operation.value}) [${(entry.callMs - originMs).toFixed(0)} ms, ${end} ms]`;
}

/** A report an operator can read: for each failed key, where the search got stuck and what overlapped it. */
export function describeVerdicts(verdicts: readonly KeyVerdict[], history: readonly HistoryOperation[], originMs: number): string {
  const byId = new Map(history.map((entry) => [entry.id, entry]));
  const lines: string[] = [];
  for (const verdict of verdicts) {
    if (verdict.linearizable) continue;
    if (verdict.undecided) {
      lines.push(`key ${verdict.key}: undecided after ${verdict.steps} search steps (${verdict.operations} operations)`);
      continue;
    }
    lines.push(`key ${verdict.key}: NOT linearizable (${verdict.operations} operations)`);
    if (verdict.stuckAt !== null) lines.push(`  no order gets past ${describeOperation(verdict.stuckAt, originMs)}`);
    for (const other of verdict.concurrent.slice(0, 20)) lines.push(`  overlapping ${describeOperation(other, originMs)}`);
    const tail = verdict.longestPrefix.slice(-10).map((id) => byId.get(id)).filter((entry) => entry !== undefined);
    lines.push(`  longest linearized prefix: ${verdict.longestPrefix.length} operations, ending ${tail.map((entry) => describeOperation(entry, originMs)).join(" -> ")}`);
  }
  return lines.join("\n");
}
