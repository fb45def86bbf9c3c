import type { AblationRow, ExtraKey } from './rows.js';
import type { MetricSummary } from './stats.js';

/** `1 run`, `3 runs`. */
export const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`;

/** What a missing value is shown as: no std for one seed, no wrong prediction to average. */
export const NONE = '–';

/** A fraction as a percentage with two decimals, as the paper prints it. */
export function pct(x: number | null | undefined, digits = 2): string {
  return typeof x === 'number' && Number.isFinite(x) ? (x * 100).toFixed(digits) : NONE;
}

/** `83.31 ± 0.42`; `83.31 ± –` for a single seed. */
export function meanStd(s: MetricSummary): string {
  return `${pct(s.mean)} ± ${pct(s.std)}`;
}

/** Where a run trained: `tensorflow on GPU`, `wasm on CPU`; `tensorflow on CPU (no CUDA device)` for tfjs-node-gpu's fallback; the backend alone for runs older than the device field. */
export function backendLabel(m: { backend?: string; device?: string; deviceReason?: string }): string {
  if (!m.backend) return NONE;
  if (!m.device) return m.backend;
  return `${m.backend} on ${m.device}${m.deviceReason ? ' (no CUDA device)' : ''}`;
}

export const alphaLabel = (alpha: number | null) => (alpha === null ? '-' : String(alpha));
export const dropoutLabel = (dropout: number | null) => (dropout === null ? 'no' : String(dropout));

/** The key columns of a row: method, alpha, dropout, then backbone, lr, optimizer and schedule when they vary. */
export function keyHeader(extra: ExtraKey[]): string[] {
  return ['method', 'alpha', 'dropout', ...extra];
}

export function keyCells(row: AblationRow, extra: ExtraKey[]): string[] {
  return [row.method, alphaLabel(row.alpha), dropoutLabel(row.dropout), ...extra.map((k) => String(row[k]))];
}

/** A short name for a row, e.g. `mixup α=0.2, dropout 0.5`. */
export function rowLabel(row: AblationRow, extra: ExtraKey[] = []): string {
  const parts = [row.method + (row.alpha === null ? '' : ` α=${row.alpha}`), row.dropout === null ? 'no dropout' : `dropout ${row.dropout}`];
  for (const k of extra) parts.push(`${k} ${row[k]}`);
  return parts.join(', ');
}

/**
 * ↑ when `compared` beats `base` at the shown precision (two decimals in percent), ↓ when it is
 * worse, = when the shown figures are equal; nothing when either is missing.
 */
export function arrow(base: number, compared: number): '↑' | '↓' | '=' | '' {
  if (!Number.isFinite(base) || !Number.isFinite(compared)) return '';
  const a = Math.round(base * 10000);
  const b = Math.round(compared * 10000);
  return b > a ? '↑' : b < a ? '↓' : '=';
}
