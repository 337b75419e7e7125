// The cluster configuration keys that `vigilctl config get|set` can change.
// Values are stored as strings in replicated state and parsed here, once.

export interface ConfigKey {
  key: string;
  description: string;
  defaultValue: string;
  /** Returns a reason when the value is not acceptable, or null. */
  problem(value: string): string | null;
}

/** Durations beyond a week are typos; a millisecond count of that fits every uint32 field that carries one. */
const secondsMax = 7 * 24 * 60 * 60;
const countMax = 1_000_000;
/** Plain decimals only: "1e3", "0x10" and " 5 " are refused rather than guessed. */
const decimalPattern = /^\d{1,12}(\.\d{1,6})?$/;

function positiveSeconds(value: string): string | null {
  const seconds = Number(value);
  if (!decimalPattern.test(value) || seconds <= 0 || seconds > secondsMax) return `must be a number of seconds > 0 and at most ${secondsMax}, got "${value.slice(0, 40)}"`;
  return null;
}

function positiveInteger(value: string): string | null {
  const count = Number(value);
  if (!/^\d{1,7}$/.test(value) || count <= 0 || count > countMax) return `must be a whole number from 1 to ${countMax}, got "${value.slice(0, 40)}"`;
  return null;
}

/** A bandwidth cap in MiB/s; 0 means unlimited. */
function bandwidth(value: string): string | null {
  const mib = Number(value);
  if (!/^\d{1,7}$/.test(value) || mib > countMax) return `must be a whole number of MiB/s from 0 (unlimited) to ${countMax}, got "${value.slice(0, 40)}"`;
  return null;
}

function fraction(value: string): string | null {
  const share = Number(value);
  if (!decimalPattern.test(value) || share <= 0 || share > 1) return `must be a fraction in (0, 1], got "${value.slice(0, 40)}"`;
  return null;
}

export const configKeys: readonly ConfigKey[] = [
  { key: "keepalive.interval", description: "seconds between agent keepalives", defaultValue: "5", problem: positiveSeconds },
  { key: "keepalive.savingThrows", description: "missed keepalives in a row before a host is dead", defaultValue: "6", problem: positiveInteger },
  { key: "fence.connectivityThreshold", description: "share of hosts silent together that suppresses fencing", defaultValue: "0.5", problem: fraction },
  { key: "fence.selfFenceMargin", description: "seconds a self-fencing host is given beyond its own timeout before it counts as fenced", defaultValue: "10", problem: positiveSeconds },
  { key: "fence.retryBackoff", description: "seconds before the first retry of a failed fence; doubles per attempt", defaultValue: "10", problem: positiveSeconds },
  { key: "fence.retryBackoffMax", description: "seconds between fence retries at most", defaultValue: "300", problem: positiveSeconds },
  { key: "ha.maxConcurrentRestarts", description: "HA restarts in flight at once at most", defaultValue: "4", problem: positiveInteger },
  { key: "ha.restartWindow", description: "seconds over which a VM's max restarts are counted", defaultValue: "3600", problem: positiveSeconds },
  { key: "vm.orphanedSkipTimeout", description: "seconds an orphaned skip-trace entry lives", defaultValue: "600", problem: positiveSeconds },
  { key: "migration.timeout", description: "seconds a live migration may run before the agent aborts it (also a flush's bound per VM)", defaultValue: "600", problem: positiveSeconds },
  { key: "migration.recheckInterval", description: "seconds between adjudication rechecks", defaultValue: "10", problem: positiveSeconds },
  { key: "migration.recheckTimeout", description: "seconds of adjudication rechecks before rollback", defaultValue: "300", problem: positiveSeconds },
  { key: "migration.shutdownTimeout", description: "seconds a shutdown migration waits for the guest's ACPI shutdown before destroying it", defaultValue: "120", problem: positiveSeconds },
  { key: "migration.bandwidth", description: "MiB/s a live migration may use (0: unlimited)", defaultValue: "0", problem: bandwidth },
  { key: "command.timeout", description: "seconds the control plane waits for an agent's command result", defaultValue: "120", problem: positiveSeconds },
  { key: "job.unknownTimeout", description: "seconds a job may stay unknown before an error event is raised (it stays unknown)", defaultValue: "600", problem: positiveSeconds },
];

const byKey = new Map(configKeys.map((entry) => [entry.key, entry]));

export function findConfigKey(key: string): ConfigKey | undefined {
  return byKey.get(key);
}

/** A reason the pair is refused, or null. */
export function configProblem(key: string, value: string): string | null {
  const entry = byKey.get(key);
  if (entry === undefined) return `unknown config key "${key.slice(0, 80)}" (known: ${configKeys.map((k) => k.key).join(", ")})`;
  const problem = entry.problem(value);
  return problem === null ? null : `${key} ${problem}`;
}
