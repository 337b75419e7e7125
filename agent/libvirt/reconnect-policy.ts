// How long to wait before each reconnect attempt: exponential backoff with a ceiling and jitter.
// Pure: the caller supplies the random draw.

export interface ReconnectPolicy {
  /** Wait before the first attempt after a connection is lost. */
  initialDelayMs: number;
  /** Ceiling of any single wait: the backoff is bounded, attempts go on until close(). */
  maxDelayMs: number;
  multiplier: number;
  /** Each wait is spread by up to ±jitterRatio so that many agents do not reconnect in lockstep. */
  jitterRatio: number;
}

export const defaultReconnectPolicy: ReconnectPolicy = {
  initialDelayMs: 250,
  maxDelayMs: 5_000,
  multiplier: 2,
  jitterRatio: 0.2,
};

/** The wait before attempt number `attempt` (0-based); `random` is uniform in [0, 1). */
export function reconnectDelayMs(attempt: number, policy: ReconnectPolicy, random: number): number {
  const exponent = Math.min(attempt, 30); // beyond this the ceiling applies anyway; avoids Infinity
  const base = Math.min(policy.maxDelayMs, policy.initialDelayMs * policy.multiplier ** exponent);
  const jitter = base * policy.jitterRatio * (2 * random - 1);
  return Math.max(0, Math.min(policy.maxDelayMs, Math.round(base + jitter)));
}
