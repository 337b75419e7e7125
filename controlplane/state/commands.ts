// The commands of the replicated log. Every change to replicated state is one
// of these, stamped by the proposing primary with its time and term (DESIGN §3:
// applying never reads a replica's own clock).
import type { AgentEvent__Output } from "../../common/generated/vigil/v1/AgentEvent.js";

export const restartPolicies = ["always", "on-host-failure", "never"] as const;
export type RestartPolicy = (typeof restartPolicies)[number];

export const selectors = ["mem", "memprov", "load", "vcpus", "vms"] as const;
export type Selector = (typeof selectors)[number];

/** A host's liveness as the primary commits it (DESIGN §5); only transitions are logged. */
export const livenessStates = ["alive", "suspect", "dead", "fencing", "fenced", "fence-failed"] as const;
export type Liveness = (typeof livenessStates)[number];

/** A VM's HA state: "" none, restarting (a restart is in flight), pending (autorestart-pending: no valid target), failed (max restarts reached). */
export const haStates = ["", "restarting", "pending", "failed"] as const;
export type HaState = (typeof haStates)[number];

/** Operations that put a VM in the skip-trace set (DESIGN §7). */
export type TracedOperation = "start" | "stop" | "shutdown" | "ha-restart";

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
      /** The agent's own self-fence setting (Hello.self_fence); absent in entries of older agents. */
      selfFenceMode?: string;
      selfFenceTimeoutMs?: number;
    }
  | { kind: "AgentEvents"; hostId: string; events: AgentEvent__Output[] }
  | { kind: "PrimaryTakeover"; term: number; replicaId: string }
  | { kind: "PrimaryRelinquish"; term: number; replicaId: string; to: string }
  | { kind: "SetClusterMaintenance"; on: boolean }
  | { kind: "SetConfig"; key: string; value: string }
  | { kind: "SetVmPolicy"; vmUuid: string; policy: Partial<VmPolicy> }
  | { kind: "SetHostMaintenance"; hostId: string; on: boolean }
  | {
      kind: "VmRequested";
      vmUuid: string;
      desiredState: "running" | "stopped";
      /** When not empty, the VM enters the skip-trace set for this command, owned by the entry's term. */
      commandId: string;
      operation?: TracedOperation;
      host?: string;
    }
  | {
      kind: "HostLiveness";
      hostId: string;
      liveness: Liveness;
      missedKeepalives: number;
      reason: string;
      fenceAttempt?: number;
      /** Applies only if the host is still in this state (the decision was made from it): a late fence result never undoes an operator's confirmation. */
      from?: Liveness;
    }
  | { kind: "FenceSuppressed"; hostId: string; reason: string }
  | { kind: "SkipTraceClear"; vmUuid: string; commandId: string; reason: string }
  | { kind: "SkipTraceOrphan"; vmUuid: string; commandId: string; reason: string }
  | { kind: "SkipTraceExpire"; vmUuids: string[]; timeoutMs: number }
  | { kind: "VmRestartPlanned"; vmUuid: string; fromHost: string; toHost: string; commandId: string; reason: string }
  | { kind: "VmHaState"; vmUuid: string; haState: HaState; reason: string }
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
  "HostLiveness",
  "FenceSuppressed",
  "SkipTraceClear",
  "SkipTraceOrphan",
  "SkipTraceExpire",
  "VmRestartPlanned",
  "VmHaState",
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
