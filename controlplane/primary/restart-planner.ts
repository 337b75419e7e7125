// Which VMs HA restarts now, and where (DESIGN §6). Pure: committed VMs, hosts and the skip-trace
// set in, restart and HA-state effects out. The HA duty (ha-duty.ts) commits each restart (the
// ownership move) before it sends the start command.
//  1. A VM of a fenced host restarts elsewhere (restart always or on-host-failure) when it was
//     meant to run. Nothing else moves a VM between hosts: a host that is only dead or
//     fence-failed keeps its VMs (no restart elsewhere without a confirmed fence).
//  2. Restart `always` also restarts, on its own live host, a VM that crashed or shut off while
//     meant to run; `never` is left alone.
//  3. A VM that may not be touched now (vm-blockers.ts: skip-traced, orphaned) is left alone.
//  4. Restarts go in priority order (higher first, then name, then uuid, in code-point order as
//     SQLite's BINARY collation compares them, so a reader can hand over the VMs in this order a
//     page at a time), at most `maxConcurrentRestarts` in flight, and at most `maxRestarts` per VM within
//     `restartWindowMs`; beyond it the VM is marked failed with the reason.
//  5. With no valid target a VM becomes autorestart-pending with the reason (or failed when its
//     autorestart is off); it starts once a host of its limit is ready.
//  6. A restart whose result never came (its skip-trace entry expired or its command was never
//     delivered) is retried on the host that now owns the VM, never moved.
//  7. The decisions do not depend on the order of `vms`, and once the bound of rule 4 stops the
//     loop, no VM after the stopping one (in rule 4's order) changes them: planRestartsBounded
//     says where it stopped, so the HA duty reads VMs in pages until it does.
import type { HaState, RestartPolicy, Selector } from "../state/commands.js";
import { placeVm, reserve, type PlacementHost } from "./placement.js";
import { vmBlocker, type TracedOperation } from "./vm-blockers.js";
import { aliveDomainStates } from "../state/domain-states.js";

export interface PlannerVm {
  uuid: string;
  name: string;
  host: string | null;
  state: string;
  reason: string;
  desiredState: string;
  restart: RestartPolicy;
  priority: number;
  limit: readonly string[];
  selector: Selector;
  autorestart: boolean;
  maxRestarts: number;
  memoryBytes: number;
  vcpus: number;
  haState: HaState;
  haReason: string;
  restartHistory: readonly number[];
}

export interface PlannerHost extends PlacementHost {
  liveness: string;
}

export interface PlannerInput {
  nowMs: number;
  vms: readonly PlannerVm[];
  hosts: readonly PlannerHost[];
  skipTrace: ReadonlyMap<string, TracedOperation>;
  /** VMs whose unresolved (unknown) jobs keep HA away, with the reason (job-blocker.ts). */
  jobBlockers: ReadonlyMap<string, string>;
  maxConcurrentRestarts: number;
  restartWindowMs: number;
}

export type PlannerEffect =
  | { kind: "restart"; vmUuid: string; vm: string; fromHost: string; toHost: string; reason: string }
  | { kind: "ha-state"; vmUuid: string; vm: string; haState: HaState; reason: string };

const stoppedStates: ReadonlySet<string> = new Set(["shutoff", "crashed"]);

interface Candidate {
  vm: PlannerVm;
  /** The VM must move: its host is fenced. Otherwise it restarts where it is. */
  move: boolean;
  reason: string;
}

/** Why HA should restart `vm`, or null (rules 1, 2, 6). */
function candidate(vm: PlannerVm, hostsById: ReadonlyMap<string, PlannerHost>): Candidate | null {
  if (vm.restart === "never" || vm.host === null || vm.haState === "failed") return null;
  const owner = hostsById.get(vm.host);
  if (owner === undefined) return null;
  const meantToRun = vm.desiredState === "running" || (vm.desiredState === "" && aliveDomainStates.has(vm.state));
  if (!meantToRun) return null;
  if (owner.liveness === "fenced") return { vm, move: true, reason: `host ${vm.host} fenced` };
  if (owner.liveness !== "alive" || !owner.ready || aliveDomainStates.has(vm.state)) return null;
  if (vm.haState === "restarting") return { vm, move: false, reason: "the previous restart's result never arrived" };
  if (vm.haState === "pending") return { vm, move: true, reason: vm.haReason || "autorestart-pending" };
  if (vm.restart === "always" && stoppedStates.has(vm.state)) return { vm, move: false, reason: `restart always: meant to run, but ${vm.state} (${vm.reason})` };
  return null;
}

