// The next step of a flush or an unflush (DESIGN §8). Pure: the orchestration's replicated
// record, the VMs it concerns, its child jobs and the placement facts in; exactly one step out.
// The flush duty performs the step (one committed entry creating a child job, or finishing the
// orchestration) and asks again when anything changes. Because every input is replicated, a new
// primary asking the same question gets the same answer: the orchestration resumes where the
// old primary stopped.
//
// Invariants:
//  1. One child at a time: while a child of this orchestration is not final, the step is `wait`
//     (or, after a cancel, still `wait` until it is final, then `cancel-finish`).
//  2. A VM that has a child of this orchestration (in any state) is never handled again: no VM
//     is migrated twice, not even across a primary change, and a failed VM is not retried.
//  3. A canceled orchestration starts no new child.
//  4. The flushed host is never a migration target; every target comes from placement.ts
//     (node limit, readiness, capacity, selector).
//  5. VMs are taken in a fixed order: the order recorded at the start, otherwise priority
//     (higher first), then name, then uuid.
//
// Decisions (why, not only what):
//  - A child migration that ended rolled-back, failed or canceled leaves its VM where it is, and
//    the flush reports it; the VM is NOT then shut down. The migration job already applied the
//    VM's own fallback policy (shutdown migration when migration_fallback is on): a rolled-back
//    result means the operator forbade shutting this VM down to move it, or the fallback itself
//    failed and the VM's state needs a human. Shutting it down anyway would override that policy
//    and cause the downtime the operator chose to avoid. PVC's flush does the same: it leaves a VM
//    it could not move and reports it. The flush still ends (the host becomes `flushed`, so it
//    takes no new VMs) but the job ends `failed`, naming every VM still on the host, so
//    `vigilctl host flush --wait` exits 1 and nobody powers off a host that still runs VMs.
//  - A VM with no valid target is shut down in place and stays owned by the flushed host (its
//    definition lives there); it is marked autorestart-pending when its policy's autorestart is
//    on (what autorestart means everywhere in vigil, restart-planner.ts rule 5), and the unflush
//    starts it. With autorestart off it stays stopped, and the summary says so.
//  - A VM stopped on the flushed host is not moved; its last host is recorded as the flushed host
//    by a `record-last-host` step (idempotent: once last_host equals the host it is not proposed
//    again). Its definition stays where it is.
//  - A VM in a state that is neither running-like nor stopped (nostate, shutdown in progress,
//    unknown) is left where it is and reported: vigil cannot tell whether it runs, so neither a
//    migration nor a "stopped" record would be honest.
//  - A VM that something else holds now (skip-traced, another job: vm-blockers.ts) is passed over
//    while other VMs can go; when only held VMs remain the step is `wait` naming the holders.
//    That wait is bounded by the holders' own bounds (an operation's result or
//    vm.orphanedSkipTimeout, a job's deadline) and the orchestration can always be canceled.
//  - A child whose state this planner does not know is treated as not final: starting another
//    child while one might still run would break invariant 1.
import type { HaState } from "../state/commands.js";
import { placeVm, type PlacementHost, type PlacementVm } from "./placement.js";
import { aliveDomainStates } from "../state/domain-states.js";

export const orchestrationKinds = ["flush", "unflush"] as const;
export type OrchestrationKind = (typeof orchestrationKinds)[number];

export const childKinds = ["migrate", "shutdown", "start"] as const;
export type ChildKind = (typeof childKinds)[number];

/** Job states in which a job will not change any more (the migration contract's final states). */
const finalJobStates: ReadonlySet<string> = new Set(["succeeded", "rolled-back", "failed", "canceled"]);

/** The orchestration's replicated record (the flush or unflush job). */
export interface FlushOrchestration {
  jobId: string;
  kind: OrchestrationKind;
  host: string;
  /** A cancel was requested (JobService.Cancel, or a newer flush/unflush of the same host). */
  cancelRequested: boolean;
  /**
   * The VMs it took on at its start, in order (`orchestrationScope` computes them), or null when
   * none were recorded: the planner then works out the scope from the current facts.
   */
  vmUuids: readonly string[] | null;
}

