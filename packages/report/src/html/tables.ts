import { alphaLabel, arrow, backendLabel, dropoutLabel, keyCells, keyHeader, meanStd, NONE, pct, rowLabel } from '../format.js';
import type { MetricSummary } from '../stats.js';
import type { AblationTable, Report } from '../tables.js';
import { esc } from './escape.js';

interface HtmlRow {
  /** Cell contents as HTML; the last cell spans the columns left over. */
  cells: string[];
  className?: string;
}

/** A table; the first `textColumns` columns are left-aligned text, the rest right-aligned figures. */
function htmlTable(id: string, header: string[], rows: HtmlRow[], textColumns = 1): string {
  const align = (i: number) => (i < textColumns ? ' class="text"' : '');
  const head = `<tr>${header.map((h, i) => `<th${align(i)}>${esc(h)}</th>`).join('')}</tr>`;
  const cells = (r: HtmlRow) =>
    r.cells.map((c, i) => {
      const span = i === r.cells.length - 1 && r.cells.length < header.length ? ` colspan="${header.length - i}"` : '';
      return `<td${align(i)}${span}>${c}</td>`;
    });
  const body = rows.map((r) => `<tr${r.className ? ` class="${r.className}"` : ''}>${cells(r).join('')}</tr>`).join('');
  return `<table id="${id}"><thead>${head}</thead><tbody>${body}</tbody></table>`;
}

/** mean ± std with the std in a muted span; cells hold HTML. */
const figure = (s: MetricSummary) => {
  const [m, sd] = meanStd(s).split(' ± ');
  return `${m}<span class="std"> ± ${sd}</span>`;
};

export function ablationHtml(table: AblationTable, report: Report): string {
  if (table.rows.length === 0) return '<p class="muted">No finished runs of these methods.</p>';
  const header = [...keyHeader(report.extraKeys), 'n', 'accuracy', 'macro F1', 'avg. accuracy', ''];
  const rows = table.rows.map((r) => ({
    className: r === table.best ? 'best' : undefined,
    cells: [...keyCells(r, report.extraKeys).map(esc), String(r.runs.length), figure(r.accuracy), figure(r.macroF1), figure(r.averageAccuracy), r === table.best ? '★' : ''],
  }));
  return `<p class="caption">${esc(table.caption)}</p>${htmlTable(table.id, header, rows)}`;
}

export function confidenceHtml(report: Report): string {
  const header = ['method', 'alpha', 'dropout', 'n', 'correct: mean', 'correct: median', 'wrong: mean', 'wrong: median'];
  const rows = report.table4.map((c) => ({
    cells: [esc(c.method), alphaLabel(c.row.alpha), dropoutLabel(c.row.dropout), String(c.row.runs.length), pct(c.correct.mean), pct(c.correct.median), pct(c.wrong.mean), pct(c.wrong.median)],
  }));
  return (
    '<p class="caption">Confidence (max softmax, %) of correct and of wrong test predictions, each method\'s best configuration: mean over seeds of each run\'s mean and median. ' +
    `${NONE} means no prediction of that kind.</p>${htmlTable('table4', header, rows)}`
  );
}

export function perClassHtml(report: Report): string {
  const t = report.table5;
  if (!t) return `<p class="muted">Not made: ${esc(report.table5Missing)}.</p>`;
  const m = t.compared.method;
  const header = ['class', ...['precision', 'recall', 'F1'].flatMap((k) => [`${k}: vanilla`, `${k}: ${m}`])];
  const rows = t.classes.map((c) => ({
    cells: [
      esc(c.name),
      ...(['precision', 'recall', 'f1'] as const).flatMap((k) => {
        const a = arrow(c.vanilla[k], c.compared[k]);
        const cls = a === '↑' ? 'up' : a === '↓' ? 'down' : 'same';
        return [pct(c.vanilla[k]), `${pct(c.compared[k])} <span class="${cls}">${a}</span>`];
      }),
    ],
  }));
  return (
    `<p class="caption">Per class (%, mean over seeds): ${esc(rowLabel(t.vanilla))} (n=${t.vanilla.runs.length}) against ${esc(rowLabel(t.compared))} (n=${t.compared.runs.length}); ` +
    `↑/↓: ${esc(m)} higher/lower.</p>${htmlTable('table5', header, rows)}`
  );
}

export function runsHtml(report: Report): string {
  const { unfinished } = report.collection;
  const runs = report.rows.flatMap((r) => r.runs);
  const header = ['run', 'method', 'alpha', 'dropout', 'seed', 'accuracy', 'macro F1', 'avg. accuracy', 'best epoch', 'epochs', 'seconds', 'backend'];
  const rows = [
    ...runs.map((r) => ({
      cells: [
        esc(r.name), esc(r.settings.method), alphaLabel(r.settings.alpha), dropoutLabel(r.settings.dropout), esc(r.settings.seed),
        pct(r.metrics.accuracy), pct(r.metrics.macroF1), pct(r.metrics.averageAccuracy), String((r.metrics.bestEpoch ?? -1) + 1),
        esc(r.metrics.epochsRun ?? r.metrics.history.length), esc(typeof r.metrics.seconds === 'number' ? r.metrics.seconds.toFixed(0) : NONE), esc(backendLabel(r.metrics)),
      ],
    })),
    ...unfinished.map((u) => ({
      className: 'unfinished',
      cells: [
        esc(u.name), esc(u.settings?.method ?? '?'), u.settings ? alphaLabel(u.settings.alpha) : '?', u.settings ? dropoutLabel(u.settings.dropout) : '?',
        esc(u.settings?.seed ?? '?'), `<span class="unfinished-reason">unfinished: ${esc(u.reason)}</span>`,
      ],
    })),
  ];
  return htmlTable('runs', header, rows, 2);
}
