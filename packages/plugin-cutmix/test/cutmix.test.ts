import * as tf from '@tensorflow/tfjs-core';
import { Rng } from '@fermix/core';
import { sampleBeta } from '@fermix/plugin-mixup';
import { beforeAll, describe, expect, it } from 'vitest';
import { areaLambda, boxMasks, cutmixBatch, drawMixCut, mixCutView, recordedValues, sampleBox, type Box } from '../src/index.js';
import { expectRowsClose, mixRowsByHand, randomBatch, rows, useCpu } from '../../../test-support/plugin-helpers.js';

beforeAll(useCpu);

/** CutMix of [B, H, W, C] rows by hand: pixel (r, c) of sample i from perm[i] inside box i. */
function cutmixByHand(x: number[][], shape: number[], boxes: Box[], perm: ArrayLike<number>): number[][] {
  const [, h, w, c] = shape;
  return x.map((row, i) =>
    row.map((v, k) => {
      const r = Math.floor(k / (w * c));
      const col = Math.floor(k / c) % w;
      const b = boxes[i];
      return r >= b.y0 && r < b.y1 && col >= b.x0 && col < b.x1 ? x[perm[i]][k] : v;
    }),
  );
}

describe('cutmixBatch and boxMasks', () => {
  it('one box for the batch: pixels in the box come from the partner bit for bit, the rest are untouched; labels by area', () => {
    const { x, y } = randomBatch(1, 4, 8, 3);
    const box = { y0: 1, x0: 2, y1: 5, x1: 8 };
    const perm = [2, 0, 3, 1];
    const out = cutmixBatch(x, y, box, perm);
    expect(out.lam).toBe(1 - 24 / 64);
    expect(rows(out.x)).toEqual(cutmixByHand(rows(x), x.shape, Array(4).fill(box), perm));
    expectRowsClose(rows(out.y), mixRowsByHand(rows(y), out.lam as number, perm), 1e-6);
    tf.dispose([x, y, out.x, out.y]);
  });

  it('one box per sample: each sample gets its own box and its own area lam', () => {
    const { x, y } = randomBatch(2, 3, 6, 3);
    const boxes = [
      { y0: 0, x0: 0, y1: 3, x1: 3 },
      { y0: 0, x0: 0, y1: 0, x1: 0 },
      { y0: 2, x0: 1, y1: 6, x1: 6 },
    ];
    const perm = [1, 2, 0];
    const out = cutmixBatch(x, y, boxes, perm);
    expect(out.lam).toEqual([1 - 9 / 36, 1, 1 - 20 / 36]);
    expect(rows(out.x)).toEqual(cutmixByHand(rows(x), x.shape, boxes, perm));
    expectRowsClose(rows(out.y), mixRowsByHand(rows(y), out.lam as number[], perm), 1e-6);
    tf.dispose([x, y, out.x, out.y]);
  });

  it('boxMasks is 1 exactly inside each half-open box', () => {
    const boxes = [
      { y0: 1, x0: 0, y1: 3, x1: 2 },
      { y0: 0, x0: 3, y1: 4, x1: 4 },
    ];
    const mask = boxMasks(boxes, 4, 4);
    expect(mask.shape).toEqual([2, 4, 4, 1]);
    expect(Array.from(mask.dataSync())).toEqual([0, 0, 0, 0, 1, 1, 0, 0, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1]);
    mask.dispose();
  });

  it('refuses a box outside the image, a wrong box count, a bad perm and mismatched shapes; leaks nothing', () => {
    const { x, y } = randomBatch(3, 2, 4, 3);
    const before = tf.memory().numTensors;
    expect(() => cutmixBatch(x, y, { y0: 0, x0: 0, y1: 5, x1: 2 }, [0, 1])).toThrow(/not inside a 4x4 image/);
    expect(() => cutmixBatch(x, y, [{ y0: 0, x0: 0, y1: 1, x1: 1 }], [0, 1])).toThrow(/one box or 2 boxes/);
    expect(() => cutmixBatch(x, y, { y0: 0, x0: 0, y1: 1, x1: 1 }, [0, 2])).toThrow(/perm\[1\] = 2/);
    expect(() => cutmixBatch(x, tf.zeros([3, 3]) as tf.Tensor2D, { y0: 0, x0: 0, y1: 1, x1: 1 }, [0, 1])).toThrow(/same B/);
    expect(tf.memory().numTensors).toBe(before + 1); // the tf.zeros above
    tf.dispose([x, y]);
  });
});

