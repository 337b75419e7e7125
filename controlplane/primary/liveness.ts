// Host liveness and the decision to fence (DESIGN §5), pure: a function of (memory, input, now)
// returning new memory and effects. The fencing duty (ha-duty.ts) feeds it the hosts' committed
// state and this primary's in-memory contact times, and performs the effects.
//
// Rules:
//  1. A host is dead only after `savingThrows` missed keepalives in a row; one keepalive resets
//     the count. One interval of slack absorbs a keepalive that is merely late.
//  2. Only transitions are effects (committed by the duty with their reason), never a count.
//  3. A host counts as alive again only when it is connected and heard from: a new primary's
//     reset counters (contact = when its duties started) never revive a dead or fenced host, and
//     a fenced host only by a keepalive later than the fence.
//  4. No fencing: in cluster maintenance, for a host in maintenance, before the takeover grace has
//     passed, or when at least 2 hosts and `connectivityThreshold` of all hosts went silent within
//     one keepalive window of each other (that is the control plane's network, not the hosts; a
//     single silent host is never that). Each suppression is an effect once per reason.
//  5. A fence counts only when confirmed: fence-agent by a power status "off" after power-off,
//     self by the agent's timeout plus a margin since its last contact, manual by an operator.
//     A failed fence leaves the host fence-failed and is retried with bounded exponential backoff.
import type { Liveness } from "../state/commands.js";

export type FenceMethodKind = "fence-agent" | "self" | "manual";

export interface LivenessConfig {
  keepaliveIntervalMs: number;
  savingThrows: number;
  connectivityThreshold: number;
  selfFenceMarginMs: number;
  fenceRetryBackoffMs: number;
  fenceRetryBackoffMaxMs: number;
}

export interface HostFacts {
  hostId: string;
  /** Committed liveness. */
  liveness: Liveness;
  maintenance: boolean;
  /** The latest contact this primary knows of: a keepalive, or when its duties started (reset). */
  contactMs: number;
  /** An agent session for the host exists on this primary (local or relayed). */
  connected: boolean;
  fenceMethod: FenceMethodKind;
  selfFence: { mode: string; timeoutMs: number };
  /** Committed count of fence attempts since the host was last alive. */
  fenceAttempts: number;
  /** When the committed liveness was entered (the proposer's time). */
  livenessSinceMs: number;
}

export interface LivenessInput {
  nowMs: number;
  hosts: readonly HostFacts[];
  config: LivenessConfig;
  clusterMaintenance: boolean;
  /** Why fencing waits for the takeover grace, or null once it has passed. */
  graceBlocker: string | null;
}

interface HostMemory {
  /** The reason of the last suppression logged, so each is logged once. */
  suppressed: string | null;
  /** A fence-agent attempt awaits its result. */
  attemptInFlight: boolean;
  /** A failed fence is retried no earlier than this. */
  retryAtMs: number;
}

/** What the decision remembers between calls; a new primary starts from empty (counters reset). */
export type LivenessMemory = ReadonlyMap<string, HostMemory>;

export type LivenessEffect =
  | { kind: "transition"; hostId: string; from: Liveness; to: Liveness; missedKeepalives: number; reason: string; fenceAttempt?: number }
  | { kind: "suppress"; hostId: string; reason: string }
  | { kind: "power-off"; hostId: string; attempt: number };

export interface LivenessDecision {
  memory: LivenessMemory;
  effects: LivenessEffect[];
}

export function emptyLivenessMemory(): LivenessMemory {
  return new Map();
}

/** Keepalives missed in a row since `contactMs` (one interval of slack for a late one). */
export function missedKeepalives(contactMs: number, nowMs: number, intervalMs: number): number {
  return Math.max(0, Math.floor((nowMs - contactMs) / intervalMs) - 1);
}

