import { ReportError } from './errors.js';
import { bestRow, bestRowPerMethod, extraKeys, groupRows, type AblationRow, type ExtraKey } from './rows.js';
import { methodName } from './settings.js';
import { meanOfPresent } from './stats.js';
import type { RunCollection } from './types.js';

/** Rows of one configuration table (the paper's Table 2, 3 or 6 shape) and the best of them. */
export interface AblationTable {
  id: 'ablation' | 'table2' | 'table3' | 'table6';
  title: string;
  caption: string;
  rows: AblationRow[];
  /** Highest mean accuracy in this table (ties: macro F1, then average accuracy). */
  best: AblationRow | null;
}

/** Table 4: confidence (max softmax) of correct and of wrong predictions, means over the seeds. */
export interface ConfidenceRow {
  method: string;
  /** The row the figures come from: the method's best row (as in Table 6). */
  row: AblationRow;
  correct: { mean: number | null; median: number | null; count: number };
  wrong: { mean: number | null; median: number | null; count: number };
}

export interface ClassScores {
  precision: number;
  recall: number;
  f1: number;
}

/** Table 5: per-class precision, recall and F1 of vanilla against another method, means over seeds. */
export interface PerClassComparison {
  vanilla: AblationRow;
  compared: AblationRow;
  classes: { name: string; vanilla: ClassScores; compared: ClassScores }[];
}

export interface Report {
  collection: RunCollection;
  /** Settings that are row keys besides method, alpha and dropout because the runs differ in them. */
  extraKeys: ExtraKey[];
  rows: AblationRow[];
  ablation: AblationTable;
  table2: AblationTable;
  table3: AblationTable;
  table4: ConfidenceRow[];
  table5: PerClassComparison | null;
  /** Why Table 5 is missing, when it is. */
  table5Missing?: string;
  table6: AblationTable;
  notes: string[];
}

export interface BuildReportOptions {
  /** Table 5's method (e.g. `mixaugment+flip`); default the best non-vanilla method. */
  compare?: string;
}

const TABLE2_METHODS = ['vanilla', 'mixup'];
const TABLE3_METHODS = ['vanilla', 'mixaugment', 'mixaugment+flip'];
const BEST_RULE = '★ marks the highest mean accuracy (ties: macro F1, then average accuracy).';

function table(id: AblationTable['id'], title: string, caption: string, rows: AblationRow[]): AblationTable {
  return { id, title, caption: `${caption} ${BEST_RULE}`, rows, best: bestRow(rows) };
}

/** Every table of the report, from the collected runs. */
export function buildReport(collection: RunCollection, options: BuildReportOptions = {}): Report {
  if (collection.runs.length === 0) {
    throw new ReportError(`${collection.root}: no finished run (no run folder has a readable metrics.json); ${collection.unfinished.length} unfinished`);
  }
  const rows = groupRows(collection.runs);
  const perMethod = bestRowPerMethod(rows);
  const notes = [...collection.notes, ...duplicateSeedNotes(rows), ...classMismatchNotes(rows)];
  const report: Report = {
    collection,
    extraKeys: extraKeys(collection.runs),
    rows,
    ablation: table('ablation', 'Ablation: every configuration', 'Every (method, alpha, dropout) configuration: mean ± sample std over seeds, in percent.', rows),
    table2: table('table2', 'Table 2: Mixup', 'Vanilla and Mixup configurations (the paper\'s Table 2 shape).', rows.filter((r) => TABLE2_METHODS.includes(r.method))),
    table3: table('table3', 'Table 3: MixAugment', 'Vanilla, MixAugment and MixAugment + flip configurations (the paper\'s Table 3 shape).', rows.filter((r) => TABLE3_METHODS.includes(r.method))),
    table4: perMethod.map(confidenceRow),
    table5: null,
    table6: table('table6', 'Table 6: summary', 'Each method\'s best configuration (its highest mean accuracy over alpha and dropout).', perMethod),
    notes,
  };
  const compared = chooseCompared(perMethod, options.compare);
  const vanilla = perMethod.find((r) => r.method === 'vanilla');
  if (!vanilla) report.table5Missing = 'no vanilla run to compare against';
  else if (!compared) report.table5Missing = 'no method besides vanilla';
  else report.table5 = perClassComparison(vanilla, compared);
  return report;
}

/** The row Table 5 compares with vanilla; throws when `compare` names a method that has no runs. */
function chooseCompared(perMethod: AblationRow[], compare: string | undefined): AblationRow | undefined {
  const others = perMethod.filter((r) => r.method !== 'vanilla');
  if (compare === undefined) return bestRow(others) ?? undefined;
  const wanted = methodName(compare.split('+').map((s) => s.trim()).filter(Boolean));
  const found = others.find((r) => r.method === wanted);
  if (!found) {
    const names = others.map((r) => r.method).join(', ') || 'none';
    throw new ReportError(`--compare ${compare}: no finished runs of that method besides vanilla (methods found: ${names})`);
  }
  return found;
}

function confidenceRow(row: AblationRow): ConfidenceRow {
  const part = (which: 'correct' | 'wrong') => ({
    mean: meanOfPresent(row.runs.map((r) => r.metrics.confidence?.[which]?.mean)),
    median: meanOfPresent(row.runs.map((r) => r.metrics.confidence?.[which]?.median)),
    count: row.runs.reduce((s, r) => s + (r.metrics.confidence?.[which]?.count ?? 0), 0),
  });
  return { method: row.method, row, correct: part('correct'), wrong: part('wrong') };
}

function perClassComparison(vanilla: AblationRow, compared: AblationRow): PerClassComparison {
  const names = [...new Set([...vanilla.runs[0].metrics.classes, ...compared.runs[0].metrics.classes])];
  const scores = (row: AblationRow, name: string): ClassScores => {
    const of = (k: keyof ClassScores) => meanOfPresent(row.runs.map((r) => r.metrics.perClass[name]?.[k])) ?? NaN;
    return { precision: of('precision'), recall: of('recall'), f1: of('f1') };
  };
  return { vanilla, compared, classes: names.map((name) => ({ name, vanilla: scores(vanilla, name), compared: scores(compared, name) })) };
}

function duplicateSeedNotes(rows: AblationRow[]): string[] {
  return rows.flatMap((row) => {
    const repeated = row.seeds.filter((s, i) => row.seeds.indexOf(s) !== i);
    return repeated.length === 0 ? [] : [`${row.runs.map((r) => r.name).join(', ')}: the same configuration with seed ${[...new Set(repeated)].join(', ')} more than once; each run counts as one seed`];
  });
}

function classMismatchNotes(rows: AblationRow[]): string[] {
  const all = rows.flatMap((r) => r.runs);
  const first = JSON.stringify(all[0].metrics.classes);
  const differ = all.filter((r) => JSON.stringify(r.metrics.classes) !== first);
  return differ.length === 0 ? [] : [`runs differ in their classes (${differ.map((r) => r.name).join(', ')} differ from ${all[0].name}): per-class figures compare classes by name`];
}
