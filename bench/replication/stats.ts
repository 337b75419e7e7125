// Small statistics and the metric record of DESIGN §11 "Tooling contract".

export interface Metric {
  value: number;
  unit: string;
  peer: number | null;
  peerName: string;
  ratio: number | null;
  goal: string;
  met: boolean;
}

/** The nearest-rank percentile of `values` (fraction in (0, 1]); NaN when there are none. */
export function percentile(values: readonly number[], fraction: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(fraction * sorted.length) - 1))]!;
}

export function median(values: readonly number[]): number {
  return percentile(values, 0.5);
}

export function round(value: number, digits: number): number {
  if (!Number.isFinite(value)) return value;
  const scale = 10 ** digits;
  return Math.round(value * scale) / scale;
}

/** Three significant digits: enough for a noisy shared machine, easy to read. */
export function significant(value: number): number {
  if (!Number.isFinite(value) || value === 0) return value;
  const digits = Math.max(0, 2 - Math.floor(Math.log10(Math.abs(value))));
  return round(value, digits);
}

export interface MetricInput {
  value: number;
  unit: string;
  peer: number | null;
  peerName: string;
  goal: string;
  /** Whether the goal is met, decided by the caller from value, peer and ratio. */
  met: boolean;
}

/** A metric whose ratio is value / peer (null without a peer). */
export function metric(input: MetricInput): Metric {
  const ratio = input.peer === null || input.peer === 0 || !Number.isFinite(input.peer) ? null : input.value / input.peer;
  return {
    value: significant(input.value),
    unit: input.unit,
    peer: input.peer === null ? null : significant(input.peer),
    peerName: input.peerName,
    ratio: ratio === null ? null : round(ratio, 3),
    goal: input.goal,
    met: input.met,
  };
}