export function decideLiveness(memory: LivenessMemory, input: LivenessInput): LivenessDecision {
  const next = new Map(memory);
  const effects: LivenessEffect[] = [];
  const sorted = [...input.hosts].sort((a, b) => a.hostId.localeCompare(b.hostId));
  for (const host of sorted) {
    const hostMemory = { ...(next.get(host.hostId) ?? { suppressed: null, attemptInFlight: false, retryAtMs: 0 }) };
    decideHost(host, hostMemory, input, effects);
    next.set(host.hostId, hostMemory);
  }
  return { memory: next, effects };
}

function decideHost(host: HostFacts, memory: HostMemory, input: LivenessInput, effects: LivenessEffect[]): void {
  const { config, nowMs } = input;
  const missed = missedKeepalives(host.contactMs, nowMs, config.keepaliveIntervalMs);
  const heard = host.connected && missed === 0;
  const transition = (to: Liveness, reason: string, fenceAttempt?: number): void => {
    effects.push({ kind: "transition", hostId: host.hostId, from: host.liveness, to, missedKeepalives: missed, reason, ...(fenceAttempt === undefined ? {} : { fenceAttempt }) });
  };
  switch (host.liveness) {
    case "alive":
    case "suspect":
      if (missed >= config.savingThrows) return transition("dead", `${missed} keepalives missed in a row (saving throws ${config.savingThrows})`);
      if (host.liveness === "alive" && missed >= 1) return transition("suspect", `${missed} keepalive${missed === 1 ? "" : "s"} missed`);
      if (host.liveness === "suspect" && heard) return transition("alive", "keepalive received within its saving throws");
      return;
    case "fencing":
      // A fence-agent attempt in flight finishes first; its result decides (afterFenceAttempt).
      if (memory.attemptInFlight) return;
      if (heard) return transition("alive", "keepalive received while fencing was pending");
      return continueFence(host, memory, input, effects);
    case "dead":
    case "fence-failed":
      if (heard) return transition("alive", host.liveness === "dead" ? "keepalive received after the host was dead" : "keepalive received after a failed fence");
      return continueFence(host, memory, input, effects);
    case "fenced":
      // Only a keepalive sent after the fence revives the host: one still in flight from before
      // the power-off proves nothing.
      if (heard && host.contactMs > host.livenessSinceMs + config.keepaliveIntervalMs) return transition("alive", "host is back after its fence");
      return;
  }
}

/** Why fencing `host` is forbidden now, or null (rule 4). */
export function fenceGuard(host: HostFacts, input: LivenessInput): string | null {
  if (input.clusterMaintenance) return "the cluster is in maintenance";
  if (host.maintenance) return `host ${host.hostId} is in maintenance`;
  if (input.graceBlocker !== null) return input.graceBlocker;
  const intervalMs = input.config.keepaliveIntervalMs;
  const silentTogether = input.hosts.filter((other) => {
    const silent = !other.connected || missedKeepalives(other.contactMs, input.nowMs, intervalMs) >= 1;
    return silent && Math.abs(other.contactMs - host.contactMs) <= intervalMs;
  });
  const share = silentTogether.length / input.hosts.length;
  if (silentTogether.length >= 2 && share >= input.config.connectivityThreshold) {
    const names = silentTogether.map((other) => other.hostId).join(", ");
    return `${silentTogether.length} of ${input.hosts.length} hosts (${names}) went silent within one keepalive window (fence.connectivityThreshold ${input.config.connectivityThreshold}): the control plane's network, not the hosts`;
  }
  return null;
}

