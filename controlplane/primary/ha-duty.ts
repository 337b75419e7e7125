// The primary's HA duty (DESIGN §5-§7): host liveness, fencing, skip-trace expiry and HA
// restarts. Thin: it gathers committed state, this primary's agent sessions and the time, asks
// the pure decisions (liveness.ts, restart-planner.ts), and performs their effects: committed
// StateCommands, fence-device calls and start commands. It runs only while the duty gate says
// this replica is the primary; a new primary starts from empty memory (counters reset).
//
// Restarts are refilled as they end, not only on the tick: when a restart this duty started
// ends (its start's committed result, or the command failing), the restart step runs again
// after haReplanDelayMs. So with ha.maxConcurrentRestarts N a freed slot is used at once, and
// the reaction to a dead host is bounded by the restarts themselves, not by ticks of 500 ms.
//  1. A re-plan is coalesced: at most one is pending; results that end together share it.
//  2. Steps never overlap: a re-plan that comes while a tick or another re-plan runs waits for
//     it to end, then runs (what ended meanwhile may not be in what that one read); a tick that
//     comes while a re-plan runs follows it at once (liveness is never skipped for a re-plan).
//  3. It is bounded: one per haReplanDelayMs at most, and only a restart's end asks for one.
//  4. A step's effects are proposed together (one group commit, not one fsync per restart);
//     each restart's start goes out as soon as its own ownership move is committed.
import type { Cancel } from "../../common/env.js";
import { errorMessage } from "../../common/errors.js";
import type { ClusterConfig, ControlPlaneContext } from "../context.js";
import type { HaState, Liveness, RestartPolicy, Selector } from "../state/commands.js";
import type { HostProvisioned, HostRecord, StateReader, VmRecord } from "../state/store.js";
import type { SessionRegistry } from "./sessions.js";
import type { DutyListener } from "./duty-gate.js";
import type { FenceDevice, FenceMethods } from "./fence-device.js";
import { jobBlockersByVm } from "./job-blocker.js";
import { afterFenceAttempt, decideLiveness, emptyLivenessMemory, fenceAttemptSettled, type HostFacts, type LivenessConfig, type LivenessEffect, type LivenessMemory } from "./liveness.js";
import { planRestartsBounded, type PlannerEffect, type PlannerHost, type PlannerVm } from "./restart-planner.js";
import { sendTraced } from "./traced-command.js";

/** How often the duty looks at liveness, skip-trace and restarts. */
export const haTickIntervalMs = 500;
/** How long after a restart ends the restart step runs again: the results that end together share one re-plan. */
export const haReplanDelayMs = 1;

export type HaDutyContext = Pick<ControlPlaneContext, "log" | "reader" | "sessions" | "dispatcher" | "primary" | "clock" | "timers" | "logger" | "config">;

export class HaDuty implements DutyListener {
  private generation = 0;
  private running = false;
  private busy = false;
  private cancelTick: Cancel | null = null;
  /** The pending re-plan's timer (rule 1), or null. */
  private cancelReplan: Cancel | null = null;
  /** A restart ended while a step was running: re-plan once it has ended (rule 2). */
  private replanAfterBusy = false;
  /** The tick came while a re-plan was running: tick once it has ended (rule 2). */
  private tickAfterBusy = false;
  private memory: LivenessMemory = emptyLivenessMemory();
  private dutiesStartedAtMs = 0;
  /** Latest keepalive seen per host while this replica is primary (in memory only, DESIGN §4). */
  private readonly contactMs = new Map<string, number>();

  constructor(
    private readonly context: HaDutyContext,
    private readonly fenceMethods: FenceMethods,
  ) {
    context.sessions.onChange((change) => {
      if (change.kind !== "disconnected") this.noteContact(change.session.hostId, change.session.lastHeartbeatMs);
    });
  }

  start(term: number): void {
    this.generation += 1;
    this.running = true;
    this.memory = emptyLivenessMemory();
    this.contactMs.clear();
    this.dutiesStartedAtMs = this.context.clock.nowMs();
    this.context.logger.info({ term }, "HA duty started: liveness counters reset, no fencing until the takeover grace has passed");
    this.schedule();
  }

  stop(reason: string): void {
    this.generation += 1;
    this.running = false;
    this.cancelTick?.();
    this.cancelTick = null;
    this.cancelReplan?.();
    this.cancelReplan = null;
    this.replanAfterBusy = false;
    this.tickAfterBusy = false;
    this.context.logger.info({ reason }, "HA duty stopped");
  }

