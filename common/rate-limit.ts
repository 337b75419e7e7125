// Token buckets keyed by principal, so one misbehaving agent or user cannot starve the others
// (README "Security"). Time comes in as `nowMs`; nothing here reads a clock.

export interface RateLimit {
  /** Tokens added per second: the sustained rate. */
  perSecond: number;
  /** Bucket size: how many calls may arrive at once after a quiet spell. */
  burst: number;
}

interface Bucket {
  tokens: number;
  updatedMs: number;
}

/** Keys kept at most; beyond it, buckets that have refilled completely are forgotten first. */
export const rateLimitKeysMax = 100_000;

export class RateLimiter {
  private readonly buckets = new Map<string, Bucket>();

  constructor(readonly limit: RateLimit) {}

  /** Takes one token for `key`; false when its bucket is empty (the caller refuses the call). */
  take(key: string, nowMs: number): boolean {
    const bucket = this.refilled(key, nowMs);
    if (bucket.tokens < 1) return false;
    bucket.tokens -= 1;
    return true;
  }

  /** Seconds until `key` has a token again (for the refusal message). */
  retryAfterSeconds(key: string, nowMs: number): number {
    const bucket = this.refilled(key, nowMs);
    return bucket.tokens >= 1 ? 0 : Math.ceil((1 - bucket.tokens) / this.limit.perSecond);
  }

  private refilled(key: string, nowMs: number): Bucket {
    let bucket = this.buckets.get(key);
    if (bucket === undefined) {
      if (this.buckets.size >= rateLimitKeysMax) this.forgetFull(nowMs);
      bucket = { tokens: this.limit.burst, updatedMs: nowMs };
      this.buckets.set(key, bucket);
      return bucket;
    }
    const elapsedMs = Math.max(0, nowMs - bucket.updatedMs);
    bucket.tokens = Math.min(this.limit.burst, bucket.tokens + (elapsedMs / 1000) * this.limit.perSecond);
    bucket.updatedMs = nowMs;
    return bucket;
  }

  /** A full bucket holds no information: dropping it changes no decision. */
  private forgetFull(nowMs: number): void {
    for (const [key, bucket] of this.buckets) {
      const tokens = bucket.tokens + ((nowMs - bucket.updatedMs) / 1000) * this.limit.perSecond;
      if (tokens >= this.limit.burst) this.buckets.delete(key);
    }
    // Every key is busy: forget the oldest rather than grow without bound.
    if (this.buckets.size >= rateLimitKeysMax) this.buckets.delete(this.buckets.keys().next().value!);
  }
}

/** Parses a rate limit flag value as a positive number; throws a sentence. */
export function positiveNumber(text: string, what: string): number {
  const value = Number(text);
  if (!/^\d+(\.\d+)?$/.test(text.trim()) || !Number.isFinite(value) || value <= 0) throw new Error(`${what} must be a number > 0, got "${text}"`);
  return value;
}
