import { Rng } from '@fermix/core';
import { describe, expect, it } from 'vitest';
import { areaLambda, boxArea, sampleBox, type Box } from '../src/index.js';

/** A generator whose int(n) returns the given values in turn (the box centre: row, then column). */
const fixed = (...values: number[]) => ({ int: (n: number) => Math.min(n - 1, values.shift()!) });

describe('sampleBox', () => {
  it('a centred box has sides round(h sqrt(1 - lam)) x round(w sqrt(1 - lam)), so it covers 1 - lam of the image', () => {
    // 20x20, lam 0.75: sides 20 * sqrt(0.25) = 10, centre (10, 10) -> rows 5..15, columns 5..15.
    const box = sampleBox(20, 20, 0.75, fixed(10, 10));
    expect(box).toEqual({ y0: 5, x0: 5, y1: 15, x1: 15 });
    expect(boxArea(box)).toBe(100);
    expect(areaLambda(box, 20, 20)).toBe(0.75);
  });

  it('a non-square image scales each side by sqrt(1 - lam)', () => {
    // 16x36, lam 5/9: ratio sqrt(4/9) = 2/3 -> 11 (10.67 rounded) x 24.
    const box = sampleBox(16, 36, 5 / 9, fixed(8, 18));
    expect(box.y1 - box.y0).toBe(11);
    expect(box.x1 - box.x0).toBe(24);
    expect(areaLambda(box, 16, 36)).toBeCloseTo(1 - (11 * 24) / (16 * 36), 12);
  });

  it('clips a box at the border: smaller than drawn, and areaLambda says by how much', () => {
    // Centre in the top-left corner: only the bottom-right quarter of a 10x10 box is inside.
    const box = sampleBox(20, 20, 0.75, fixed(0, 0));
    expect(box).toEqual({ y0: 0, x0: 0, y1: 5, x1: 5 });
    expect(areaLambda(box, 20, 20)).toBe(1 - 25 / 400);
    // And the bottom-right corner.
    expect(sampleBox(20, 20, 0.75, fixed(19, 19))).toEqual({ y0: 14, x0: 14, y1: 20, x1: 20 });
  });

  it('lam 1 cuts nothing; lam 0 cuts the whole image when centred', () => {
    expect(boxArea(sampleBox(8, 8, 1, fixed(3, 5)))).toBe(0);
    expect(sampleBox(8, 8, 0, fixed(4, 4))).toEqual({ y0: 0, x0: 0, y1: 8, x1: 8 });
  });

  it('over many draws: always inside the image, and the mean covered share of an interior box is 1 - lam', () => {
    const rng = new Rng(5);
    const h = 64;
    const w = 48;
    for (let k = 0; k < 2000; k++) {
      const lam = rng.uniform();
      const box = sampleBox(h, w, lam, rng);
      expect(box.y0 >= 0 && box.x0 >= 0 && box.y0 <= box.y1 && box.x0 <= box.x1 && box.y1 <= h && box.x1 <= w).toBe(true);
      const unclipped = box.y0 > 0 && box.x0 > 0 && box.y1 < h && box.x1 < w;
      // Rounding each side to whole pixels moves the share by at most about a pixel's width per side.
      if (unclipped) expect(Math.abs(boxArea(box) / (h * w) - (1 - lam))).toBeLessThan(2 * Math.sqrt(1 - lam) / Math.min(h, w) + 1 / (h * w) + 1e-9);
    }
  });

  it('the same seed draws the same boxes', () => {
    const draw = (seed: number) => {
      const rng = new Rng(seed);
      return Array.from({ length: 20 }, (): Box => sampleBox(32, 32, 0.5, rng));
    };
    expect(draw(1)).toEqual(draw(1));
    expect(draw(1)).not.toEqual(draw(2));
  });

  it('rejects a lam outside [0, 1] and a bad size', () => {
    expect(() => sampleBox(8, 8, 1.5, new Rng(1))).toThrow(/lam/);
    expect(() => sampleBox(8, 8, Number.NaN, new Rng(1))).toThrow(/lam/);
    expect(() => sampleBox(0, 8, 0.5, new Rng(1))).toThrow(/h must/);
    expect(() => sampleBox(8, 2.5, 0.5, new Rng(1))).toThrow(/w must/);
  });
});
