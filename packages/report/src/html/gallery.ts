import { alphaLabel } from '../format.js';
import type { AblationRow } from '../rows.js';
import { drawnSummary, topClasses, type SamplesFile } from '../samples.js';
import type { FinishedRun } from '../types.js';
import { esc } from './escape.js';

/** Images shown per view: enough to see what the mixes look like, few enough to keep the page small. */
export const GALLERY_IMAGES = 8;

function viewRow(name: string, view: SamplesFile['views'][string], classes: string[], limit: number): string {
  const shown = view.samples.slice(0, limit);
  const figures = shown.map((s) => {
    const top = topClasses(s.label, classes)
      .map((c) => `<span>${esc(c.name)} ${c.weight.toFixed(2)}</span>`)
      .join('');
    return `<figure class="sample"><img alt="${esc(name)} sample" src="data:image/png;base64,${s.png.replace(/\s/g, '')}"><figcaption>${top}</figcaption></figure>`;
  });
  const more = view.samples.length > shown.length ? ` · first ${shown.length} of ${view.samples.length}` : '';
  return `<div class="view"><div class="view-name">${esc(name)}<span class="muted"> weight ${esc(view.weight)}${more}</span></div><div class="samples">${figures.join('')}</div></div>`;
}

/**
 * What the network sees: for each (method, alpha), the first run (lowest seed) with a samples.json,
 * each view of its first batch as a row of images with the two largest soft-label entries.
 */
export function gallerySection(rows: AblationRow[], limit = GALLERY_IMAGES): string {
  const seen = new Set<string>();
  const picks: FinishedRun[] = [];
  for (const row of rows) {
    const key = `${row.method}|${row.alpha}`;
    const run = row.runs.find((r) => r.samples);
    if (!seen.has(key) && run) {
      seen.add(key);
      picks.push(run);
    }
  }
  if (picks.length === 0) return '<p class="muted">No run has a samples.json (written by the trainer at the first training step).</p>';
  return picks
    .map((run) => {
      const s = run.samples!;
      const title = `${run.settings.method}${run.settings.alpha === null ? '' : ` α=${alphaLabel(run.settings.alpha)}`}`;
      const views = Object.entries(s.views).map(([name, view]) => viewRow(name, view, s.classes, limit));
      // What each plugin drew for this batch (the augmentations' parameters), from samples.json.
      const drawn = drawnSummary(s.drawn ?? {})
        .map((d) => `<li><b>${esc(d.plugin)}</b> ${esc(d.text)}</li>`)
        .join('');
      const drawnList = drawn ? `<ul class="drawn muted">${drawn}</ul>` : '';
      return `<div class="card gallery" data-run="${esc(run.name)}"><h3>${esc(title)}</h3><p class="muted">first batch of ${esc(run.name)} (seed ${esc(run.settings.seed)}); under each image the two largest soft-label weights</p>${views.join('')}${drawnList}</div>`;
    })
    .join('');
}
