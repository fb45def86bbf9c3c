import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { areaLambda, boxMask, cutmixBatch, type Box } from '../src/index.js';
import { image, randomBatch, useCpu } from './helpers.js';

beforeAll(useCpu);

const inBox = (box: Box, r: number, c: number) => r >= box.y0 && r < box.y1 && c >= box.x0 && c < box.x1;

describe('cutmixBatch', () => {
  it('pastes the box from the partner, keeps every other pixel, bit for bit', () => {
    const { x, y } = randomBatch(1, 4, 8);
    const box: Box = { y0: 2, x0: 1, y1: 5, x1: 7 };
    const perm = [2, 0, 3, 1];
    const out = cutmixBatch(x, y, box, perm);
    for (let i = 0; i < 4; i++) {
      const own = image(x, i);
      const partner = image(x, perm[i]);
      const got = image(out.x, i);
      for (let r = 0; r < 8; r++) for (let c = 0; c < 8; c++) expect(got[r][c]).toEqual(inBox(box, r, c) ? partner[r][c] : own[r][c]);
    }
    tf.dispose([x, y, out.x, out.y]);
  });

  it('mixes the labels by area: y~ = lam y + (1 - lam) y[perm], lam = 1 - area / (H W), rows sum to 1', () => {
    const { x, y } = randomBatch(2, 3, 10, 3);
    const box: Box = { y0: 0, x0: 0, y1: 4, x1: 5 }; // 20 of 100 pixels
    const out = cutmixBatch(x, y, box, [1, 2, 0]);
    expect(out.lam).toBe(0.8);
    expect(out.lam).toBe(areaLambda(box, 10, 10));
    const labels = out.y.arraySync();
    // Sample i has class i (one-hot), partner perm[i]: 0.8 on its own class, 0.2 on the partner's.
    expect(labels[0]).toEqual([expect.closeTo(0.8, 6), expect.closeTo(0.2, 6), 0]);
    expect(labels[1]).toEqual([0, expect.closeTo(0.8, 6), expect.closeTo(0.2, 6)]);
    expect(labels[2]).toEqual([expect.closeTo(0.2, 6), 0, expect.closeTo(0.8, 6)]);
    for (const row of labels) expect(row.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 6);
    tf.dispose([x, y, out.x, out.y]);
  });

  it('the label weight equals the share of pixels each image keeps (counted on a marker image)', () => {
    // Image 0 is all zeros, image 1 all ones: after pasting, the mean of image 0 is the partner's share.
    const x = tf.concat([tf.zeros([1, 12, 9, 1]), tf.ones([1, 12, 9, 1])]) as tf.Tensor4D;
    const y = tf.tensor2d([[1, 0], [0, 1]]);
    const box: Box = { y0: 3, x0: 2, y1: 10, x1: 6 };
    const out = cutmixBatch(x, y, box, [1, 0]);
    const partnerShare = tf.mean(tf.slice(out.x, [0], [1])).dataSync()[0];
    expect(out.y.arraySync()[0][1]).toBeCloseTo(partnerShare, 6);
    expect(1 - out.lam).toBeCloseTo(partnerShare, 6);
    tf.dispose([x, y, out.x, out.y]);
  });

  it('an empty box gives the batch back; the identity pairing too', () => {
    const { x, y } = randomBatch(3, 3, 6);
    const none = cutmixBatch(x, y, { y0: 2, x0: 2, y1: 2, x1: 5 }, [1, 2, 0]);
    expect(none.lam).toBe(1);
    expect(Array.from(none.x.dataSync())).toEqual(Array.from(x.dataSync()));
    const self = cutmixBatch(x, y, { y0: 0, x0: 0, y1: 6, x1: 6 }, [0, 1, 2]);
    expect(Array.from(self.x.dataSync())).toEqual(Array.from(x.dataSync()));
    tf.dispose([x, y, none.x, none.y, self.x, self.y]);
  });

  it('leaves no tensor behind but its two outputs, and the inputs untouched', () => {
    const { x, y } = randomBatch(4, 4, 8);
    const before = tf.memory().numTensors;
    const copy = Array.from(x.dataSync());
    const out = cutmixBatch(x, y, { y0: 1, x0: 1, y1: 6, x1: 4 }, Int32Array.from([3, 2, 1, 0]));
    expect(tf.memory().numTensors).toBe(before + 2);
    expect(Array.from(x.dataSync())).toEqual(copy);
    tf.dispose([x, y, out.x, out.y]);
  });

  it('rejects a box outside the image and a bad pairing, without leaking', () => {
    const { x, y } = randomBatch(5, 3, 6);
    const before = tf.memory().numTensors;
    expect(() => cutmixBatch(x, y, { y0: 0, x0: 0, y1: 7, x1: 3 }, [0, 1, 2])).toThrow(/box/);
    expect(() => cutmixBatch(x, y, { y0: 3, x0: 0, y1: 2, x1: 3 }, [0, 1, 2])).toThrow(/box/);
    expect(() => cutmixBatch(x, y, { y0: 0, x0: 0, y1: 2, x1: 2 }, [0, 1])).toThrow(/perm/);
    expect(() => cutmixBatch(x, y, { y0: 0, x0: 0, y1: 2, x1: 2 }, [0, 1, 3])).toThrow(/perm\[2\]/);
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([x, y]);
  });

  it('boxMask is 1 inside the box and 0 outside', () => {
    const mask = boxMask({ y0: 1, x0: 0, y1: 3, x1: 2 }, 3, 3);
    expect(mask.shape).toEqual([1, 3, 3, 1]);
    expect(Array.from(mask.dataSync())).toEqual([0, 0, 0, 1, 1, 0, 1, 1, 0]);
    mask.dispose();
  });
});
