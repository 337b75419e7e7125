// The edge of the agent's self-fence (DESIGN §5): ticks the pure clock (self-fence-clock.ts) and
// performs its effects: feed or stop feeding the watchdog, destroy the protected domains, ask for a
// contact probe. The link reports contacts (stream.ts onContact); main.ts wires them together.
import type { Cancel, Clock, Timers } from "../common/env.js";
import { UsageError, errorMessage } from "../common/errors.js";
import type { Logger } from "../common/logging.js";
import type { OptionValues } from "../common/options.js";
import type { Hypervisor } from "./hypervisor.js";
import { initialSelfFenceState, selfFenceModes, selfFenceTickMs, stepSelfFence, type SelfFenceEffect, type SelfFenceInput, type SelfFenceMode, type SelfFenceSettings } from "./self-fence-clock.js";
import type { Watchdog } from "./watchdog.js";

export interface SelfFenceGuardOptions {
  settings: SelfFenceSettings;
  /** Domains (names or UUIDs) destroyed in destroy-vms mode; empty: every domain that is not shut off. */
  protectedDomains: readonly string[];
  hypervisor: Pick<Hypervisor, "listDomains" | "destroyDomain">;
  /** Opened at start; required in watchdog mode. */
  watchdog: Watchdog | null;
  clock: Clock;
  timers: Timers;
  logger: Logger;
  isConnected(): boolean;
  /** Journals a contact probe (an event whose acknowledgement is a contact). */
  probe(): void;
}

export class SelfFenceGuard {
  private state = initialSelfFenceState;
  private cancelTick: Cancel | null = null;
  private destroying: Promise<void> | null = null;
  private stopped = false;
  /** The last failure of a destroy pass: repeated every tick while fenced, logged once until it changes. */
  private lastDestroyProblem: string | null = null;
  private readonly logger: Logger;

  constructor(private readonly options: SelfFenceGuardOptions) {
    this.logger = options.logger.child({ component: "self-fence" });
  }

  /** Starts ticking; `domainsRunning`: something runs already, so the clock is armed from now. */
  start(domainsRunning: boolean): void {
    const { settings } = this.options;
    if (settings.mode === "watchdog" && this.options.watchdog === null) throw new Error("self-fence watchdog mode needs an open watchdog device");
    if (domainsRunning) this.step({ kind: "arm" });
    this.logger.info({ mode: settings.mode, timeoutMs: settings.timeoutMs, armed: domainsRunning, watchdog: this.options.watchdog?.path }, "self-fence on");
    const tick = () => {
      if (this.stopped) return;
      this.step({ kind: "tick", connected: this.options.isConnected() });
      this.cancelTick = this.options.timers.after(selfFenceTickMs(settings), tick);
    };
    tick();
  }

  /** The control plane provably took a message this agent sent at `sentAtMs` (monotonic). */
  contact(sentAtMs: number): void {
    if (!this.stopped) this.step({ kind: "contact", sentAtMs });
  }

  isFenced(): boolean {
    return this.state.fenced;
  }

  /**
   * A clean stop: disarms the watchdog with the magic close, unless the agent has already fenced
   * itself; then the device is closed armed and the host still resets.
   */
  async stop(): Promise<void> {
    this.stopped = true;
    this.cancelTick?.();
    await this.destroying;
    const disarm = !this.state.fenced;
    this.options.watchdog?.close({ disarm });
    this.logger.info({ disarmed: disarm }, disarm ? "self-fence off (watchdog disarmed)" : "self-fence stopped while fenced: the watchdog stays armed");
  }

  private step(input: SelfFenceInput): void {
    const { state, effects } = stepSelfFence(this.state, input, this.options.clock.monotonicMs(), this.options.settings);
    this.state = state;
    for (const effect of effects) this.perform(effect);
  }

  private perform(effect: SelfFenceEffect): void {
    const { logger, options } = this;
    switch (effect.kind) {
      case "feed-watchdog":
        try {
          options.watchdog?.feed();
        } catch (error) {
          logger.error({ err: errorMessage(error) }, "feeding the watchdog failed");
        }
        return;
      case "stop-feeding":
        logger.error({ silentMs: Math.round(effect.silentMs), watchdog: options.watchdog?.path }, "no contact with the primary: self-fencing, the watchdog is no longer fed and will reset this host");
        return;
      case "destroy-vms":
        if (this.destroying === null) {
          this.destroying = this.destroyProtected(effect.silentMs).finally(() => (this.destroying = null));
        }
        return;
      case "probe":
        options.probe();
        return;
      case "contact-restored":
        logger.warn({ silentMs: Math.round(effect.silentMs) }, "contact with the primary restored after self-fencing: VMs stay as they are until the primary decides");
        return;
    }
  }

