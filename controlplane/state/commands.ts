// The commands of the replicated log. Every change to replicated state is one
// of these, stamped by the proposing primary with its time and term (DESIGN §3:
// applying never reads a replica's own clock).
import type { AgentEvent__Output } from "../../common/generated/vigil/v1/AgentEvent.js";

export const restartPolicies = ["always", "on-host-failure", "never"] as const;
export type RestartPolicy = (typeof restartPolicies)[number];

export const selectors = ["mem", "memprov", "load", "vcpus", "vms"] as const;
export type Selector = (typeof selectors)[number];

export interface VmPolicy {
  restart: RestartPolicy;
  priority: number;
  limit: string[];
  selector: Selector;
  autorestart: boolean;
  maxRestarts: number;
}

export type StateCommand =
  | {
      kind: "HostHello";
      hostId: string;
      bootId: string;
      agentVersion: string;
      migrationUri: string;
      cpus: number;
      memoryBytes: number;
    }
  | { kind: "AgentEvents"; hostId: string; events: AgentEvent__Output[] }
  | { kind: "PrimaryTakeover"; term: number; replicaId: string }
  | { kind: "PrimaryRelinquish"; term: number; replicaId: string; to: string }
  | { kind: "SetClusterMaintenance"; on: boolean }
  | { kind: "SetConfig"; key: string; value: string }
  | { kind: "SetVmPolicy"; vmUuid: string; policy: Partial<VmPolicy> }
  | { kind: "SetHostMaintenance"; hostId: string; on: boolean }
  | { kind: "VmRequested"; vmUuid: string; desiredState: "running" | "stopped"; commandId: string }
  | { kind: "SetMemberAddress"; replicaId: string; address: string }
  /** The primary asks `hostId` to synchronize a VM's disks: it moved there before job `jobId` on `jobHost` resolved. */
  | { kind: "DiskSyncRequested"; vmUuid: string; hostId: string; jobHost: string; jobId: string }
  /** An unknown job outlived job.unknownTimeout: a visible error, the job stays unknown (never guessed). */
  | { kind: "JobEscalated"; jobHost: string; jobId: string; unknownForMs: number };

export type StateCommandKind = StateCommand["kind"];

/** One log entry's payload. `term` is the proposer's term: the fencing token of the writer. */
export interface EntryPayload {
  atMs: number;
  term: number;
  replicaId: string;
  command: StateCommand;
}

const commandKinds: ReadonlySet<string> = new Set<StateCommandKind>([
  "HostHello",
  "AgentEvents",
  "PrimaryTakeover",
  "PrimaryRelinquish",
  "SetClusterMaintenance",
  "SetConfig",
  "SetVmPolicy",
  "SetHostMaintenance",
  "VmRequested",
  "SetMemberAddress",
  "DiskSyncRequested",
  "JobEscalated",
]);

export class CorruptEntryError extends Error {
  override name = "CorruptEntryError";
}

/**
 * Parses a command forwarded by another replica. Only a known kind is let
 * through: once committed, an entry that apply cannot handle would stop every
 * replica, so it must be refused before it is proposed.
 */
export function parseForwardedCommand(bytes: Uint8Array): StateCommand {
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(bytes).toString("utf8"));
  } catch (error) {
    throw new CorruptEntryError(`forwarded command is not JSON: ${(error as Error).message}`);
  }
  const kind = (parsed as { kind?: unknown } | null)?.kind;
  if (typeof kind !== "string" || !commandKinds.has(kind)) throw new CorruptEntryError(`forwarded command has an unknown kind ${JSON.stringify(kind)?.slice(0, 60)}`);
  return parsed as StateCommand;
}

export function encodeEntry(payload: EntryPayload): Uint8Array {
  return Buffer.from(JSON.stringify(payload), "utf8");
}

/** Decodes and checks the envelope; the command's own fields were validated before proposing. */
export function decodeEntry(bytes: Uint8Array): EntryPayload {
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(bytes).toString("utf8"));
  } catch (error) {
    throw new CorruptEntryError(`log entry is not JSON: ${(error as Error).message}`);
  }
  if (typeof parsed !== "object" || parsed === null) throw new CorruptEntryError("log entry is not an object");
  const payload = parsed as Partial<EntryPayload>;
  if (typeof payload.atMs !== "number") throw new CorruptEntryError("log entry has no atMs");
  if (typeof payload.term !== "number") throw new CorruptEntryError("log entry has no term");
  if (typeof payload.replicaId !== "string") throw new CorruptEntryError("log entry has no replicaId");
  const command = payload.command as { kind?: unknown } | undefined;
  if (typeof command?.kind !== "string" || !commandKinds.has(command.kind)) {
    throw new CorruptEntryError(`log entry has an unknown command kind ${JSON.stringify(command?.kind)}`);
  }
  return payload as EntryPayload;
}
