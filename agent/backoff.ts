// Retry delays (reconnects, disk syncs): exponential with full jitter, bounded (STYLE: every retry has a named bound).

export interface BackoffPolicy {
  initialDelayMs: number;
  maxDelayMs: number;
}

export const reconnectBackoff: BackoffPolicy = { initialDelayMs: 200, maxDelayMs: 10_000 };
/** Disk chain sync retries while libvirt or storage does not answer (DESIGN §9): forever, never faster than this. */
export const diskSyncBackoff: BackoffPolicy = { initialDelayMs: 500, maxDelayMs: 30_000 };

/** Delay before attempt `attempt` (0-based), drawn uniformly from [delay/2, delay] so agents spread out. */
export function backoffDelayMs(policy: BackoffPolicy, attempt: number, random: number): number {
  const ceiling = Math.min(policy.maxDelayMs, policy.initialDelayMs * 2 ** Math.min(attempt, 20));
  return Math.round(ceiling / 2 + (ceiling / 2) * random);
}