/** A VM as the planner needs it; placement's fields come from PlacementVm. */
export interface FlushVm extends PlacementVm {
  uuid: string;
  /** The host that owns the VM (the only host allowed to run it), or null. */
  host: string | null;
  /** vms.last_host: where the VM ran before its last move (or where a flush left it), or "". */
  lastHost: string;
  /** The reported domain state (running, paused, shutoff, ...). */
  state: string;
  priority: number;
  /** The VM's policy: keep it autorestart-pending when no target exists. */
  autorestart: boolean;
  /** pending (autorestart-pending) on a VM stopped on the unflushed host marks it to start. */
  haState: HaState;
  /**
   * Why the VM may not be touched now (vm-blockers.ts vmBlocker: skip-traced, an unknown job, a
   * job other than this orchestration and its children), or null.
   */
  blockedBy: string | null;
}

/** A child job of this orchestration (jobs whose parent is the orchestration's job id). */
export interface FlushChild {
  id: string;
  vmUuid: string;
  kind: ChildKind;
  /** pending | running | adjudicating | succeeded | rolled-back | failed | canceled */
  state: string;
  /** migrate: the destination host; shutdown/start: the host it ran on. */
  target: string;
  /** The reason a final child did not succeed, or "". */
  error: string;
  /** When the child's current bounded wait ends, or 0 when unknown. */
  deadlineMs: number;
}

export interface FlushPlanInput {
  orchestration: FlushOrchestration;
  /** Every VM that may concern the orchestration: at least those owned by, or last on, its host. */
  vms: readonly FlushVm[];
  /** This orchestration's children, in any order. */
  children: readonly FlushChild[];
  /**
   * All hosts, the orchestration's host included, with what placement needs. A host that cannot
   * receive a migration (not alive, not ready, no migration_uri) must have ready = false.
   */
  hosts: readonly PlacementHost[];
  nowMs: number;
}

export interface VmOutcome {
  vmUuid: string;
  vm: string;
  detail: string;
}

/** What the orchestration did and did not do, for the job's phase, error and cluster events. */
export interface FlushSummary {
  /** "web1 -> h2" per succeeded migration. */
  migrated: VmOutcome[];
  /** Shut down in place for want of a target (detail says whether autorestart is pending). */
  shutDown: VmOutcome[];
  started: VmOutcome[];
  /** Stopped VMs left on the flushed host, last host recorded. */
  stoppedInPlace: VmOutcome[];
  /** VMs the orchestration meant to move or start but could not, with why. */
  leftBehind: VmOutcome[];
  /** One line for operators: counts, then every VM left behind with its reason. */
  text: string;
}

export type FlushStep =
  /** Create a child migrate job (parent = the orchestration) moving the VM `from` -> `to`; the success path records last_host = from. */
  | { kind: "migrate"; vmUuid: string; vm: string; from: string; to: string; reason: string }
  /**
   * Create a child shutdown job for a VM on the flushed host: no valid target exists. In the same
   * entry commit desired_state stopped and last_host = host; when `markAutorestart`, HA state
   * pending with `reason` (the unflush starts it).
   */
  | { kind: "shutdown"; vmUuid: string; vm: string; host: string; markAutorestart: boolean; reason: string }
  /** Create a child start job starting an autorestart-pending VM on the unflushed host; clear its pending mark. */
  | { kind: "start"; vmUuid: string; vm: string; host: string; reason: string }
  /** Commit last_host = host for these stopped VMs that stay on the flushed host (no child job). */
  | { kind: "record-last-host"; host: string; vms: { vmUuid: string; vm: string }[] }
  /** Nothing to start now: a child runs (childJobId) or only held VMs remain (childJobId ""). */
  | { kind: "wait"; childJobId: string; vmUuid: string; vm: string; reason: string }
  /** The orchestration is done: set the host's state, end the job with `outcome` (failed: summary.text is the error). */
  | { kind: "finish"; outcome: "succeeded" | "failed"; hostState: "flushed" | "ready"; summary: FlushSummary }
  /** Canceled and no child runs any more: end the job canceled. The host's state is the canceller's to set. */
  | { kind: "cancel-finish"; summary: FlushSummary };

/** A VM in one of these states is certainly not executing. */
const stoppedStates: ReadonlySet<string> = new Set(["shutoff", "crashed"]);

