// The history of a chaos run: every operator call with its wall-clock invocation and completion
// (monotonic, epoch-aligned ms), its bound and how it ended. Completed calls are ok or failed;
// a call without a definite answer (deadline, lost connection, a replica gone) is indeterminate.
import type { HistoryOperation } from "./linearizability.js";

export type CallKind = "config-set" | "config-get" | "vm-start" | "vm-stop" | "status";
export type Outcome = "ok" | "failed" | "indeterminate";

export interface CallRecord {
  id: number;
  client: string;
  kind: CallKind;
  via: "grpc" | "vigilctl";
  replica: string;
  key: string;
  /** The written value, or the value read. */
  value: string;
  vm: string;
  startMs: number;
  endMs: number | null;
  /** The call must have ended by startMs + boundMs. */
  boundMs: number;
  outcome: Outcome | null;
  detail: string;
}

/** Epoch-aligned monotonic milliseconds: wall-clock readable, never stepping back. */
export function wallMs(): number {
  return performance.timeOrigin + performance.now();
}

export class History {
  private readonly records: CallRecord[] = [];
  private nextId = 1;

  invoke(call: Pick<CallRecord, "client" | "kind" | "via" | "replica" | "boundMs"> & Partial<Pick<CallRecord, "key" | "value" | "vm">>): CallRecord {
    const record: CallRecord = { id: this.nextId++, key: "", value: "", vm: "", ...call, startMs: wallMs(), endMs: null, outcome: null, detail: "" };
    this.records.push(record);
    return record;
  }

  complete(record: CallRecord, outcome: Outcome, detail: { value?: string; detail?: string } = {}): void {
    record.endMs = wallMs();
    record.outcome = outcome;
    if (detail.value !== undefined) record.value = detail.value;
    record.detail = detail.detail ?? "";
  }

  all(): readonly CallRecord[] {
    return this.records;
  }

  /** The register operations for the checker: config set is a write, config get a read. */
  registerOperations(): HistoryOperation[] {
    const operations: HistoryOperation[] = [];
    for (const record of this.records) {
      if (record.kind !== "config-set" && record.kind !== "config-get") continue;
      // A failed call definitely did not happen (refused input); a read without an answer tells nothing.
      if (record.outcome === "failed") continue;
      const definite = record.outcome === "ok";
      if (record.kind === "config-get" && !definite) continue;
      operations.push({
        id: record.id,
        client: `${record.client} via ${record.replica}${record.via === "vigilctl" ? " (vigilctl)" : ""}`,
        key: record.key,
        operation: { kind: record.kind === "config-set" ? "write" : "read", value: record.value },
        callMs: record.startMs,
        returnMs: definite ? record.endMs : null,
      });
    }
    return operations;
  }

  /** The most frequent reasons calls failed or stayed indeterminate, numbers masked, with counts. */
  commonFailures(limit: number): string[] {
    const reasons = new Map<string, number>();
    for (const record of this.records) {
      if (record.outcome === "ok" || record.outcome === null) continue;
      const reason = record.detail.replace(/\d+(\.\d+)?/g, "N").slice(0, 90);
      reasons.set(reason, (reasons.get(reason) ?? 0) + 1);
    }
    return [...reasons.entries()].sort((a, b) => b[1] - a[1]).slice(0, limit).map(([reason, count]) => `${count}x ${reason}`);
  }

  counts(): Record<string, number> {
    const counts: Record<string, number> = {};
    for (const record of this.records) {
      const name = `${record.kind} ${record.outcome ?? "pending"}`;
      counts[name] = (counts[name] ?? 0) + 1;
    }
    return counts;
  }
}
