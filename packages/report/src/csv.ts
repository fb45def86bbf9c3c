import type { AblationTable, Report } from './tables.js';
import type { FinishedRun, UnfinishedRun } from './types.js';

/** One CSV file of the report. */
export interface CsvFile {
  name: string;
  text: string;
}

function cell(value: string | number | boolean | null | undefined): string {
  const s = value === null || value === undefined ? '' : String(value);
  return /[",\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

export function toCsv(header: string[], rows: (string | number | boolean | null | undefined)[][]): string {
  return [header, ...rows].map((r) => r.map(cell).join(',')).join('\n') + '\n';
}

/** A fraction in percent, to 4 decimals (exact for test sets under a million images); empty when missing. */
export function csvPct(x: number | null | undefined): string {
  return typeof x === 'number' && Number.isFinite(x) ? String(Math.round(x * 1e6) / 1e4) : '';
}

const ABLATION_HEADER = [
  'method', 'alpha', 'dropout', 'backbone', 'lr', 'optimizer', 'schedule', 'n', 'seeds',
  'accuracy_mean', 'accuracy_std', 'macro_f1_mean', 'macro_f1_std', 'average_accuracy_mean', 'average_accuracy_std', 'best',
];

/** Table 2, 3, 6 or the whole ablation: one line per row, percentages, std empty for one seed. */
export function ablationCsv(table: AblationTable): string {
  return toCsv(
    ABLATION_HEADER,
    table.rows.map((r) => [
      r.method, r.alpha ?? '', r.dropout ?? 'no', r.backbone, r.lr, r.optimizer, r.schedule, r.runs.length, r.seeds.join(' '),
      csvPct(r.accuracy.mean), csvPct(r.accuracy.std), csvPct(r.macroF1.mean), csvPct(r.macroF1.std),
      csvPct(r.averageAccuracy.mean), csvPct(r.averageAccuracy.std), r === table.best,
    ]),
  );
}

export function confidenceCsv(report: Report): string {
  return toCsv(
    ['method', 'alpha', 'dropout', 'n', 'correct_mean', 'correct_median', 'correct_count', 'wrong_mean', 'wrong_median', 'wrong_count'],
    report.table4.map((c) => [
      c.method, c.row.alpha ?? '', c.row.dropout ?? 'no', c.row.runs.length,
      csvPct(c.correct.mean), csvPct(c.correct.median), c.correct.count, csvPct(c.wrong.mean), csvPct(c.wrong.median), c.wrong.count,
    ]),
  );
}

export function perClassCsv(report: Report): string | null {
  const t = report.table5;
  if (!t) return null;
  const m = t.compared.method;
  const header = ['class', ...['precision', 'recall', 'f1'].flatMap((k) => [`vanilla_${k}`, `${m}_${k}`])];
  return toCsv(header, t.classes.map((c) => [c.name, ...(['precision', 'recall', 'f1'] as const).flatMap((k) => [csvPct(c.vanilla[k]), csvPct(c.compared[k])])]));
}

/** Every run folder found, finished or not, with its own figures. */
export function runsCsv(report: Report): string {
  const finished = (r: FinishedRun) => [
    r.name, 'finished', r.settings.method, r.settings.alpha ?? '', r.settings.dropout ?? 'no', r.settings.seed, r.settings.backbone, r.settings.lr, r.settings.optimizer, r.settings.schedule,
    csvPct(r.metrics.accuracy), csvPct(r.metrics.macroF1), csvPct(r.metrics.averageAccuracy), r.metrics.bestEpoch, r.metrics.epochsRun, r.metrics.seconds, '',
  ];
  const unfinished = (r: UnfinishedRun) => [
    r.name, 'unfinished', r.settings?.method, r.settings?.alpha ?? '', r.settings ? r.settings.dropout ?? 'no' : '', r.settings?.seed, r.settings?.backbone, r.settings?.lr, r.settings?.optimizer, r.settings?.schedule,
    '', '', '', '', '', '', r.reason,
  ];
  return toCsv(
    ['run', 'status', 'method', 'alpha', 'dropout', 'seed', 'backbone', 'lr', 'optimizer', 'schedule', 'accuracy', 'macro_f1', 'average_accuracy', 'best_epoch', 'epochs_run', 'seconds', 'reason'],
    [...report.rows.flatMap((r) => r.runs).map(finished), ...report.collection.unfinished.map(unfinished)],
  );
}

/** The CSV files of a report, one per table plus runs.csv. */
export function renderCsvFiles(report: Report): CsvFile[] {
  const files: CsvFile[] = [
    { name: 'table2-mixup.csv', text: ablationCsv(report.table2) },
    { name: 'table3-mixaugment.csv', text: ablationCsv(report.table3) },
    { name: 'ablation.csv', text: ablationCsv(report.ablation) },
    { name: 'table4-confidence.csv', text: confidenceCsv(report) },
  ];
  const perClass = perClassCsv(report);
  if (perClass) files.push({ name: 'table5-per-class.csv', text: perClass });
  files.push({ name: 'table6-summary.csv', text: ablationCsv(report.table6) }, { name: 'runs.csv', text: runsCsv(report) });
  return files;
}
