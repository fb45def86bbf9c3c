import { alphaLabel, arrow, backendLabel, dropoutLabel, keyCells, keyHeader, meanStd, pct, plural, rowLabel } from './format.js';
import type { AblationTable, Report } from './tables.js';

const mdCell = (s: string) => s.replace(/\|/g, '\\|').replace(/\n/g, ' ');

export function markdownTable(header: string[], rows: string[][]): string {
  const line = (cells: string[]) => `| ${cells.map(mdCell).join(' | ')} |`;
  return [line(header), line(header.map(() => '---')), ...rows.map(line)].join('\n');
}

/** A Table 2/3/6-shaped table; the best row's figures in bold and a ★. */
export function ablationMarkdown(table: AblationTable, report: Report): string {
  if (table.rows.length === 0) return `## ${table.title}\n\nNo finished runs of these methods.\n`;
  const header = [...keyHeader(report.extraKeys), 'n', 'accuracy', 'macro F1', 'avg. accuracy', 'best'];
  const rows = table.rows.map((r) => {
    const best = r === table.best;
    const fig = (s: string) => (best ? `**${s}**` : s);
    return [...keyCells(r, report.extraKeys), String(r.runs.length), fig(meanStd(r.accuracy)), fig(meanStd(r.macroF1)), fig(meanStd(r.averageAccuracy)), best ? '★' : ''];
  });
  return `## ${table.title}\n\n${table.caption}\n\n${markdownTable(header, rows)}\n`;
}

function confidenceMarkdown(report: Report): string {
  const header = ['method', 'alpha', 'dropout', 'n', 'correct: mean', 'correct: median', 'wrong: mean', 'wrong: median'];
  const rows = report.table4.map((c) => [
    c.method, alphaLabel(c.row.alpha), dropoutLabel(c.row.dropout), String(c.row.runs.length),
    pct(c.correct.mean), pct(c.correct.median), pct(c.wrong.mean), pct(c.wrong.median),
  ]);
  return (
    '## Table 4: confidence\n\nConfidence (max softmax, percent) of correct and of wrong test predictions, for each method\'s best configuration ' +
    '(as in Table 6): the mean over seeds of each run\'s mean and of each run\'s median. – means no prediction of that kind.\n\n' +
    markdownTable(header, rows) + '\n'
  );
}

function perClassMarkdown(report: Report): string {
  const t = report.table5;
  if (!t) return `## Table 5: per class\n\nNot made: ${report.table5Missing}.\n`;
  const m = t.compared.method;
  const header = ['class', ...['precision', 'recall', 'F1'].flatMap((k) => [`${k}: vanilla`, `${k}: ${m}`])];
  const rows = t.classes.map((c) => [
    c.name,
    ...(['precision', 'recall', 'f1'] as const).flatMap((k) => [pct(c.vanilla[k]), `${pct(c.compared[k])} ${arrow(c.vanilla[k], c.compared[k])}`]),
  ]);
  return (
    `## Table 5: per class, vanilla against ${m}\n\n` +
    `Per-class precision, recall and F1 (percent, mean over seeds) of ${rowLabel(t.vanilla)} (n=${t.vanilla.runs.length}) and ${rowLabel(t.compared)} (n=${t.compared.runs.length}); ` +
    `↑/↓: ${m} higher/lower than vanilla.\n\n${markdownTable(header, rows)}\n`
  );
}

function runsMarkdown(report: Report): string {
  const { unfinished } = report.collection;
  const runs = report.rows.flatMap((r) => r.runs);
  const header = ['run', 'method', 'alpha', 'dropout', 'seed', 'accuracy', 'macro F1', 'avg. accuracy', 'best epoch', 'backend'];
  const rows = runs.map((r) => [
    r.name, r.settings.method, alphaLabel(r.settings.alpha), dropoutLabel(r.settings.dropout), String(r.settings.seed),
    pct(r.metrics.accuracy), pct(r.metrics.macroF1), pct(r.metrics.averageAccuracy), String((r.metrics.bestEpoch ?? -1) + 1), backendLabel(r.metrics),
  ]);
  let text = `## Runs\n\n${markdownTable(header, rows)}\n`;
  if (unfinished.length > 0) {
    text += `\n### Unfinished runs (not in the tables)\n\n${markdownTable(['run', 'why'], unfinished.map((u) => [u.name, u.reason]))}\n`;
  }
  return text;
}

/** The whole report as Markdown: Tables 2-6, every run, unfinished runs and notes. */
export function renderMarkdown(report: Report): string {
  const { collection } = report;
  const covered = new Set([...report.table2.rows, ...report.table3.rows]);
  const parts = [
    `# fermix report\n\n${collection.root}: ${plural(collection.runs.length, 'finished run')} in ${plural(report.rows.length, 'configuration')}` +
      (collection.unfinished.length > 0 ? `, ${collection.unfinished.length} unfinished (listed under Runs).` : '.') +
      ' Figures are percentages on the test split of each run\'s best epoch; mean ± sample std (n − 1) over seeds, – for a single seed.\n',
    ablationMarkdown(report.table2, report),
    ablationMarkdown(report.table3, report),
  ];
  if (report.rows.some((r) => !covered.has(r))) parts.push(ablationMarkdown(report.ablation, report));
  parts.push(confidenceMarkdown(report), perClassMarkdown(report), ablationMarkdown(report.table6, report), runsMarkdown(report));
  if (report.notes.length > 0) parts.push(`## Notes\n\n${report.notes.map((n) => `- ${n}`).join('\n')}\n`);
  return parts.join('\n');
}
