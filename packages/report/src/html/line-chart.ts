import { esc } from './escape.js';
import { fmt, linear, niceDomain, niceTicks, svgOpen } from './svg.js';

export interface Series {
  label: string;
  color: string;
  dashed?: boolean;
  points: [number, number][];
  /** A point to mark (e.g. the best epoch), with a hover text. */
  mark?: { x: number; y: number; title: string };
}

export interface LineChartOptions {
  title: string;
  xLabel: string;
  series: Series[];
  /** Fixed y range; default from the data. */
  yDomain?: [number, number];
  /** Formats y tick values (e.g. fractions as percent). */
  yTick?: (v: number) => string;
  width?: number;
  height?: number;
}

const M = { left: 46, right: 12, top: 22, bottom: 34 };

/** A line chart: axes with round ticks, grid lines, one path per series (class `curve`). */
export function lineChart(o: LineChartOptions): string {
  const width = o.width ?? 280;
  const height = o.height ?? 220;
  const all = o.series.flatMap((s) => s.points);
  const xs = all.map((p) => p[0]);
  const xDomain: [number, number] = xs.length > 0 && Math.max(...xs) > Math.min(...xs) ? [Math.min(...xs), Math.max(...xs)] : [(xs[0] ?? 1) - 0.5, (xs[0] ?? 1) + 0.5];
  const yDomain = o.yDomain ?? niceDomain(all.map((p) => p[1]));
  const x = linear(xDomain, [M.left, width - M.right]);
  const y = linear(yDomain, [height - M.bottom, M.top]);
  const yTick = o.yTick ?? fmt;
  const out = [svgOpen(width, height, o.title, 'chart line-chart')];
  out.push(`<text class="chart-title" x="${M.left}" y="14">${esc(o.title)}</text>`);
  for (const t of niceTicks(yDomain[0], yDomain[1], 4)) {
    out.push(`<line class="grid" x1="${M.left}" x2="${width - M.right}" y1="${y(t).toFixed(1)}" y2="${y(t).toFixed(1)}"/>`);
    out.push(`<text class="tick" x="${M.left - 4}" y="${(y(t) + 3).toFixed(1)}" text-anchor="end">${esc(yTick(t))}</text>`);
  }
  for (const t of niceTicks(xDomain[0], xDomain[1], 5).filter(Number.isInteger)) {
    out.push(`<text class="tick" x="${x(t).toFixed(1)}" y="${height - M.bottom + 13}" text-anchor="middle">${t}</text>`);
  }
  out.push(`<line class="axis" x1="${M.left}" x2="${width - M.right}" y1="${height - M.bottom}" y2="${height - M.bottom}"/>`);
  out.push(`<line class="axis" x1="${M.left}" x2="${M.left}" y1="${M.top}" y2="${height - M.bottom}"/>`);
  out.push(`<text class="axis-label" x="${(M.left + width - M.right) / 2}" y="${height - 4}" text-anchor="middle">${esc(o.xLabel)}</text>`);
  for (const s of o.series) {
    const pts = s.points.filter((p) => Number.isFinite(p[1]));
    if (pts.length === 0) continue;
    const d = pts.map((p, i) => `${i === 0 ? 'M' : 'L'}${x(p[0]).toFixed(1)},${y(p[1]).toFixed(1)}`).join('');
    out.push(`<path class="curve" d="${d}" stroke="${s.color}"${s.dashed ? ' stroke-dasharray="5 3"' : ''}><title>${esc(s.label)}</title></path>`);
    if (pts.length === 1) out.push(`<circle class="point" cx="${x(pts[0][0]).toFixed(1)}" cy="${y(pts[0][1]).toFixed(1)}" r="3" fill="${s.color}"><title>${esc(s.label)}</title></circle>`);
    if (s.mark && Number.isFinite(s.mark.y)) {
      out.push(`<circle class="best-mark" cx="${x(s.mark.x).toFixed(1)}" cy="${y(s.mark.y).toFixed(1)}" r="4" stroke="${s.color}"><title>${esc(s.mark.title)}</title></circle>`);
    }
  }
  out.push('</svg>');
  return out.join('');
}
