import { describe, expect, it } from 'vitest';
import { drawnSummary, parseSamples } from '../src/index.js';
import { gallerySection } from '../src/html/gallery.js';

const samples = {
  version: 1,
  classes: ['a', 'b'],
  imageSize: 2,
  views: { real: { weight: 1, samples: [{ png: 'AAAA', label: [1, 0] }] } },
  drawn: {
    flip: { flipped: 1, mask: [1, 0, 0, 1, 1, 0, 1, 0, 1, 1] },
    mixaugment: { lam: 0.73456, cut: true, box: { y0: 1, x0: 2, y1: 3, x1: 4 }, perm: [1, 0] },
    crop: { resized: [null, { top: 1, left: 0, height: 5, width: 6 }, null] },
  },
};

describe("the gallery shows what each plugin drew (samples.json's drawn)", () => {
  it('parseSamples keeps drawn, and a file without it gets an empty record', () => {
    expect(parseSamples(samples).drawn).toEqual(samples.drawn);
    const { drawn: _drop, ...older } = samples;
    expect(parseSamples(older).drawn).toEqual({});
  });

  it('drawnSummary: short numbers, per-sample arrays cut after 8, parameter lists as "k of n"', () => {
    expect(drawnSummary(parseSamples(samples).drawn)).toEqual([
      { plugin: 'flip', text: 'flipped 1; mask 1 0 0 1 1 0 1 0 … (10)' },
      { plugin: 'mixaugment', text: 'lam 0.735; cut yes; box {y0 1, x0 2, y1 3, x1 4}; perm 1 0' },
      { plugin: 'crop', text: 'resized 1 of 3, e.g. {top 1, left 0, height 5, width 6}' },
    ]);
  });

  it('the gallery card lists them under the images, escaped', () => {
    const run = { name: 'r', settings: { method: 'flip+mixaugment', alpha: 0.2, seed: 1 }, samples: parseSamples({ ...samples, drawn: { '<x>': { v: 1 } } }) };
    const html = gallerySection([{ method: 'flip+mixaugment', alpha: 0.2, runs: [run] }] as never);
    expect(html).toContain('<ul class="drawn muted"><li><b>&lt;x&gt;</b> v 1</li></ul>');
  });
});