  private noteContact(hostId: string, atMs: number): void {
    if (!this.running) return;
    this.contactMs.set(hostId, Math.max(this.contactMs.get(hostId) ?? 0, atMs));
  }

  private schedule(): void {
    const generation = this.generation;
    this.cancelTick = this.context.timers.after(haTickIntervalMs, () => this.runTick(generation));
  }

  private runTick(generation: number): void {
    if (generation !== this.generation) return;
    // A re-plan runs: the tick follows it at once, not a whole interval later (rule 2).
    if (this.busy) {
      this.tickAfterBusy = true;
      return;
    }
    this.exclusive(async () => {
      await this.livenessStep(generation);
      if (generation !== this.generation) return;
      await this.expireOrphans(generation);
      if (generation !== this.generation) return;
      await this.restartStep(generation);
    })
      .catch((error: unknown) => this.context.logger.warn({ err: errorMessage(error) }, "HA duty step failed; retrying next tick"))
      .finally(() => {
        if (generation === this.generation) this.schedule();
      });
  }

  /** Runs `step` while no other step runs; callers check `busy` first (rule 2). */
  private async exclusive(step: () => Promise<void>): Promise<void> {
    this.busy = true;
    try {
      await step();
    } finally {
      this.busy = false;
      this.afterBusy();
    }
  }

  /** What waited for the step that just ended: a tick (its restart step covers a re-plan too), or a re-plan. */
  private afterBusy(): void {
    if (!this.running) return;
    const generation = this.generation;
    if (this.tickAfterBusy) {
      this.tickAfterBusy = false;
      this.replanAfterBusy = false;
      this.runTick(generation);
    } else if (this.replanAfterBusy) {
      this.replanAfterBusy = false;
      this.requestReplan(generation);
    }
  }

  /** A restart of this duty ended: run the restart step again soon (rules 1-3). */
  private requestReplan(generation: number): void {
    if (generation !== this.generation || this.cancelReplan !== null) return;
    this.cancelReplan = this.context.timers.after(haReplanDelayMs, () => {
      this.cancelReplan = null;
      if (generation !== this.generation) return;
      if (this.busy) {
        this.replanAfterBusy = true;
        return;
      }
      this.exclusive(() => this.restartStep(generation)).catch((error: unknown) =>
        this.context.logger.warn({ err: errorMessage(error) }, "HA re-plan failed; retrying next tick"),
      );
    });
  }

  // -- liveness and fencing ----------------------------------------------------------------------

  private livenessConfig(): LivenessConfig {
    const config = this.context.config();
    return {
      keepaliveIntervalMs: config.keepaliveIntervalMs,
      savingThrows: config.savingThrows,
      connectivityThreshold: config.connectivityThreshold,
      selfFenceMarginMs: config.selfFenceMarginMs,
      fenceRetryBackoffMs: config.fenceRetryBackoffMs,
      fenceRetryBackoffMaxMs: config.fenceRetryBackoffMaxMs,
    };
  }

  private hostFacts(host: HostRecord): HostFacts {
    const session = this.context.sessions.get(host.id);
    if (session !== undefined) this.noteContact(host.id, session.lastHeartbeatMs);
    return {
      hostId: host.id,
      liveness: host.liveness as Liveness,
      maintenance: host.maintenance,
      // Reset counters: nothing older than this primary's duties counts against a host.
      contactMs: Math.max(this.contactMs.get(host.id) ?? 0, this.dutiesStartedAtMs),
      connected: session !== undefined,
      fenceMethod: this.fenceMethods.methodFor(host.id).kind,
      selfFence: { mode: host.selfFenceMode, timeoutMs: host.selfFenceTimeoutMs },
      fenceAttempts: host.fenceAttempts,
      livenessSinceMs: host.livenessSinceMs,
    };
  }

  private async livenessStep(generation: number): Promise<void> {
    const { reader, primary, clock } = this.context;
    const hosts = reader.listHosts();
    if (hosts.length === 0) return;
    const decision = decideLiveness(this.memory, {
      nowMs: clock.nowMs(),
      hosts: hosts.map((host) => this.hostFacts(host)),
      config: this.livenessConfig(),
      clusterMaintenance: reader.clusterMaintenance(),
      graceBlocker: primary.state() === "primary" ? null : "the takeover grace is running (agents reconnect and resync first)",
    });
    this.memory = decision.memory;
    await this.perform(generation, decision.effects);
  }

