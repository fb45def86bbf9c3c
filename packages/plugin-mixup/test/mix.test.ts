import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { mixBatch, mixTensor } from '../src/index.js';
import { expectRowsClose, useCpu } from '../../../test-support/plugin-helpers.js';

beforeAll(useCpu);

// x: 3 samples of 2x2x1; sample s has pixels (10s+1, 10s+2, 10s+3, 10s+4). y: soft/one-hot rows over 3 classes.
const X = [
  [1, 2, 3, 4],
  [11, 12, 13, 14],
  [21, 22, 23, 24],
];
const Y = [
  [1, 0, 0],
  [0, 1, 0],
  [0.5, 0, 0.5],
];

function inputs() {
  return { x: tf.tensor4d(X.flat(), [3, 2, 2, 1]), y: tf.tensor2d(Y.flat(), [3, 3]) };
}

describe('mixBatch', () => {
  it('one lam for the batch: x~ = lam x + (1-lam) x[perm], y~ likewise, elementwise', () => {
    const { x, y } = inputs();
    const lam = 0.3;
    const perm = Int32Array.from([2, 0, 1]);
    const out = mixBatch(x, y, lam, perm);
    // By hand: sample 0 mixes with 2, sample 1 with 0, sample 2 with 1.
    const ex = [
      [0.3 * 1 + 0.7 * 21, 0.3 * 2 + 0.7 * 22, 0.3 * 3 + 0.7 * 23, 0.3 * 4 + 0.7 * 24],
      [0.3 * 11 + 0.7 * 1, 0.3 * 12 + 0.7 * 2, 0.3 * 13 + 0.7 * 3, 0.3 * 14 + 0.7 * 4],
      [0.3 * 21 + 0.7 * 11, 0.3 * 22 + 0.7 * 12, 0.3 * 23 + 0.7 * 13, 0.3 * 24 + 0.7 * 14],
    ];
    const ey = [
      [0.3 * 1 + 0.7 * 0.5, 0, 0.7 * 0.5],
      [0.7 * 1, 0.3 * 1, 0],
      [0.3 * 0.5, 0.7 * 1, 0.3 * 0.5],
    ];
    expect(out.x.shape).toEqual([3, 2, 2, 1]);
    expect(out.y.shape).toEqual([3, 3]);
    expectRowsClose([...Array(3).keys()].map((i) => Array.from(out.x.dataSync().slice(i * 4, i * 4 + 4))), ex, 1e-5);
    expectRowsClose([...Array(3).keys()].map((i) => Array.from(out.y.dataSync().slice(i * 3, i * 3 + 3))), ey, 1e-6);
    // Rows of y~ still sum to 1; the inputs are untouched.
    expect(Array.from(tf.sum(out.y, 1).dataSync()).every((s) => Math.abs(s - 1) < 1e-6)).toBe(true);
    expect(Array.from(x.dataSync())).toEqual(X.flat());
    tf.dispose([x, y, out.x, out.y]);
  });

  it('one lam per sample ([B] tensor) broadcasts over H, W, C; perm may be a tensor', () => {
    const { x, y } = inputs();
    const lam = tf.tensor1d([0.9, 0.5, 0.1]);
    const perm = tf.tensor1d([1, 2, 0], 'int32');
    const out = mixBatch(x, y, lam, perm);
    const ex = [
      [0.9 * 1 + 0.1 * 11, 0.9 * 2 + 0.1 * 12, 0.9 * 3 + 0.1 * 13, 0.9 * 4 + 0.1 * 14],
      [0.5 * 11 + 0.5 * 21, 0.5 * 12 + 0.5 * 22, 0.5 * 13 + 0.5 * 23, 0.5 * 14 + 0.5 * 24],
      [0.1 * 21 + 0.9 * 1, 0.1 * 22 + 0.9 * 2, 0.1 * 23 + 0.9 * 3, 0.1 * 24 + 0.9 * 4],
    ];
    const ey = [
      [0.9, 0.1, 0],
      [0.5 * 0.5, 0.5, 0.5 * 0.5],
      [0.1 * 0.5 + 0.9, 0, 0.1 * 0.5],
    ];
    expectRowsClose([...Array(3).keys()].map((i) => Array.from(out.x.dataSync().slice(i * 4, i * 4 + 4))), ex, 1e-5);
    expectRowsClose([...Array(3).keys()].map((i) => Array.from(out.y.dataSync().slice(i * 3, i * 3 + 3))), ey, 1e-6);
    tf.dispose([x, y, lam, perm, out.x, out.y]);
  });

  it('lam 1 and the identity pairing give the batch back; lam 0 gives the partners', () => {
    const { x, y } = inputs();
    const same = mixBatch(x, y, 1, [2, 1, 0]);
    expect(Array.from(same.x.dataSync())).toEqual(X.flat());
    const partners = mixBatch(x, y, 0, [2, 1, 0]);
    expect(Array.from(partners.x.dataSync())).toEqual([...X[2], ...X[1], ...X[0]]);
    tf.dispose([x, y, same.x, same.y, partners.x, partners.y]);
  });

  it('leaves no intermediate tensor behind', () => {
    const { x, y } = inputs();
    const before = tf.memory().numTensors;
    const out = mixBatch(x, y, [0.2, 0.4, 0.6], Int32Array.from([1, 2, 0]));
    expect(tf.memory().numTensors).toBe(before + 2);
    tf.dispose([x, y, out.x, out.y]);
  });

  it('rejects a pairing or a lam of the wrong size, and lam outside [0, 1]', () => {
    const { x, y } = inputs();
    const before = tf.memory().numTensors;
    expect(() => mixBatch(x, y, 0.5, [0, 1])).toThrow(/perm/);
    expect(() => mixBatch(x, y, 0.5, [0, 1, 3])).toThrow(/perm\[2\]/);
    expect(() => mixBatch(x, y, [0.5, 0.5], [0, 1, 2])).toThrow(/lam/);
    expect(() => mixBatch(x, y, 1.5, [0, 1, 2])).toThrow(/lam/);
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([x, y]);
  });

  it('mixTensor mixes per-sample weights [B] the same way', () => {
    const w = tf.tensor1d([1, 2, 4]);
    const out = mixTensor(w, 0.25, [1, 2, 0]);
    expectRowsClose([Array.from(out.dataSync())], [[0.25 * 1 + 0.75 * 2, 0.25 * 2 + 0.75 * 4, 0.25 * 4 + 0.75 * 1]], 1e-6);
    tf.dispose([w, out]);
  });
});
