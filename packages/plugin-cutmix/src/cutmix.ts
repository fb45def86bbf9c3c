import * as tf from '@tensorflow/tfjs-core';
import { mixTensor, type Perm } from '@fermix/plugin-mixup';
import { areaLambda, type Box } from './box.js';

export type { Perm };

function checkBox(box: Box, h: number, w: number, at: string): void {
  const ok = [box.y0, box.x0, box.y1, box.x1].every(Number.isInteger) && box.y0 >= 0 && box.x0 >= 0 && box.y0 <= box.y1 && box.x0 <= box.x1 && box.y1 <= h && box.x1 <= w;
  if (!ok) throw new Error(`cutmix: ${at} ${JSON.stringify(box)} is not inside a ${h}x${w} image`);
}

function boxList(boxes: Box | readonly Box[], n: number, h: number, w: number): readonly Box[] {
  const list = Array.isArray(boxes) ? (boxes as readonly Box[]) : Array.from({ length: n }, () => boxes as Box);
  if (list.length !== n) throw new Error(`cutmix: expected one box or ${n} boxes, got ${list.length}`);
  list.forEach((b, i) => checkBox(b, h, w, `box ${i}`));
  return list;
}

/**
 * A [B, h, w, 1] float mask, 1 inside sample i's box and 0 outside, made by comparing row and
 * column indices with the box edges: tensor ops over the whole batch, no loop over pixels.
 */
export function boxMasks(boxes: readonly Box[], h: number, w: number): tf.Tensor4D {
  const n = boxes.length;
  boxList(boxes, n, h, w);
  return tf.tidy(() => {
    const edge = (key: keyof Box) => tf.tensor4d(Int32Array.from(boxes, (b) => b[key]), [n, 1, 1, 1], 'int32');
    const rows = tf.reshape(tf.range(0, h, 1, 'int32'), [1, h, 1, 1]);
    const cols = tf.reshape(tf.range(0, w, 1, 'int32'), [1, 1, w, 1]);
    const inRows = tf.logicalAnd(tf.greaterEqual(rows, edge('y0')), tf.less(rows, edge('y1')));
    const inCols = tf.logicalAnd(tf.greaterEqual(cols, edge('x0')), tf.less(cols, edge('x1')));
    // A product of the two float masks, not a logicalAnd: tfjs-backend-wasm broadcasts comparisons and
    // logical ops element by element through strides (11 ms for a 32 x 48 x 48 mask), products on XNNPACK.
    return tf.mul(tf.cast(inRows, 'float32'), tf.cast(inCols, 'float32')) as tf.Tensor4D;
  });
}

/**
 * Pastes into each image i the pixels of its partner perm[i] under a per-pixel weight `paste`
 * ([B, h, w, 1] or broadcastable): x~ = (1 - paste) x + paste x[perm]. A box mask gives CutMix; a
 * constant 1 - lam gives mixup. Returns a new tensor.
 */
export function pasteFromPartner(x: tf.Tensor4D, paste: tf.Tensor, perm: Perm): tf.Tensor4D {
  return tf.tidy(() => {
    const index = perm instanceof tf.Tensor ? perm : tf.tensor1d(Int32Array.from(perm as ArrayLike<number>), 'int32');
    const partner = tf.gather(x, index, 0);
    // Not x + paste (partner - x): with a 0/1 mask this form copies the partner's pixels bit for bit.
    return tf.add(tf.mul(x, tf.sub(1, paste)), tf.mul(partner, paste)) as tf.Tensor4D;
  });
}

function checkPerm(perm: Perm, n: number): void {
  if (perm instanceof tf.Tensor) return;
  if (perm.length !== n) throw new Error(`cutmix: perm must have ${n} entries, got ${perm.length}`);
  for (let i = 0; i < n; i++) {
    const j = perm[i];
    if (!Number.isInteger(j) || j < 0 || j >= n) throw new Error(`cutmix: perm[${i}] = ${j} is not an index into a batch of ${n}`);
  }
}

/**
 * CutMix of a batch (Yun et al. 2019): image i gets the pixels of its box from image perm[i],
 * x~ = (1 - M_i) x_i + M_i x_perm[i] (M_i = 1 in the box), and its target becomes
 * y~ = lam_i y_i + (1 - lam_i) y_perm[i] with lam_i = 1 - area(box_i) / (h w), the share of pixels
 * left of image i. One box for the whole batch (as the paper's code and timm's `batch` mode) or one
 * per sample (timm's `elem` mode). Pure: returns new tensors (yours to dispose) and the lam used
 * (a number for one box, else one per sample); the inputs are left alone.
 */
export function cutmixBatch(x: tf.Tensor4D, y: tf.Tensor2D, boxes: Box | readonly Box[], perm: Perm): { x: tf.Tensor4D; y: tf.Tensor2D; lam: number | number[] } {
  if (x.rank !== 4 || y.rank !== 2 || x.shape[0] !== y.shape[0]) {
    throw new Error(`cutmix: expected x [B,H,W,C] and y [B,K] with the same B, got ${JSON.stringify(x.shape)} and ${JSON.stringify(y.shape)}`);
  }
  const [n, h, w] = x.shape;
  checkPerm(perm, n);
  const list = boxList(boxes, n, h, w);
  const lam = Array.isArray(boxes) ? list.map((b) => areaLambda(b, h, w)) : areaLambda(boxes as Box, h, w);
  const mixed = tf.tidy(() => {
    const mask = boxMasks(list, h, w);
    return { x: pasteFromPartner(x, mask, perm), y: mixTensor(y, lam, perm) };
  });
  return { ...mixed, lam };
}
