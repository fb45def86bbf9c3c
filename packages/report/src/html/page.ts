import { plural } from '../format.js';
import { bestRowPerMethod } from '../rows.js';
import type { Report } from '../tables.js';
import { groupedBars, dotPlot } from './bars.js';
import { confusionSection } from './confusion.js';
import { curvesSection } from './curves.js';
import { esc } from './escape.js';
import { gallerySection } from './gallery.js';
import { STYLE } from './style.js';
import { ablationHtml, confidenceHtml, perClassHtml, runsHtml } from './tables.js';
import { colorAt } from './svg.js';

const section = (id: string, title: string, body: string) => `<section id="${id}"><h2>${esc(title)}</h2>${body}</section>`;

function summaryPlots(report: Report): string {
  const rows = report.table6.rows;
  const dots = (k: 'accuracy' | 'macroF1' | 'averageAccuracy') =>
    rows.map((r, i) => ({ label: r.method, mean: r[k].mean, std: r[k].std, color: colorAt(i), best: r === report.table6.best }));
  return (
    '<p class="caption">Each method\'s best configuration: dot = mean, bar = ± one std over seeds (axes zoomed to the data).</p>' +
    `<div class="grid">${dotPlot('accuracy (%)', dots('accuracy'))}${dotPlot('macro F1 (%)', dots('macroF1'))}${dotPlot('average accuracy (%)', dots('averageAccuracy'))}</div>`
  );
}

function perClassBars(report: Report): string {
  const t = report.table5;
  if (!t) return '';
  return groupedBars({
    title: `per-class F1: vanilla vs ${t.compared.method}`,
    series: [
      { name: 'vanilla', color: '#9aa3ad' },
      { name: t.compared.method, color: '#0072b2' },
    ],
    groups: t.classes.map((c) => ({ label: c.name, values: [c.vanilla.f1, c.compared.f1] })),
  });
}

/**
 * The report as one self-contained HTML page: inline CSS and SVG, images as data: URLs, no script
 * and nothing fetched, so it opens offline from the file.
 */
export function renderHtml(report: Report): string {
  const { collection } = report;
  const covered = new Set([...report.table2.rows, ...report.table3.rows]);
  const chips = [
    plural(collection.runs.length, 'finished run'),
    plural(report.rows.length, 'configuration'),
    plural(new Set(report.rows.map((r) => r.method)).size, 'method'),
  ].map((c) => `<span class="chip">${esc(c)}</span>`);
  if (collection.unfinished.length > 0) chips.push(`<span class="chip warn">${collection.unfinished.length} unfinished</span>`);
  const sections = [
    section('summary', 'Table 6: summary', summaryPlots(report) + ablationHtml(report.table6, report)),
    section('table2', 'Table 2: Mixup', ablationHtml(report.table2, report)),
    section('table3', 'Table 3: MixAugment', ablationHtml(report.table3, report)),
    report.rows.some((r) => !covered.has(r)) ? section('ablation', 'Every configuration', ablationHtml(report.ablation, report)) : '',
    section('table4', 'Table 4: confidence', confidenceHtml(report)),
    section('table5', `Table 5: per class${report.table5 ? `, vanilla vs ${report.table5.compared.method}` : ''}`, perClassHtml(report) + perClassBars(report)),
    section('curves', 'Training curves', curvesSection(report.rows, report.extraKeys)),
    section('confusion', 'Confusion matrices', confusionSection(bestRowPerMethod(report.rows), report.extraKeys)),
    section('gallery', 'What the network sees: one batch', gallerySection(report.rows)),
    section('runs', 'Runs', runsHtml(report)),
    report.notes.length > 0 ? section('notes', 'Notes', `<ul class="notes">${report.notes.map((n) => `<li>${esc(n)}</li>`).join('')}</ul>`) : '',
  ];
  const nav = [...sections.join('').matchAll(/<section id="([^"]+)"><h2>([^<]+)<\/h2>/g)].map(([, id, title]) => `<a href="#${id}">${title.replace(/:.*/, '')}</a>`);
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; img-src data:; style-src 'unsafe-inline'">
<title>fermix report: ${esc(collection.root)}</title><style>${STYLE}</style></head>
<body><header><h1>fermix report</h1><div class="path">${esc(collection.root)}</div><div class="chips">${chips.join('')}</div>
<div class="muted" style="color:#cbd5e1;margin-top:6px">Percentages on each run's test split at its best epoch; mean ± sample std (n − 1) over seeds, – for one seed. ★ = highest mean accuracy.</div></header>
<nav>${nav.join('')}</nav><main>${sections.join('\n')}</main></body></html>
`;
}
