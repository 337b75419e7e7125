// sd_notify(3) through koffi and libsystemd, so that Type=notify units are
// "active" only once vigil really serves, systemd knows a stop is a stop, and
// the watchdog sees the event loop turn (LAB.md: Packaging).
//
// Outside systemd NOTIFY_SOCKET is unset: every call is a no-op and libsystemd
// is never loaded, so development runs and tests need nothing. Under systemd a
// libsystemd that cannot be loaded is a startup error, not a silent hang until
// TimeoutStartSec.
import koffi from "koffi";

/** The notification could not be sent although systemd asked for it (NOTIFY_SOCKET is set). */
export class SystemdNotifyError extends Error {
  override name = "SystemdNotifyError";
}

export type NotifyOutcome = "sent" | "not-under-systemd";

type SdNotify = (unsetEnvironment: number, state: string) => number;

/** undefined: not loaded yet; null: NOTIFY_SOCKET is unset. */
let sdNotify: SdNotify | null | undefined;
let watchdogTimer: NodeJS.Timeout | null = null;

function loadSdNotify(): SdNotify | null {
  if (sdNotify !== undefined) return sdNotify;
  const socket = process.env.NOTIFY_SOCKET;
  if (socket === undefined || socket === "") {
    sdNotify = null;
    return sdNotify;
  }
  try {
    const library = koffi.load("libsystemd.so.0");
    sdNotify = library.func("int sd_notify(int unset_environment, const char *state)") as SdNotify;
  } catch (error) {
    throw new SystemdNotifyError(`NOTIFY_SOCKET is set but libsystemd.so.0 cannot be loaded: ${error instanceof Error ? error.message : String(error)}`);
  }
  return sdNotify;
}

/** Sends one sd_notify state string such as "READY=1\nSTATUS=serving". */
export function notify(state: string): NotifyOutcome {
  const send = loadSdNotify();
  if (send === null) return "not-under-systemd";
  // 0: keep NOTIFY_SOCKET in the environment, later STOPPING and WATCHDOG need it.
  const result = send(0, state);
  if (result < 0) throw new SystemdNotifyError(`sd_notify(${JSON.stringify(state.split("\n")[0])}) failed: errno ${-result}`);
  return result > 0 ? "sent" : "not-under-systemd";
}

/**
 * The service serves: systemd moves the unit to "active". Starts the watchdog
 * pings when the unit sets WatchdogSec=.
 */
export function notifyReady(status = "ready"): NotifyOutcome {
  const outcome = notify(`READY=1\nSTATUS=${oneLine(status)}`);
  if (outcome === "sent") startWatchdog();
  return outcome;
}

/** The service begins an orderly stop; systemd then waits up to TimeoutStopSec. */
export function notifyStopping(status = "stopping"): NotifyOutcome {
  return notify(`STOPPING=1\nSTATUS=${oneLine(status)}`);
}

/**
 * The interval at which to send WATCHDOG=1, or null when systemd set no
 * watchdog for this process. Half the timeout, as sd_watchdog_enabled(3) advises.
 */
export function watchdogIntervalMs(environment: NodeJS.ProcessEnv = process.env, pid = process.pid): number | null {
  const timeoutUs = Number(environment.WATCHDOG_USEC ?? "");
  if (!Number.isInteger(timeoutUs) || timeoutUs <= 0) return null;
  // WATCHDOG_PID names the process the watchdog is meant for; a child that inherited it must not ping.
  if (environment.WATCHDOG_PID !== undefined && Number(environment.WATCHDOG_PID) !== pid) return null;
  return Math.max(1, Math.floor(timeoutUs / 2_000));
}

function startWatchdog(): void {
  const intervalMs = watchdogIntervalMs();
  if (intervalMs === null || watchdogTimer !== null) return;
  // The ping runs on the event loop on purpose: a loop blocked for WatchdogSec gets the process restarted.
  // unref: the pings alone never keep the process alive; they continue through an orderly stop.
  watchdogTimer = setInterval(() => {
    try {
      notify("WATCHDOG=1");
    } catch {
      // A ping that fails is a missed ping: systemd restarts the service if they keep failing.
    }
  }, intervalMs);
  watchdogTimer.unref();
}

function oneLine(text: string): string {
  return text.replace(/\s*\n\s*/g, " ");
}
