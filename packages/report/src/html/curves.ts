import { pct, rowLabel } from '../format.js';
import type { AblationRow, ExtraKey } from '../rows.js';
import { esc } from './escape.js';
import { lineChart, type Series } from './line-chart.js';
import { colorAt } from './svg.js';

const percentTick = (v: number) => `${Math.round(v * 100)}%`;
const lrTick = (v: number) => (v === 0 ? '0' : String(Number(v.toPrecision(2))));

/** Each run's lr per epoch (metrics.json history `lr`, from fermix runs with train.schedule), or none. */
function lrSeries(runs: AblationRow['runs']): Series[] {
  return runs.flatMap((r, i) => {
    const points = r.metrics.history.filter((h) => typeof (h as { lr?: unknown }).lr === 'number').map((h): [number, number] => [h.epoch + 1, (h as { lr: number }).lr]);
    return points.length > 0 ? [{ label: `seed ${r.settings.seed}: learning rate`, color: colorAt(i), points }] : [];
  });
}

/**
 * One card per configuration: train loss, test accuracy (solid) and macro F1 (dashed), and the
 * learning rate of each epoch when the runs recorded it; a line per seed.
 */
export function curvesSection(rows: AblationRow[], extra: ExtraKey[]): string {
  const cards = rows.map((row) => {
    const runs = row.runs.filter((r) => r.metrics.history.length > 0);
    if (runs.length === 0) return `<div class="card"><h3>${esc(rowLabel(row, extra))}</h3><p class="muted">no per-epoch history in metrics.json</p></div>`;
    const epochs = (r: (typeof runs)[number]) => r.metrics.history.map((h) => h.epoch + 1);
    const loss: Series[] = runs.map((r, i) => ({
      label: `seed ${r.settings.seed}: train loss`,
      color: colorAt(i),
      points: r.metrics.history.map((h, k) => [epochs(r)[k], h.trainLoss]),
    }));
    const test: Series[] = runs.flatMap((r, i) => {
      const best = r.metrics.history.find((h) => h.epoch === r.metrics.bestEpoch);
      return [
        {
          label: `seed ${r.settings.seed}: test accuracy`,
          color: colorAt(i),
          points: r.metrics.history.map((h, k): [number, number] => [epochs(r)[k], h.accuracy]),
          mark: best ? { x: best.epoch + 1, y: best.accuracy, title: `seed ${r.settings.seed}: best epoch ${best.epoch + 1}, accuracy ${pct(best.accuracy)}%` } : undefined,
        },
        { label: `seed ${r.settings.seed}: test macro F1`, color: colorAt(i), dashed: true, points: r.metrics.history.map((h, k): [number, number] => [epochs(r)[k], h.macroF1]) },
      ];
    });
    const lr = lrSeries(runs);
    const legend = runs
      .map((r, i) => `<span class="swatch" style="background:${colorAt(i)}"></span>seed ${esc(r.settings.seed)} <span class="muted">(${esc(r.name)})</span>`)
      .join(' ');
    return (
      `<div class="card curves" data-row="${esc(row.id)}"><h3>${esc(rowLabel(row, extra))}</h3>` +
      `<p class="legend">${legend}<br><span class="muted">solid: accuracy · dashed: macro F1 · ○ best epoch (kept)</span></p>` +
      `<div class="charts">${lineChart({ title: 'train loss', xLabel: 'epoch', series: loss })}` +
      `${lineChart({ title: 'test accuracy / macro F1', xLabel: 'epoch', series: test, yTick: percentTick })}` +
      (lr.length > 0 ? lineChart({ title: 'learning rate', xLabel: 'epoch', series: lr, yTick: lrTick }) : '') +
      `</div></div>`
    );
  });
  return `<div class="grid">${cards.join('')}</div>`;
}
