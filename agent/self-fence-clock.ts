// The agent's self-fence clock (DESIGN §5), pure: a function of (state, input, now) returning the new
// state and the effects to perform. No clock, timer or I/O here; agent/self-fence.ts is the edge.
//
// Contact. The agent has "reached a primary" at time T when the control plane has provably taken
// a message the agent sent at T: a Welcome proves it took the Hello sent at T (the gateway welcomes
// only after the host's HostHello is committed), an Ack of event seq S proves it committed the event
// sent at T. Contact is counted from the SEND time, never from when the answer arrived: the primary
// counts its own silence from the last message it received, which is no earlier than T, so the
// agent's deadline (contact + timeout) never falls after the primary's (its last contact + timeout +
// margin). Heartbeats are not answered, so an idle agent asks for an acknowledgement with a contact
// probe (an event without state) once a third of the timeout has passed without contact.
//
// Invariants:
// 1. Armed only when there is something to protect: at start when any domain runs, or at the first
//    contact. A host that boots while the control plane is down (its VMs died with the boot) does
//    not fence itself in a loop.
// 2. The deadline is checked before a contact is applied: an answer that arrives after the deadline
//    comes too late, the agent fences itself anyway.
// 3. watchdog: feeding stops at contact + timeout − watchdogTimeout, so the kernel resets the host
//    by contact + timeout at the latest; it never resumes in this process (the primary may already
//    be restarting the VMs elsewhere).
// 4. destroy-vms: while past the deadline, every tick destroys what runs; a later contact ends it.

export const selfFenceModes = ["off", "watchdog", "destroy-vms"] as const;
export type SelfFenceMode = (typeof selfFenceModes)[number];

export interface SelfFenceSettings {
  mode: Exclude<SelfFenceMode, "off">;
  timeoutMs: number;
  /** The watchdog device's own timeout (watchdog mode): the reset comes this long after the last feed. */
  watchdogTimeoutMs: number;
}

export interface SelfFenceState {
  /** Send time (monotonic ms) of the latest message the control plane provably took, or the arming moment; null: not armed. */
  contactMs: number | null;
  /** Past the deadline: destroying (destroy-vms) or no longer feeding (watchdog, for good). */
  fenced: boolean;
  /** When the last contact probe was asked for. */
  probedAtMs: number | null;
}

export type SelfFenceInput =
  | { kind: "tick"; connected: boolean }
  /** Domains run at start: something to protect from the first moment. */
  | { kind: "arm" }
  | { kind: "contact"; sentAtMs: number };

export type SelfFenceEffect =
  | { kind: "feed-watchdog" }
  | { kind: "stop-feeding"; silentMs: number }
  | { kind: "destroy-vms"; silentMs: number }
  | { kind: "probe" }
  | { kind: "contact-restored"; silentMs: number };

export const initialSelfFenceState: SelfFenceState = { contactMs: null, fenced: false, probedAtMs: null };

/** How often the edge ticks: often enough to feed the watchdog and to be late by little. */
export function selfFenceTickMs(settings: SelfFenceSettings): number {
  const bound = settings.mode === "watchdog" ? Math.min(settings.timeoutMs / 10, settings.watchdogTimeoutMs / 4) : settings.timeoutMs / 10;
  return Math.max(50, Math.min(1_000, Math.floor(bound)));
}

/** When the agent fences itself, given its last contact. */
export function selfFenceAtMs(contactMs: number, settings: SelfFenceSettings): number {
  return contactMs + settings.timeoutMs - (settings.mode === "watchdog" ? settings.watchdogTimeoutMs : 0);
}

export function stepSelfFence(state: SelfFenceState, input: SelfFenceInput, nowMs: number, settings: SelfFenceSettings): { state: SelfFenceState; effects: SelfFenceEffect[] } {
  const effects: SelfFenceEffect[] = [];
  let next = { ...state };
  // Invariant 2: the deadline first.
  if (next.contactMs !== null && !next.fenced && nowMs >= selfFenceAtMs(next.contactMs, settings)) {
    next.fenced = true;
    const silentMs = nowMs - next.contactMs;
    effects.push(settings.mode === "watchdog" ? { kind: "stop-feeding", silentMs } : { kind: "destroy-vms", silentMs });
  }
  switch (input.kind) {
    case "arm":
      next.contactMs ??= nowMs;
      break;
    case "contact": {
      if (next.fenced && settings.mode === "watchdog") break; // Invariant 3: latched.
      const before = next.contactMs;
      next.contactMs = Math.max(before ?? input.sentAtMs, input.sentAtMs);
      if (next.fenced) {
        next.fenced = false;
        effects.push({ kind: "contact-restored", silentMs: before === null ? 0 : nowMs - before });
      }
      break;
    }
    case "tick": {
      if (next.fenced) {
        if (settings.mode === "destroy-vms" && !effects.some((effect) => effect.kind === "destroy-vms")) effects.push({ kind: "destroy-vms", silentMs: nowMs - next.contactMs! });
        break;
      }
      if (settings.mode === "watchdog") effects.push({ kind: "feed-watchdog" });
      const probeAfterMs = settings.timeoutMs / 3;
      const quietMs = next.contactMs === null ? 0 : nowMs - next.contactMs;
      if (input.connected && quietMs >= probeAfterMs && (next.probedAtMs === null || nowMs - next.probedAtMs >= probeAfterMs)) {
        next.probedAtMs = nowMs;
        effects.push({ kind: "probe" });
      }
      break;
    }
  }
  next = next.fenced === state.fenced && next.contactMs === state.contactMs && next.probedAtMs === state.probedAtMs ? state : next;
  return { state: next, effects };
}