  /**
   * Destroys every protected domain that still executes guest code (not shut off, not crashed);
   * repeated on every tick while fenced, so a domain started meanwhile does not survive either.
   */
  private async destroyProtected(silentMs: number): Promise<void> {
    const { hypervisor, protectedDomains } = this.options;
    let domains;
    try {
      domains = await hypervisor.listDomains();
    } catch (error) {
      this.destroyProblem(`cannot list domains: ${errorMessage(error)}`);
      return;
    }
    const selected = domains.filter(
      (domain) => domain.state !== "shutoff" && domain.state !== "crashed" && (protectedDomains.length === 0 || protectedDomains.includes(domain.name) || protectedDomains.includes(domain.uuid)),
    );
    let failed = false;
    for (const domain of selected) {
      try {
        await hypervisor.destroyDomain(domain.uuid);
        this.logger.error({ vm: domain.name, silentMs: Math.round(silentMs) }, "no contact with the primary: self-fence destroyed the domain");
      } catch (error) {
        failed = true;
        this.destroyProblem(`destroying ${domain.name} failed: ${errorMessage(error)}`);
      }
    }
    if (!failed) this.lastDestroyProblem = null;
  }

  private destroyProblem(problem: string): void {
    if (problem !== this.lastDestroyProblem) this.logger.error(`self-fence: ${problem} (retried every tick while out of contact)`);
    this.lastDestroyProblem = problem;
  }
}

export interface SelfFenceConfiguration {
  mode: SelfFenceMode;
  /** Null when the mode is off. */
  settings: SelfFenceSettings | null;
  protectedDomains: string[];
  watchdogDevice: string;
}

/** Reads and checks the self-fence options (flags or agent.yaml selfFence.*); a bad one is a UsageError naming it. */
export function selfFenceFromOptions(values: OptionValues): SelfFenceConfiguration {
  const mode = String(values["self-fence-mode"] ?? "off");
  if (!(selfFenceModes as readonly string[]).includes(mode)) throw new UsageError(`--self-fence-mode (selfFence.mode) must be one of ${selfFenceModes.join(", ")}, got "${mode}"`);
  const seconds = (flag: string, key: string): number => {
    const value = Number(values[flag]);
    if (!Number.isFinite(value) || value <= 0) throw new UsageError(`--${flag} (${key}) must be a number of seconds > 0, got "${String(values[flag])}"`);
    return Math.round(value * 1000);
  };
  const timeoutMs = seconds("self-fence-timeout", "selfFence.timeout");
  const watchdogTimeoutMs = seconds("self-fence-watchdog-timeout", "selfFence.watchdogTimeout");
  const protectedDomains = String(values["self-fence-vms"] ?? "").split(",").map((name) => name.trim()).filter(Boolean);
  const watchdogDevice = String(values["self-fence-watchdog-device"] ?? "");
  if (mode === "watchdog") {
    if (watchdogTimeoutMs >= timeoutMs) {
      throw new UsageError(`--self-fence-watchdog-timeout (selfFence.watchdogTimeout, ${watchdogTimeoutMs / 1000} s) must be below --self-fence-timeout (selfFence.timeout, ${timeoutMs / 1000} s): feeding stops that long before the timeout so the reset comes by it`);
    }
    if (watchdogDevice === "") throw new UsageError("--self-fence-watchdog-device (selfFence.watchdogDevice) is required in watchdog mode");
  }
  if (protectedDomains.length > 0 && mode !== "destroy-vms") throw new UsageError(`--self-fence-vms (selfFence.vms) applies only to mode destroy-vms, not ${mode}`);
  return { mode: mode as SelfFenceMode, settings: mode === "off" ? null : { mode: mode as SelfFenceSettings["mode"], timeoutMs, watchdogTimeoutMs }, protectedDomains, watchdogDevice };
}