describe('drawMixCut: what is drawn, in which order', () => {
  it('CutMix alone, per batch: prob uniform, lam, the permutation, then the box centre; lam corrected by area', () => {
    const draw = drawMixCut(5, 12, 10, { cutmixAlpha: 1 }, new Rng(7));
    const check = new Rng(7);
    expect(check.uniform()).toBeLessThan(1);
    const lam = sampleBeta(1, check);
    const perm = Array.from(check.permutation(5));
    const box = sampleBox(12, 10, lam, check);
    expect(draw.mode).toBe('batch');
    expect(Array.from(draw.perm)).toEqual(perm);
    expect(draw.boxes).toEqual(Array(5).fill(box));
    expect(draw.lam).toEqual(Array(5).fill(areaLambda(box, 12, 10)));
    expect(draw.cut).toEqual(Array(5).fill(true));
    expect(recordedValues(draw)).toEqual({ lam: areaLambda(box, 12, 10), cut: true, box, perm });
  });

  it("mode 'sample': one lam, one box per sample; records arrays", () => {
    const draw = drawMixCut(6, 16, 16, { cutmixAlpha: 1, mode: 'sample' }, new Rng(3));
    expect(new Set(draw.lam).size).toBeGreaterThan(3);
    expect(new Set(draw.boxes.map((b) => JSON.stringify(b))).size).toBeGreaterThan(3);
    draw.boxes.forEach((b, i) => expect(draw.lam[i]).toBe(areaLambda(b, 16, 16)));
    const rec = recordedValues(draw);
    expect(Array.isArray(rec.lam) && Array.isArray(rec.box) && Array.isArray(rec.cut)).toBe(true);
  });

  it('prob 0 leaves every sample alone (lam 1, no box) and the images unchanged', () => {
    const { x, y } = randomBatch(4, 4, 6, 3);
    const draw = drawMixCut(4, 6, 6, { cutmixAlpha: 1, prob: 0, mode: 'sample' }, new Rng(1));
    expect(draw.lam).toEqual([1, 1, 1, 1]);
    expect(draw.cut).toEqual([false, false, false, false]);
    const view = mixCutView({ x, y, weight: 1 }, draw);
    expect(rows(view.x)).toEqual(rows(x));
    expect(rows(view.y)).toEqual(rows(y));
    tf.dispose([x, y, view.x, view.y]);
  });

  it('the switch: switchProb 1 always cuts, 0 always blends; 0.3 cuts about 30% of 4000 per-sample decisions', () => {
    expect(drawMixCut(50, 8, 8, { mixupAlpha: 0.8, cutmixAlpha: 1, switchProb: 1, mode: 'sample' }, new Rng(1)).cut.every(Boolean)).toBe(true);
    expect(drawMixCut(50, 8, 8, { mixupAlpha: 0.8, cutmixAlpha: 1, switchProb: 0, mode: 'sample' }, new Rng(1)).cut.some(Boolean)).toBe(false);
    const draw = drawMixCut(4000, 8, 8, { mixupAlpha: 0.8, cutmixAlpha: 1, switchProb: 0.3, prob: 0.5, mode: 'sample' }, new Rng(2));
    const cut = draw.cut.filter(Boolean).length / 4000;
    const mixed = draw.lam.filter((l, i) => draw.cut[i] || l !== 1).length / 4000;
    // Binomial standard deviations are about 0.007 and 0.008: these bounds are 4 of them.
    expect(Math.abs(cut - 0.15)).toBeLessThan(0.03);
    expect(Math.abs(mixed - 0.5)).toBeLessThan(0.035);
  });

  it('a mixed batch of mixup and CutMix samples: each sample is either blended by lam or boxed', () => {
    const { x, y } = randomBatch(5, 8, 10, 3);
    const draw = drawMixCut(8, 10, 10, { mixupAlpha: 1, cutmixAlpha: 1, switchProb: 0.5, mode: 'sample' }, new Rng(11));
    expect(draw.cut.some(Boolean) && !draw.cut.every(Boolean)).toBe(true);
    const view = mixCutView({ x, y, weight: tf.tensor1d([1, 2, 3, 4, 5, 6, 7, 8]) }, draw);
    const xs = rows(x);
    const boxed = cutmixByHand(xs, x.shape, draw.boxes, draw.perm);
    const blended = mixRowsByHand(xs, draw.lam, draw.perm);
    const expected = xs.map((_, i) => (draw.cut[i] ? boxed[i] : blended[i]));
    expectRowsClose(rows(view.x), expected, 1e-6);
    expectRowsClose(rows(view.y), mixRowsByHand(rows(y), draw.lam, draw.perm), 1e-6);
    expectRowsClose([Array.from((view.weight as tf.Tensor).dataSync())], [Array.from(draw.perm, (j, i) => draw.lam[i] * (i + 1) + (1 - draw.lam[i]) * (j + 1))], 1e-5);
    tf.dispose([x, y, view.x, view.y, view.weight as tf.Tensor]);
  });

  it('refuses both alphas 0, a probability outside [0, 1] and an unknown mode', () => {
    const rng = new Rng(1);
    expect(() => drawMixCut(2, 4, 4, {}, rng)).toThrow(/mixupAlpha or cutmixAlpha/);
    expect(() => drawMixCut(2, 4, 4, { cutmixAlpha: 1, prob: 2 }, rng)).toThrow(/prob must be in/);
    expect(() => drawMixCut(2, 4, 4, { cutmixAlpha: 1, mode: 'pair' as never }, rng)).toThrow(/mode must be/);
  });
});
