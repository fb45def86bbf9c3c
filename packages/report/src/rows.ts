import { summarize, type MetricSummary } from './stats.js';
import type { FinishedRun } from './types.js';

/** One configuration of the ablation: its runs (one per seed) and their metrics as mean ± std. */
export interface AblationRow {
  /** method|alpha|dropout|backbone|lr|optimizer|schedule, unique per row. */
  id: string;
  method: string;
  alpha: number | null;
  dropout: number | null;
  backbone: string;
  lr: number;
  optimizer: string;
  schedule: string;
  runs: FinishedRun[];
  seeds: number[];
  accuracy: MetricSummary;
  macroF1: MetricSummary;
  averageAccuracy: MetricSummary;
}

/** Settings that become row keys when the runs differ in them. */
export type ExtraKey = 'backbone' | 'lr' | 'optimizer' | 'schedule';

/** The paper's methods, in the paper's order; any other method follows them alphabetically. */
export const PAPER_METHODS = ['vanilla', 'mixup', 'mixaugment', 'mixaugment+flip'];

export function compareMethods(a: string, b: string): number {
  const rank = (m: string) => (PAPER_METHODS.includes(m) ? PAPER_METHODS.indexOf(m) : PAPER_METHODS.length);
  return rank(a) - rank(b) || a.localeCompare(b);
}

/** `backbone`, `lr`, `optimizer` and `schedule` when the runs do not all share one. */
export function extraKeys(runs: FinishedRun[]): ExtraKey[] {
  return (['backbone', 'lr', 'optimizer', 'schedule'] as const).filter((k) => new Set(runs.map((r) => r.settings[k])).size > 1);
}

const byNullFirst = (a: number | null, b: number | null) => (a ?? -Infinity) - (b ?? -Infinity);

/** Groups runs into rows by method, alpha, dropout, backbone, lr, optimizer and schedule, in table order. */
export function groupRows(runs: FinishedRun[]): AblationRow[] {
  const groups = new Map<string, FinishedRun[]>();
  for (const run of runs) {
    const s = run.settings;
    const id = [s.method, s.alpha ?? '-', s.dropout ?? 'no', s.backbone, s.lr, s.optimizer, s.schedule].join('|');
    groups.set(id, [...(groups.get(id) ?? []), run]);
  }
  const rows = [...groups].map(([id, group]): AblationRow => {
    const sorted = [...group].sort((a, b) => a.settings.seed - b.settings.seed || a.name.localeCompare(b.name));
    const s = sorted[0].settings;
    return {
      id,
      method: s.method,
      alpha: s.alpha,
      dropout: s.dropout,
      backbone: s.backbone,
      lr: s.lr,
      optimizer: s.optimizer,
      schedule: s.schedule,
      runs: sorted,
      seeds: sorted.map((r) => r.settings.seed),
      accuracy: summarize(sorted.map((r) => r.metrics.accuracy)),
      macroF1: summarize(sorted.map((r) => r.metrics.macroF1)),
      averageAccuracy: summarize(sorted.map((r) => r.metrics.averageAccuracy)),
    };
  });
  return rows.sort(
    (a, b) =>
      compareMethods(a.method, b.method) || byNullFirst(a.alpha, b.alpha) || byNullFirst(a.dropout, b.dropout) || a.backbone.localeCompare(b.backbone) || a.lr - b.lr || a.optimizer.localeCompare(b.optimizer) || a.schedule.localeCompare(b.schedule),
  );
}

/** The row with the highest mean accuracy; ties go to macro F1, then average accuracy, then table order. */
export function bestRow(rows: AblationRow[]): AblationRow | null {
  let best: AblationRow | null = null;
  for (const row of rows) {
    if (!best) best = row;
    else {
      const d = row.accuracy.mean - best.accuracy.mean || row.macroF1.mean - best.macroF1.mean || row.averageAccuracy.mean - best.averageAccuracy.mean;
      if (d > 0) best = row;
    }
  }
  return best;
}

/** Each method's best row, methods in table order. */
export function bestRowPerMethod(rows: AblationRow[]): AblationRow[] {
  const methods = [...new Set(rows.map((r) => r.method))].sort(compareMethods);
  return methods.map((m) => bestRow(rows.filter((r) => r.method === m))!);
}
