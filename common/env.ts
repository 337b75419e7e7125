// The environment bundle injected into every component (STYLE: "one environment bundle").
// Decision code receives these and never reaches for Date.now, setTimeout or Math.random.

export interface Clock {
  /** Wall-clock milliseconds since the epoch. */
  nowMs(): number;
  /** Monotonic milliseconds, for measuring intervals. */
  monotonicMs(): number;
}

export type Cancel = () => void;

export interface Timers {
  after(delayMs: number, callback: () => void): Cancel;
}

export interface Rng {
  /** Uniform in [0, 1). */
  next(): number;
}

export const systemClock: Clock = {
  nowMs: () => Date.now(),
  monotonicMs: () => performance.now(),
};

export const systemTimers: Timers = {
  after(delayMs, callback) {
    const handle = setTimeout(callback, delayMs);
    return () => clearTimeout(handle);
  },
};

export const systemRng: Rng = { next: () => Math.random() };

/**
 * A small deterministic PRNG (mulberry32) so that seeded runs repeat exactly.
 * Used by the simulators and by tests; production uses systemRng.
 */
export function seededRng(seed: number): Rng {
  let state = seed >>> 0;
  return {
    next() {
      state = (state + 0x6d2b79f5) >>> 0;
      let t = state;
      t = Math.imul(t ^ (t >>> 15), t | 1);
      t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
      return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    },
  };
}
