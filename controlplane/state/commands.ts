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
export type TracedOperation = "start" | "stop" | "shutdown" | "ha-restart" | "migrate";

/** Control-plane orchestrations (DESIGN §8): an operator's or a flush's migration, a flush, an unflush, and a flush's per-VM shutdown or start steps. */
export const jobKinds = ["migrate", "flush", "unflush", "shutdown", "start"] as const;
export type JobKind = (typeof jobKinds)[number];

export const jobStates = ["pending", "running", "adjudicating", "succeeded", "rolled-back", "failed", "canceled"] as const;
export type JobState = (typeof jobStates)[number];
export const finalJobStates: ReadonlySet<string> = new Set<JobState>(["succeeded", "rolled-back", "failed", "canceled"]);

/** Where a shutdown migration (the fallback) is: shut down on the source, move the definition, start on the target. */
export type FallbackStage = "" | "shutdown" | "move" | "start";

export interface VmPolicy {
  restart: RestartPolicy;
  priority: number;
  limit: string[];
  selector: Selector;
  autorestart: boolean;
  maxRestarts: number;
  /** A failed live migration may fall back to a shutdown migration (DESIGN §8). */
  migrationFallback: boolean;
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
  /** The events of many agents' streams on one replica, proposed together; applied host by host, each as AgentEvents. */
  | { kind: "AgentEventBatches"; hosts: { hostId: string; events: AgentEvent__Output[] }[] }
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
  | { kind: "JobEscalated"; jobHost: string; jobId: string; unknownForMs: number }
  /**
   * An accepted migration: the job (pending, live) is created and the VM enters the skip-trace set
   * (operation migrate, owned by the entry's term) in this one entry. Refused in apply (the job is
   * recorded failed with the reason) when the VM moved or another operation holds it meanwhile.
   */
  | { kind: "MigrationRequested"; jobId: string; vmUuid: string; source: string; target: string; forceLive: boolean; originState: string; parent: string; reason: string }
  /**
   * The primary sends the job's next command (`commandId`, this entry's term): the migration call,
   * or a fallback stage. Applies only while the job is not final and its recorded command is still
   * `previousCommandId` (a compare-and-set: a cancel or another primary's step wins).
   */
  | { kind: "MigrationStep"; jobId: string; previousCommandId: string; commandId: string; phase: string; deadlineMs: number; mode: "live" | "shutdown"; stage: FallbackStage }
  /** The migration's outcome is being adjudicated: recheck `recheckCount` is due at `nextRecheckMs` (DESIGN §8). */
  | { kind: "MigrationAdjudicating"; jobId: string; trigger: string; recheckCount: number; nextRecheckMs: number; deadlineMs: number; phase: string }
  /**
   * THE success entry: ownership moves to the target (vms.last_host = source), the VM's state is the
   * destination's report, then the job succeeds and the skip-trace entry is released. A shutdown
   * migration passes `startCommandId`: the job then stays running (stage start) with the VM
   * skip-traced for that start until MigrationEnded.
   */
  | { kind: "MigrationSucceeded"; jobId: string; detail: string; vmState: string; vmReason: string; startCommandId?: string }
  /** The job's final state other than the success entry: rolled-back, failed, canceled (or succeeded after a fallback's start). */
  | { kind: "MigrationEnded"; jobId: string; state: "succeeded" | "rolled-back" | "failed" | "canceled"; error: string }
  /** An operator cancels a job: a pending migration ends at once, a running one gets AbortJob (its outcome is still adjudicated), a flush starts no new step. */
  | { kind: "JobCancelRequested"; jobId: string; reason: string }
  /** A flush or unflush of `hostId` starts; one already running on that host is canceled. */
  /** The VMs it takes on are worked out when it plans (flush-duty.ts), not fixed here: a VM may still be landing on the host. */
  | { kind: "FlushRequested"; jobId: string; flush: "flush" | "unflush"; hostId: string }
  /**
   * A flush's step that is not a migration: `shutdown` parks a VM with no valid target (desired
   * stopped, autorestart pending); `start` starts a parked VM at unflush. The VM is skip-traced for
   * `commandId`, and a child job row records the step.
   */
  | { kind: "FlushVmStep"; jobId: string; stepId: string; step: "shutdown" | "start"; vmUuid: string; commandId: string; deadlineMs: number; markAutorestart: boolean; reason: string }
  /** A shutdown or start step whose result did not come by its deadline ends failed (a result that came ends it in apply). */
  | { kind: "FlushStepTimedOut"; stepId: string; error: string }
  /** Stopped VMs that stay on the flushed host: their last host is recorded as that host. */
  | { kind: "FlushRecordLastHost"; jobId: string; hostId: string; vmUuids: string[] }
  /** What the flush is doing now (job phase; no event: progress, like JobProgress). */
  | { kind: "FlushPhase"; jobId: string; phase: string }
  /** The orchestration ends; `hostState` when the host's state changes with it (a cancel leaves it to the canceller). */
  | { kind: "FlushFinished"; jobId: string; state: "succeeded" | "failed" | "canceled"; error: string; summary: string; hostState?: "flushed" | "ready" };

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
  "AgentEventBatches",
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
  "MigrationRequested",
  "MigrationStep",
  "MigrationAdjudicating",
  "MigrationSucceeded",
  "MigrationEnded",
  "JobCancelRequested",
  "FlushRequested",
  "FlushVmStep",
  "FlushStepTimedOut",
  "FlushRecordLastHost",
  "FlushPhase",
  "FlushFinished",
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
    parsed = JSON.parse(textOf(bytes));
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

/** The UTF-8 text of `bytes`, read in place: Buffer.from(bytes) would copy them first. */
function textOf(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("utf8");
}

/** Decodes and checks the envelope; the command's own fields were validated before proposing. */
export function decodeEntry(bytes: Uint8Array): EntryPayload {
  let parsed: unknown;
  try {
    parsed = JSON.parse(textOf(bytes));
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