function byPriorityThenName(a: FlushVm, b: FlushVm): number {
  return b.priority - a.priority || a.name.localeCompare(b.name) || a.uuid.localeCompare(b.uuid);
}

/** The flush takes on every VM its host owns; the unflush those to bring back or start. */
function inScope(kind: OrchestrationKind, host: string, vm: FlushVm): boolean {
  if (kind === "flush") return vm.host === host;
  if (vm.lastHost !== host) return false;
  return vm.host === host ? vm.haState === "pending" : vm.host !== null && aliveDomainStates.has(vm.state);
}

/**
 * The VMs an orchestration takes on, in the order it will handle them. The flush duty records
 * this list when it creates the orchestration (FlushOrchestration.vmUuids), so that a VM arriving
 * later is not taken on and the order never changes mid-way.
 */
export function orchestrationScope(kind: OrchestrationKind, host: string, vms: readonly FlushVm[]): string[] {
  return vms
    .filter((vm) => inScope(kind, host, vm))
    .sort(byPriorityThenName)
    .map((vm) => vm.uuid);
}

/** The VMs in scope, in order: the recorded list (VMs since deleted are dropped), or computed now. */
function scopedVms(input: FlushPlanInput): FlushVm[] {
  const { kind, host, vmUuids } = input.orchestration;
  const byUuid = new Map(input.vms.map((vm) => [vm.uuid, vm]));
  const uuids = vmUuids ?? orchestrationScope(kind, host, input.vms);
  return uuids.map((uuid) => byUuid.get(uuid)).filter((vm): vm is FlushVm => vm !== undefined);
}

/** What the orchestration should do about one VM that has no child yet. */
type Disposition =
  | { kind: "act"; step: FlushStep }
  | { kind: "record" }
  | { kind: "held"; reason: string }
  | { kind: "left"; reason: string }
  | { kind: "stopped-in-place" }
  | { kind: "none" };

/** A flush moves a running VM off its host (shutting it down when nothing can take it) and records a stopped one. */
function flushDisposition(vm: FlushVm, input: FlushPlanInput): Disposition {
  const { host } = input.orchestration;
  // Moved off the host by someone else since the flush began (an operator, HA): nothing left to drain.
  if (vm.host !== host) return { kind: "none" };
  if (vm.blockedBy !== null) return { kind: "held", reason: vm.blockedBy };
  if (aliveDomainStates.has(vm.state)) {
    const targets = input.hosts.filter((candidate) => candidate.id !== host);
    const placement = placeVm(vm, targets);
    if (placement.host !== null) {
      return { kind: "act", step: { kind: "migrate", vmUuid: vm.uuid, vm: vm.name, from: host, to: placement.host, reason: `flush of ${host}` } };
    }
    const noTarget = "reason" in placement ? placement.reason : "no target";
    const reason = `flush of ${host}: no valid target (${noTarget})`;
    return { kind: "act", step: { kind: "shutdown", vmUuid: vm.uuid, vm: vm.name, host, markAutorestart: vm.autorestart, reason } };
  }
  if (stoppedStates.has(vm.state)) return vm.lastHost === host ? { kind: "stopped-in-place" } : { kind: "record" };
  return { kind: "left", reason: `state ${vm.state || "unknown"}: cannot tell whether it runs, so it was neither moved nor recorded` };
}

/** An unflush brings back a VM that left the host and still runs elsewhere, and starts one the flush shut down. */
function unflushDisposition(vm: FlushVm, input: FlushPlanInput): Disposition {
  const { host } = input.orchestration;
  if (!inScope("unflush", host, vm)) return { kind: "none" };
  if (vm.host === host && !stoppedStates.has(vm.state)) return { kind: "none" };
  if (vm.blockedBy !== null) return { kind: "held", reason: vm.blockedBy };
  const where = vm.host === host ? `not started on ${host}` : `stays on ${vm.host}`;
  if (vm.limit.length > 0 && !vm.limit.includes(host)) return { kind: "left", reason: `${where}: ${host} is not in its limit (${vm.limit.join(",")})` };
  // The host may lack room now, or not be ready: placement over this host alone says.
  const placement = placeVm(vm, input.hosts.filter((candidate) => candidate.id === host));
  if (placement.host === null) {
    const why = "reason" in placement ? placement.reason : "no target";
    return { kind: "left", reason: `${where}: ${why}` };
  }
  if (vm.host === host) {
    return { kind: "act", step: { kind: "start", vmUuid: vm.uuid, vm: vm.name, host, reason: `unflush of ${host}: autorestart` } };
  }
  return { kind: "act", step: { kind: "migrate", vmUuid: vm.uuid, vm: vm.name, from: vm.host!, to: host, reason: `unflush of ${host}: back to its last host` } };
}

