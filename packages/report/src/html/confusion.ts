import { rowLabel } from '../format.js';
import type { AblationRow, ExtraKey } from '../rows.js';
import { esc } from './escape.js';
import { svgOpen } from './svg.js';

/** The summed confusion matrix of a row's runs (those with the first run's classes). */
export function summedConfusion(row: AblationRow): { classes: string[]; counts: number[][]; runs: number } {
  const classes = row.runs[0].metrics.classes;
  const same = row.runs.filter((r) => JSON.stringify(r.metrics.classes) === JSON.stringify(classes));
  const counts = classes.map((_, i) => classes.map((__, j) => same.reduce((s, r) => s + (r.metrics.confusionMatrix[i]?.[j] ?? 0), 0)));
  return { classes, counts, runs: same.length };
}

/** White to dark blue. */
function shade(v: number): string {
  const from = [247, 251, 255];
  const to = [8, 48, 107];
  return `rgb(${from.map((f, i) => Math.round(f + (to[i] - f) * v)).join(',')})`;
}

/** A heat map: rows = true class, normalised to sum 1, each cell with its share and count. */
export function confusionSvg(classes: string[], counts: number[][], label: string): string {
  const cell = classes.length > 8 ? 40 : 50;
  const left = 78;
  const top = 78;
  const width = left + cell * classes.length + 8;
  const height = top + cell * classes.length + 24;
  const out = [svgOpen(width, height, label, 'chart confusion')];
  classes.forEach((c, j) => {
    const cx = left + j * cell + cell / 2;
    out.push(`<text class="tick" transform="translate(${cx},${top - 6}) rotate(-45)">${esc(c)}</text>`);
  });
  out.push(`<text class="axis-label" x="${left}" y="12">predicted →</text>`);
  out.push(`<text class="axis-label" x="4" y="${height - 6}">true ↓</text>`);
  counts.forEach((row, i) => {
    const total = row.reduce((s, v) => s + v, 0);
    out.push(`<text class="tick" x="${left - 6}" y="${top + i * cell + cell / 2 + 3}" text-anchor="end">${esc(classes[i])}</text>`);
    row.forEach((count, j) => {
      const share = total > 0 ? count / total : 0;
      const x = left + j * cell;
      const y = top + i * cell;
      const ink = share > 0.5 ? '#fff' : '#1b1b1b';
      out.push(
        `<g class="cm-cell" data-true="${esc(classes[i])}" data-pred="${esc(classes[j])}"><rect x="${x}" y="${y}" width="${cell - 1}" height="${cell - 1}" fill="${shade(share)}"${i === j ? ' class="diag"' : ''}/>` +
          `<text x="${x + cell / 2}" y="${y + cell / 2 - 1}" text-anchor="middle" fill="${ink}" class="cm-share">${Math.round(share * 100)}%</text>` +
          `<text x="${x + cell / 2}" y="${y + cell / 2 + 11}" text-anchor="middle" fill="${ink}" class="cm-count">${count}</text>` +
          `<title>true ${esc(classes[i])}, predicted ${esc(classes[j])}: ${count} of ${total} (${(share * 100).toFixed(1)}%)</title></g>`,
      );
    });
  });
  out.push('</svg>');
  return out.join('');
}

/** One matrix per method, from its best configuration (as in Table 6), counts summed over seeds. */
export function confusionSection(perMethod: AblationRow[], extra: ExtraKey[]): string {
  const cards = perMethod.map((row) => {
    const { classes, counts, runs } = summedConfusion(row);
    return (
      `<div class="card"><h3>${esc(row.method)}</h3><p class="muted">${esc(rowLabel(row, extra))}; test counts summed over ${runs} seed${runs === 1 ? '' : 's'}, rows normalised</p>` +
      confusionSvg(classes, counts, `confusion matrix of ${row.method}`) +
      '</div>'
    );
  });
  return `<div class="grid">${cards.join('')}</div>`;
}
