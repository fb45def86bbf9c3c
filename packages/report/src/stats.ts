/** A metric over the seeds of one row. */
export interface MetricSummary {
  mean: number;
  /** Sample standard deviation (n - 1); null for a single value. */
  std: number | null;
  values: number[];
}

export function mean(values: number[]): number {
  return values.reduce((s, v) => s + v, 0) / values.length;
}

/** Sample standard deviation (divides by n - 1); null with fewer than two values. */
export function sampleStd(values: number[]): number | null {
  if (values.length < 2) return null;
  const m = mean(values);
  return Math.sqrt(values.reduce((s, v) => s + (v - m) ** 2, 0) / (values.length - 1));
}

export function summarize(values: number[]): MetricSummary {
  return { mean: mean(values), std: sampleStd(values), values };
}

/** The mean of the values that are numbers; null when none is (e.g. no wrong predictions in any run). */
export function meanOfPresent(values: (number | null | undefined)[]): number | null {
  const present = values.filter((v): v is number => typeof v === 'number' && Number.isFinite(v));
  return present.length > 0 ? mean(present) : null;
}