  private async perform(generation: number, effects: readonly LivenessEffect[]): Promise<void> {
    const { log, reader, logger } = this.context;
    for (const effect of effects) {
      if (generation !== this.generation) return;
      switch (effect.kind) {
        case "transition":
          logger.info({ host: effect.hostId, liveness: effect.to, missed: effect.missedKeepalives }, `host liveness: ${effect.reason}`);
          await log.propose({ kind: "HostLiveness", hostId: effect.hostId, from: effect.from, liveness: effect.to, missedKeepalives: effect.missedKeepalives, reason: effect.reason, ...(effect.fenceAttempt === undefined ? {} : { fenceAttempt: effect.fenceAttempt }) });
          break;
        case "suppress":
          logger.info({ host: effect.hostId, reason: effect.reason }, "fencing suppressed");
          await log.propose({ kind: "FenceSuppressed", hostId: effect.hostId, reason: effect.reason });
          break;
        case "power-off": {
          const method = this.fenceMethods.methodFor(effect.hostId);
          if (method.kind !== "fence-agent") break;
          const missedAtStart = reader.host(effect.hostId)?.missedKeepalives ?? 0;
          this.fenceWithDevice(generation, method.device, effect.attempt, missedAtStart).catch((error: unknown) => {
            // A device must not throw (fence-device.ts); if one does, the attempt is dropped and the next tick tries again.
            logger.warn({ host: effect.hostId, err: errorMessage(error) }, "fence device threw");
            if (generation === this.generation) this.memory = fenceAttemptSettled(this.memory, effect.hostId);
          });
          break;
        }
      }
    }
  }

  /** Power off, then confirm off: a fence counts only when the device says the host is off. */
  private async fenceWithDevice(generation: number, device: FenceDevice, attempt: number, missed: number): Promise<void> {
    const { logger, clock } = this.context;
    logger.info({ host: device.hostId, attempt }, "fencing: powering the host off");
    const off = await device.powerOff();
    let confirmedOff = false;
    let detail = `power off ${off.outcome}${off.detail ? `: ${off.detail}` : ""}`;
    if (off.outcome === "off") {
      const status = await device.powerStatus();
      confirmedOff = status.status === "off";
      detail = `power status ${status.status}${status.detail ? `: ${status.detail}` : ""}`;
    }
    if (generation !== this.generation) return;
    const decision = afterFenceAttempt(this.memory, { hostId: device.hostId, attempt, confirmedOff, detail, nowMs: clock.nowMs(), missedKeepalives: missed }, this.livenessConfig());
    this.memory = decision.memory;
    try {
      await this.perform(generation, decision.effects);
    } catch (error) {
      logger.warn({ host: device.hostId, err: errorMessage(error) }, "fence result not committed; the next primary fences again");
    } finally {
      if (generation === this.generation) this.memory = fenceAttemptSettled(this.memory, device.hostId);
    }
  }

  // -- skip-trace ---------------------------------------------------------------------------------

  private async expireOrphans(generation: number): Promise<void> {
    const { reader, clock, log } = this.context;
    const timeoutMs = this.context.config().orphanedSkipTimeoutMs;
    const now = clock.nowMs();
    const expired = [...reader.skipTrace().values()].filter((entry) => entry.orphanedAtMs !== null && now - entry.orphanedAtMs >= timeoutMs).map((entry) => entry.vmUuid);
    if (expired.length === 0 || generation !== this.generation) return;
    await log.propose({ kind: "SkipTraceExpire", vmUuids: expired, timeoutMs });
  }

  // -- HA restarts --------------------------------------------------------------------------------

  private async restartStep(generation: number): Promise<void> {
    const effects = planRestartStep(this.context.reader, this.context.sessions, this.context.config(), this.context.clock.nowMs());
    if (effects.length === 0 || generation !== this.generation) return;
    // Proposed together, in the planner's order (rule 4): the log orders them as proposed.
    const outcomes = await Promise.allSettled(effects.map((effect) => this.performRestart(generation, effect)));
    const failed = outcomes.find((outcome): outcome is PromiseRejectedResult => outcome.status === "rejected");
    if (failed !== undefined) throw failed.reason;
  }

  private async performRestart(generation: number, effect: PlannerEffect): Promise<void> {
    const { log, dispatcher, logger } = this.context;
    if (effect.kind === "ha-state") {
      await log.propose({ kind: "VmHaState", vmUuid: effect.vmUuid, haState: effect.haState, reason: effect.reason });
      return;
    }
    const commandId = dispatcher.newCommandId();
    // Ownership moves (and the VM enters skip-trace) in one committed entry before the start goes out.
    await log.propose({ kind: "VmRestartPlanned", vmUuid: effect.vmUuid, fromHost: effect.fromHost, toHost: effect.toHost, commandId, reason: effect.reason });
    logger.info({ vm: effect.vm, host: effect.toHost, from: effect.fromHost }, `HA restart: ${effect.reason}`);
    sendTraced(this.context, { vmUuid: effect.vmUuid, host: effect.toHost, action: { start: { vmUuid: effect.vmUuid } }, timeoutMs: this.context.config().commandTimeoutMs, commandId })
      .catch((error: unknown) => logger.warn({ vm: effect.vm, host: effect.toHost, err: errorMessage(error) }, "HA start not confirmed"))
      // Its slot is free (or the VM needs planning again): refill it now, not at the next tick.
      .finally(() => this.requestReplan(generation));
  }
}