function disposition(vm: FlushVm, input: FlushPlanInput): Disposition {
  return input.orchestration.kind === "flush" ? flushDisposition(vm, input) : unflushDisposition(vm, input);
}

function childWait(child: FlushChild, vmName: string, input: FlushPlanInput): FlushStep {
  const leftMs = child.deadlineMs > 0 ? Math.max(0, child.deadlineMs - input.nowMs) : null;
  const bound = leftMs === null ? "" : ` (${Math.ceil(leftMs / 1000)} s left)`;
  const towards = child.kind === "migrate" ? ` to ${child.target}` : ` on ${child.target}`;
  const prefix = input.orchestration.cancelRequested ? "cancel requested; waiting for the running child: " : "";
  return { kind: "wait", childJobId: child.id, vmUuid: child.vmUuid, vm: vmName, reason: `${prefix}${child.kind} of ${vmName}${towards} ${child.state}${bound}` };
}

const pastTense: Record<ChildKind, string> = { migrate: "migration", shutdown: "shutdown", start: "start" };

function childOutcome(child: FlushChild, vm: FlushVm | undefined, summary: FlushSummary): void {
  const name = vm?.name ?? child.vmUuid;
  const towards = child.kind === "migrate" ? ` to ${child.target}` : ` on ${child.target}`;
  if (child.state !== "succeeded") {
    summary.leftBehind.push({ vmUuid: child.vmUuid, vm: name, detail: `${pastTense[child.kind]}${towards} ${child.state}${child.error === "" ? "" : `: ${child.error}`}` });
    return;
  }
  if (child.kind === "migrate") summary.migrated.push({ vmUuid: child.vmUuid, vm: name, detail: `${name} -> ${child.target}` });
  if (child.kind === "start") summary.started.push({ vmUuid: child.vmUuid, vm: name, detail: `started on ${child.target}` });
  if (child.kind === "shutdown") {
    const detail = vm?.haState === "pending" ? "shut down, autorestart pending" : "shut down, stays stopped (autorestart off)";
    summary.shutDown.push({ vmUuid: child.vmUuid, vm: name, detail });
  }
}

function summaryText(input: FlushPlanInput, summary: FlushSummary, notHandled: number): string {
  const { kind, host } = input.orchestration;
  const counts = [
    [summary.migrated.length, kind === "flush" ? "migrated" : "migrated back"],
    [summary.shutDown.length, "shut down for want of a target"],
    [summary.started.length, "started"],
    [summary.stoppedInPlace.length, "stopped in place"],
    [notHandled, "not handled (canceled)"],
  ] as const;
  const done = counts.filter(([count]) => count > 0).map(([count, what]) => `${count} ${what}`);
  const nothing = summary.leftBehind.length === 0 ? "nothing to do" : "nothing done";
  const head = `${kind} of ${host}: ${done.length === 0 ? nothing : done.join(", ")}`;
  if (summary.leftBehind.length === 0) return head;
  return `${head}; left behind: ${summary.leftBehind.map((entry) => `${entry.vm} (${entry.detail})`).join("; ")}`;
}