/**
 * Code-point order: the order of SQLite's BINARY collation over UTF-8 text (rule 4). JavaScript's
 * `<` compares UTF-16 code units, which puts code points above U+FFFF (surrogate pairs) below
 * U+E000-U+FFFF; UTF-8 bytes, like code points, put them above.
 */
export function compareText(a: string, b: string): number {
  const length = Math.min(a.length, b.length);
  for (let index = 0; index < length; index += 1) {
    const unitA = a.charCodeAt(index);
    const unitB = b.charCodeAt(index);
    if (unitA === unitB) continue;
    const surrogateA = unitA >= 0xd800 && unitA <= 0xdfff;
    const surrogateB = unitB >= 0xd800 && unitB <= 0xdfff;
    if (surrogateA !== surrogateB) return surrogateA ? 1 : -1;
    return unitA - unitB;
  }
  return a.length - b.length;
}

/** Rule 4's order: priority (higher first), then name, then uuid. */
export function restartOrder(a: PlannerVm, b: PlannerVm): number {
  return b.priority - a.priority || compareText(a.name, b.name) || compareText(a.uuid, b.uuid);
}

export function planRestarts(input: PlannerInput): PlannerEffect[] {
  return planRestartsBounded(input).effects;
}

/**
 * planRestarts, and whether the concurrency bound stopped it (rule 7): then no VM after
 * `stoppedAt` in restartOrder could change the decisions, and a caller that passed only a
 * prefix of that order has decided what the whole would.
 */
export function planRestartsBounded(input: PlannerInput): { effects: PlannerEffect[]; stoppedAt: PlannerVm | null } {
  const effects: PlannerEffect[] = [];
  const hostsById = new Map(input.hosts.map((host) => [host.id, host]));
  // A VM reported alive again needs no HA any more.
  const byName = [...input.vms].sort((a, b) => compareText(a.name, b.name) || compareText(a.uuid, b.uuid));
  for (const vm of byName) {
    if ((vm.haState === "pending" || vm.haState === "restarting") && aliveDomainStates.has(vm.state) && !input.skipTrace.has(vm.uuid)) {
      effects.push({ kind: "ha-state", vmUuid: vm.uuid, vm: vm.name, haState: "", reason: `running on ${vm.host}` });
    }
  }
  const candidates = input.vms
    .map((vm) => candidate(vm, hostsById))
    .filter((entry): entry is Candidate => entry !== null && vmBlocker({ skipTrace: input.skipTrace.get(entry.vm.uuid), jobBlocker: input.jobBlockers.get(entry.vm.uuid) }) === null)
    .sort((a, b) => restartOrder(a.vm, b.vm));
  let inFlight = [...input.skipTrace.values()].filter((entry) => entry.operation === "ha-restart").length;
  let hosts: PlacementHost[] = [...input.hosts];
  for (const { vm, move, reason } of candidates) {
    const recent = vm.restartHistory.filter((atMs) => atMs > input.nowMs - input.restartWindowMs).length;
    if (recent >= vm.maxRestarts) {
      const why = `max restarts reached (${recent} within ${input.restartWindowMs / 1000} s, limit ${vm.maxRestarts}); start it by hand`;
      effects.push({ kind: "ha-state", vmUuid: vm.uuid, vm: vm.name, haState: "failed", reason: why });
      continue;
    }
    if (inFlight >= input.maxConcurrentRestarts) return { effects, stoppedAt: vm };
    const target = move ? placeVm(vm, hosts) : { host: vm.host! };
    if (target.host === null) {
      const noTarget = "reason" in target ? target.reason : "no target";
      const [haState, why] = vm.autorestart ? (["pending", `${reason}; ${noTarget}`] as const) : (["failed", `${reason}; ${noTarget}; autorestart is off`] as const);
      if (vm.haState !== haState || vm.haReason !== why) effects.push({ kind: "ha-state", vmUuid: vm.uuid, vm: vm.name, haState, reason: why });
      continue;
    }
    effects.push({ kind: "restart", vmUuid: vm.uuid, vm: vm.name, fromHost: vm.host!, toHost: target.host, reason });
    hosts = reserve(hosts, target.host, vm);
    inFlight += 1;
  }
  return { effects, stoppedAt: null };
}