/** The restart step's first page of waiting VMs: a freed slot needs only the first few in line. */
export const restartPageMinimum = 64;

/**
 * The restart step's decision (planRestarts with this primary's sessions): what the duty evaluates
 * each tick and after a restart ends, and what `bench -- scale` times as the sync cycle. It reads
 * only what the planner can act on (StateReader.vmsNeedingHa), in the planner's order a page at a
 * time until the concurrency bound stops the planner (restart-planner.ts rule 7), and the hosts'
 * provisioned sums in one query: the decisions equal those over every VM
 * (test/unit/restart-step-read.test.ts proves it). A cluster with nothing to restart costs one
 * indexed query that finds nothing, however many VMs run; 1,000 VMs waiting for 4 slots cost a
 * page of 64, not 1,000 rows, each time a slot frees.
 */
export function planRestartStep(
  reader: StateReader,
  sessions: Pick<SessionRegistry, "get">,
  config: ClusterConfig,
  nowMs: number,
  firstPage = Math.max(restartPageMinimum, 4 * config.haMaxConcurrentRestarts),
): PlannerEffect[] {
  let limit = firstPage;
  let page = reader.vmsNeedingHa(limit);
  // The planner decides only about the VMs it is given: with none, there is nothing to decide.
  if (page.length === 0) return [];
  const input = {
    nowMs,
    hosts: plannerHosts(reader.listHosts(), reader.provisionedByHost(), sessions),
    skipTrace: reader.skipTrace(),
    jobBlockers: jobBlockersByVm(reader.unresolvedJobs()),
    maxConcurrentRestarts: config.haMaxConcurrentRestarts,
    restartWindowMs: config.haRestartWindowMs,
  };
  // Every VM whose HA state the planner clears, wherever it stands in line.
  const back = reader.vmsBackWithHaState();
  for (;;) {
    const inPage = new Set(page.map((vm) => vm.uuid));
    const vms = [...page, ...back.filter((vm) => !inPage.has(vm.uuid))].map(plannerVm);
    const plan = planRestartsBounded({ ...input, vms });
    // Stopped by the bound inside the page, or the page holds every waiting VM: the rest cannot change the decisions.
    if (plan.stoppedAt !== null || page.length < limit) return plan.effects;
    limit *= 4;
    page = reader.vmsNeedingHa(limit);
  }
}

export function plannerHosts(hosts: readonly HostRecord[], provisioned: ReadonlyMap<string, HostProvisioned>, sessions: Pick<SessionRegistry, "get">): PlannerHost[] {
  return hosts.map((host) => {
    const session = sessions.get(host.id);
    const owned = provisioned.get(host.id);
    const notReadyReason =
      host.liveness !== "alive" ? host.liveness : session === undefined ? "not connected" : host.maintenance ? "in maintenance" : host.state !== "ready" ? host.state : "";
    return {
      id: host.id,
      liveness: host.liveness,
      ready: notReadyReason === "",
      notReadyReason,
      memoryBytes: host.memoryBytes,
      freeMemoryBytes: session?.stats?.freeMemoryBytes ? session.stats.freeMemoryBytes : null,
      provisionedMemoryBytes: owned?.memoryBytes ?? 0,
      provisionedVcpus: owned?.vcpus ?? 0,
      vmCount: owned?.vmCount ?? 0,
      load: session?.stats?.load ?? 0,
    };
  });
}

export function plannerVm(vm: VmRecord): PlannerVm {
  return {
    uuid: vm.uuid,
    name: vm.name,
    host: vm.host,
    state: vm.state,
    reason: vm.reason,
    desiredState: vm.desiredState,
    restart: vm.restart as RestartPolicy,
    priority: vm.priority,
    limit: vm.limit,
    selector: vm.selector as Selector,
    autorestart: vm.autorestart,
    maxRestarts: vm.maxRestarts,
    memoryBytes: vm.memoryBytes,
    vcpus: vm.vcpus,
    haState: vm.haState as HaState,
    haReason: vm.haReason,
    restartHistory: vm.restartHistory,
  };
}
