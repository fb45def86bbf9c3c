import { Rng } from '@fermix/core';
import { describe, expect, it } from 'vitest';
import { areaLambda, boxArea, boxAt, sampleBox } from '../src/index.js';

/**
 * timm's rand_bbox, written out here independently: cut = int(size * sqrt(1 - lam)), the box spans
 * centre -/+ cut // 2, clipped to [0, size].
 */
function timmBox(h: number, w: number, lam: number, cy: number, cx: number) {
  const r = Math.sqrt(1 - lam);
  const ch = Math.trunc(h * r);
  const cw = Math.trunc(w * r);
  const clip = (v: number, hi: number) => Math.min(Math.max(v, 0), hi);
  return { y0: clip(cy - Math.floor(ch / 2), h), y1: clip(cy + Math.floor(ch / 2), h), x0: clip(cx - Math.floor(cw / 2), w), x1: clip(cx + Math.floor(cw / 2), w) };
}

describe('the CutMix box (timm rand_bbox + correct_lam)', () => {
  it('a box in the middle covers about 1 - lam of the image', () => {
    const box = boxAt(48, 48, 0.75, 24, 24);
    // cut = int(48 * 0.5) = 24: rows and columns 12..35.
    expect(box).toEqual({ y0: 12, x0: 12, y1: 36, x1: 36 });
    expect(boxArea(box)).toBe(576);
    expect(areaLambda(box, 48, 48)).toBe(0.75);
  });

  it('a box at the border is clipped and lam is corrected to the clipped area', () => {
    // h 10, w 8, lam 0.5: cut_h = int(7.07) = 7 (half 3), cut_w = int(5.66) = 5 (half 2).
    const box = boxAt(10, 8, 0.5, 0, 7);
    expect(box).toEqual({ y0: 0, x0: 5, y1: 3, x1: 8 });
    expect(areaLambda(box, 10, 8)).toBeCloseTo(1 - 9 / 80, 12);
  });

  it('equals timm rand_bbox for every centre of a 7x9 image at several lam', () => {
    for (const lam of [0, 0.1, 0.37, 0.5, 0.93, 1]) {
      for (let cy = 0; cy < 7; cy++) for (let cx = 0; cx < 9; cx++) expect(boxAt(7, 9, lam, cy, cx)).toEqual(timmBox(7, 9, lam, cy, cx));
    }
  });

  it('lam 1 gives an empty box (lam stays 1); lam 0 the whole image when centred', () => {
    expect(boxArea(boxAt(6, 6, 1, 3, 3))).toBe(0);
    expect(areaLambda(boxAt(6, 6, 1, 3, 3), 6, 6)).toBe(1);
    expect(boxAt(6, 6, 0, 3, 3)).toEqual({ y0: 0, x0: 0, y1: 6, x1: 6 });
  });

  it('sampleBox draws the centre from the generator, row then column', () => {
    const rng = new Rng(5);
    const box = sampleBox(12, 10, 0.6, rng);
    const check = new Rng(5);
    const cy = check.int(12);
    const cx = check.int(10);
    expect(box).toEqual(boxAt(12, 10, 0.6, cy, cx));
  });

  it('refuses a lam outside [0, 1], a centre off the image and a bad size', () => {
    expect(() => boxAt(8, 8, 1.5, 0, 0)).toThrow(/lam must be in \[0, 1\]/);
    expect(() => boxAt(8, 8, 0.5, 8, 0)).toThrow(/not a pixel/);
    expect(() => boxAt(0, 8, 0.5, 0, 0)).toThrow(/h must be a positive integer/);
  });
});
