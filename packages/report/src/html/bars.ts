import { pct } from '../format.js';
import { esc } from './escape.js';
import { linear, niceDomain, niceTicks, svgOpen } from './svg.js';

export interface BarGroup {
  label: string;
  values: number[];
}

/** Grouped vertical bars on a 0-100% axis (class `bar`), a value label over each bar. */
export function groupedBars(o: { title: string; series: { name: string; color: string }[]; groups: BarGroup[] }): string {
  const band = o.series.length * 22 + 18;
  const left = 40;
  const top = 24;
  const bottom = 46;
  const width = left + band * o.groups.length + 10;
  const height = 240;
  const y = linear([0, 1], [height - bottom, top]);
  const out = [svgOpen(width, height, o.title, 'chart bars')];
  out.push(`<text class="chart-title" x="${left}" y="14">${esc(o.title)}</text>`);
  for (const t of [0, 0.25, 0.5, 0.75, 1]) {
    out.push(`<line class="grid" x1="${left}" x2="${width - 10}" y1="${y(t)}" y2="${y(t)}"/><text class="tick" x="${left - 4}" y="${y(t) + 3}" text-anchor="end">${t * 100}%</text>`);
  }
  o.groups.forEach((g, gi) => {
    const x0 = left + gi * band + 9;
    g.values.forEach((v, si) => {
      if (!Number.isFinite(v)) return;
      const x = x0 + si * 22;
      const s = o.series[si];
      out.push(
        `<rect class="bar" data-series="${esc(s.name)}" data-group="${esc(g.label)}" x="${x}" y="${y(v).toFixed(1)}" width="20" height="${(y(0) - y(v)).toFixed(1)}" fill="${s.color}"><title>${esc(g.label)}, ${esc(s.name)}: ${pct(v)}%</title></rect>` +
          `<text class="bar-value" x="${x + 10}" y="${(y(v) - 3).toFixed(1)}" text-anchor="middle">${Math.round(v * 100)}</text>`,
      );
    });
    out.push(`<text class="tick" x="${x0 + (o.series.length * 22) / 2}" y="${height - bottom + 14}" text-anchor="middle">${esc(g.label)}</text>`);
  });
  out.push(`<line class="axis" x1="${left}" x2="${width - 10}" y1="${y(0)}" y2="${y(0)}"/>`);
  out.push('</svg>');
  return out.join('');
}

export interface Dot {
  label: string;
  mean: number;
  std: number | null;
  color: string;
  best?: boolean;
}

/** One metric across methods: a dot at the mean and a whisker of ± one std, on an axis zoomed to the data. */
export function dotPlot(title: string, dots: Dot[]): string {
  const left = 120;
  const right = 14;
  const rowH = 26;
  const top = 24;
  const width = 340;
  const height = top + rowH * dots.length + 26;
  const domain = niceDomain(dots.flatMap((d) => [d.mean - (d.std ?? 0), d.mean + (d.std ?? 0)]));
  const x = linear(domain, [left, width - right]);
  const out = [svgOpen(width, height, title, 'chart dots')];
  out.push(`<text class="chart-title" x="8" y="14">${esc(title)}</text>`);
  const axisY = top + rowH * dots.length;
  for (const t of niceTicks(domain[0], domain[1], 4)) {
    out.push(`<line class="grid" x1="${x(t).toFixed(1)}" x2="${x(t).toFixed(1)}" y1="${top}" y2="${axisY}"/><text class="tick" x="${x(t).toFixed(1)}" y="${axisY + 13}" text-anchor="middle">${(t * 100).toFixed(1).replace(/\.0$/, '')}</text>`);
  }
  dots.forEach((d, i) => {
    const cy = top + i * rowH + rowH / 2;
    out.push(`<text class="tick${d.best ? ' best-label' : ''}" x="${left - 8}" y="${cy + 4}" text-anchor="end">${esc(d.label)}${d.best ? ' ★' : ''}</text>`);
    if (d.std !== null) out.push(`<line class="whisker" x1="${x(d.mean - d.std).toFixed(1)}" x2="${x(d.mean + d.std).toFixed(1)}" y1="${cy}" y2="${cy}" stroke="${d.color}"/>`);
    out.push(`<circle class="dot" cx="${x(d.mean).toFixed(1)}" cy="${cy}" r="5" fill="${d.color}"><title>${esc(d.label)}: ${pct(d.mean)} ± ${pct(d.std)}</title></circle>`);
  });
  out.push(`<line class="axis" x1="${left}" x2="${width - right}" y1="${axisY}" y2="${axisY}"/>`);
  out.push('</svg>');
  return out.join('');
}