/** Children first (what was done), then VMs handled without a child, then VMs that arrived after a recorded scope. */
function summarize(input: FlushPlanInput, scoped: readonly FlushVm[], notHandled: number): FlushSummary {
  const summary: FlushSummary = { migrated: [], shutDown: [], started: [], stoppedInPlace: [], leftBehind: [], text: "" };
  const byUuid = new Map(input.vms.map((vm) => [vm.uuid, vm]));
  // The order the VMs were taken in: the recorded scope, else priority then name (a migrated VM has left the live scope).
  const recorded = new Map((input.orchestration.vmUuids ?? []).map((uuid, index) => [uuid, index]));
  const inOrder = (a: FlushChild, b: FlushChild): number => {
    const [vmA, vmB] = [byUuid.get(a.vmUuid), byUuid.get(b.vmUuid)];
    const byRecord = (recorded.get(a.vmUuid) ?? Number.MAX_SAFE_INTEGER) - (recorded.get(b.vmUuid) ?? Number.MAX_SAFE_INTEGER);
    return byRecord || (vmA !== undefined && vmB !== undefined ? byPriorityThenName(vmA, vmB) : 0) || a.id.localeCompare(b.id);
  };
  const children = [...input.children].sort(inOrder);
  for (const child of children) if (finalJobStates.has(child.state)) childOutcome(child, byUuid.get(child.vmUuid), summary);
  const withChild = new Set(input.children.map((child) => child.vmUuid));
  for (const vm of scoped) {
    if (withChild.has(vm.uuid)) continue;
    const what = disposition(vm, input);
    if (what.kind === "stopped-in-place") summary.stoppedInPlace.push({ vmUuid: vm.uuid, vm: vm.name, detail: `stopped, last host ${vm.lastHost}` });
    if (what.kind === "left") summary.leftBehind.push({ vmUuid: vm.uuid, vm: vm.name, detail: what.reason });
  }
  const { kind, host } = input.orchestration;
  if (kind === "flush") {
    const inScopeUuids = new Set(scoped.map((vm) => vm.uuid));
    const arrived = input.vms.filter((vm) => vm.host === host && aliveDomainStates.has(vm.state) && !inScopeUuids.has(vm.uuid)).sort(byPriorityThenName);
    for (const vm of arrived) summary.leftBehind.push({ vmUuid: vm.uuid, vm: vm.name, detail: `arrived on ${host} after the flush began; not taken on` });
  }
  summary.text = summaryText(input, summary, notHandled);
  return summary;
}

/**
 * The one next step of `input.orchestration`. Call it whenever the orchestration, its VMs, its
 * children or the hosts change; perform the step; call it again. Steps that create a child must
 * create it in the same committed entry that the step's other state changes go in. When a step
 * cannot be performed (the Migrate request is refused for a reason placement does not know),
 * record the child as failed with that reason: the planner then moves on (invariant 2) instead of
 * proposing the same step forever.
 */
export function planFlushStep(input: FlushPlanInput): FlushStep {
  const { orchestration } = input;
  const vmNames = new Map(input.vms.map((vm) => [vm.uuid, vm.name]));
  const running = [...input.children].filter((child) => !finalJobStates.has(child.state)).sort((a, b) => a.id.localeCompare(b.id));
  if (running.length > 0) return childWait(running[0]!, vmNames.get(running[0]!.vmUuid) ?? running[0]!.vmUuid, input);

  const scoped = scopedVms(input);
  const withChild = new Set(input.children.map((child) => child.vmUuid));
  const open = scoped.filter((vm) => !withChild.has(vm.uuid));
  const dispositions = open.map((vm) => ({ vm, what: disposition(vm, input) }));
  if (orchestration.cancelRequested) {
    const notHandled = dispositions.filter(({ what }) => what.kind === "act" || what.kind === "held" || what.kind === "record").length;
    return { kind: "cancel-finish", summary: summarize(input, scoped, notHandled) };
  }
  const toRecord = dispositions.filter(({ what }) => what.kind === "record").map(({ vm }) => ({ vmUuid: vm.uuid, vm: vm.name }));
  if (toRecord.length > 0) return { kind: "record-last-host", host: orchestration.host, vms: toRecord };
  for (const { what } of dispositions) if (what.kind === "act") return what.step;
  const held = dispositions.find(({ what }) => what.kind === "held");
  if (held !== undefined && held.what.kind === "held") {
    return { kind: "wait", childJobId: "", vmUuid: held.vm.uuid, vm: held.vm.name, reason: `${held.vm.name} is held: ${held.what.reason}` };
  }
  const summary = summarize(input, scoped, 0);
  return {
    kind: "finish",
    outcome: summary.leftBehind.length === 0 ? "succeeded" : "failed",
    hostState: orchestration.kind === "flush" ? "flushed" : "ready",
    summary,
  };
}
