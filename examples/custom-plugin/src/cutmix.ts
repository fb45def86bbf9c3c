import * as tf from '@tensorflow/tfjs-core';
import { areaLambda, type Box } from './box.js';

/** The partner of each sample, as indices into the batch: sample i gets the box from sample perm[i]. */
export type Perm = Int32Array | ArrayLike<number>;

function checkPerm(perm: Perm, n: number): Int32Array {
  if (perm.length !== n) throw new Error(`cutmix: perm must have ${n} entries, got ${perm.length}`);
  const out = Int32Array.from(perm as ArrayLike<number>);
  out.forEach((j, i) => {
    if (!Number.isInteger(perm[i]) || j < 0 || j >= n) throw new Error(`cutmix: perm[${i}] = ${perm[i]} is not an index into a batch of ${n}`);
  });
  return out;
}

function checkBox(box: Box, h: number, w: number): void {
  const ok = [box.y0, box.x0, box.y1, box.x1].every(Number.isInteger) && box.y0 >= 0 && box.x0 >= 0 && box.y0 <= box.y1 && box.x0 <= box.x1 && box.y1 <= h && box.x1 <= w;
  if (!ok) throw new Error(`cutmix: box ${JSON.stringify(box)} is not inside a ${h}x${w} image`);
}

/** A [1, h, w, 1] mask, 1 inside the box and 0 outside, built on the host. */
export function boxMask(box: Box, h: number, w: number): tf.Tensor4D {
  checkBox(box, h, w);
  const values = new Float32Array(h * w);
  for (let r = box.y0; r < box.y1; r++) values.fill(1, r * w + box.x0, r * w + box.x1);
  return tf.tensor4d(values, [1, h, w, 1]);
}

/**
 * CutMix of a batch (Yun et al. 2019): each image i gets the pixels of `box` from image perm[i]
 * (x~ = (1 - M) * x + M * x[perm], M = 1 in the box), and each target becomes
 * y~ = lam * y + (1 - lam) * y[perm] with lam = 1 - area(box) / (h * w), the share of pixels left of
 * image i. One box for the whole batch, as in the paper's code. Pure: returns new tensors (yours to
 * dispose) and the lam used; the inputs are left alone.
 */
export function cutmixBatch(x: tf.Tensor4D, y: tf.Tensor2D, box: Box, perm: Perm): { x: tf.Tensor4D; y: tf.Tensor2D; lam: number } {
  if (x.rank !== 4 || y.rank !== 2 || x.shape[0] !== y.shape[0]) {
    throw new Error(`cutmix: expected x [B,H,W,C] and y [B,K] with the same B, got ${JSON.stringify(x.shape)} and ${JSON.stringify(y.shape)}`);
  }
  const [n, h, w] = x.shape;
  const order = checkPerm(perm, n);
  const lam = areaLambda(box, h, w);
  const mixed = tf.tidy(() => {
    const mask = boxMask(box, h, w);
    const index = tf.tensor1d(order, 'int32');
    const pasted = tf.add(tf.mul(x, tf.sub(1, mask)), tf.mul(tf.gather(x, index), mask)) as tf.Tensor4D;
    const targets = tf.add(tf.mul(y, lam), tf.mul(tf.gather(y, index), 1 - lam)) as tf.Tensor2D;
    return { x: pasted, y: targets };
  });
  return { ...mixed, lam };
}