function continueFence(host: HostFacts, memory: HostMemory, input: LivenessInput, effects: LivenessEffect[]): void {
  const guard = fenceGuard(host, input);
  if (guard !== null) {
    if (memory.suppressed !== guard) effects.push({ kind: "suppress", hostId: host.hostId, reason: guard });
    memory.suppressed = guard;
    return;
  }
  memory.suppressed = null;
  const missed = missedKeepalives(host.contactMs, input.nowMs, input.config.keepaliveIntervalMs);
  const transition = (to: Liveness, reason: string, fenceAttempt?: number): void => {
    effects.push({ kind: "transition", hostId: host.hostId, from: host.liveness, to, missedKeepalives: missed, reason, ...(fenceAttempt === undefined ? {} : { fenceAttempt }) });
  };
  switch (host.fenceMethod) {
    case "fence-agent": {
      if (host.liveness === "fence-failed" && input.nowMs < memory.retryAtMs) return;
      const attempt = host.fenceAttempts + 1;
      memory.attemptInFlight = true;
      transition("fencing", `fence-agent attempt ${attempt}: powering the host off`, attempt);
      effects.push({ kind: "power-off", hostId: host.hostId, attempt });
      return;
    }
    case "self": {
      const { mode, timeoutMs } = host.selfFence;
      if (mode === "off" || mode === "" || timeoutMs <= 0) {
        if (host.liveness !== "fence-failed") transition("fence-failed", "fence method self, but the host's agent reported self-fencing off: confirm by hand (vigilctl host confirm-fenced)");
        return;
      }
      const fencedAtMs = host.contactMs + timeoutMs + input.config.selfFenceMarginMs;
      if (input.nowMs >= fencedAtMs) return transition("fenced", `self-fence (${mode}) confirmed: ${timeoutMs} ms timeout plus ${input.config.selfFenceMarginMs} ms margin passed since the last contact`);
      if (host.liveness !== "fencing") transition("fencing", `self-fence (${mode}): counts as fenced ${fencedAtMs - input.nowMs} ms from now (timeout ${timeoutMs} ms plus margin ${input.config.selfFenceMarginMs} ms since the last contact)`);
      return;
    }
    case "manual":
      if (host.liveness !== "fencing") transition("fencing", `waiting for an operator to confirm the host is off: vigilctl host confirm-fenced ${host.hostId}`);
      return;
  }
}

/** Feeds the result of a fence-agent attempt back (rule 5). */
export function afterFenceAttempt(
  memory: LivenessMemory,
  result: { hostId: string; attempt: number; confirmedOff: boolean; detail: string; nowMs: number; missedKeepalives: number },
  config: LivenessConfig,
): LivenessDecision {
  const next = new Map(memory);
  // attemptInFlight stays set until the result is committed (fenceAttemptSettled): until then the
  // committed state still says fencing, and no second attempt may start.
  const hostMemory = { ...(next.get(result.hostId) ?? { suppressed: null, attemptInFlight: true, retryAtMs: 0 }) };
  const base = { kind: "transition" as const, hostId: result.hostId, from: "fencing" as const, missedKeepalives: result.missedKeepalives, fenceAttempt: result.attempt };
  if (result.confirmedOff) {
    next.set(result.hostId, hostMemory);
    return { memory: next, effects: [{ ...base, to: "fenced", reason: `fence-agent attempt ${result.attempt} confirmed the host off: ${result.detail}` }] };
  }
  const backoffMs = fenceRetryDelayMs(result.attempt, config);
  hostMemory.retryAtMs = result.nowMs + backoffMs;
  next.set(result.hostId, hostMemory);
  return { memory: next, effects: [{ ...base, to: "fence-failed", reason: `fence-agent attempt ${result.attempt} failed: ${result.detail}; retry in ${backoffMs / 1000} s; its VMs are not restarted` }] };
}

/** The result of a fence-agent attempt is committed (or could not be): the host may be decided on again. */
export function fenceAttemptSettled(memory: LivenessMemory, hostId: string): LivenessMemory {
  const hostMemory = memory.get(hostId);
  if (hostMemory === undefined) return memory;
  return new Map(memory).set(hostId, { ...hostMemory, attemptInFlight: false });
}

/** Bounded exponential backoff between fence attempts. */
export function fenceRetryDelayMs(attempt: number, config: LivenessConfig): number {
  const exponent = Math.min(Math.max(attempt - 1, 0), 20);
  return Math.min(config.fenceRetryBackoffMs * 2 ** exponent, config.fenceRetryBackoffMaxMs);
}
