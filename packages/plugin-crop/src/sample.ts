/**
 * One bilinear sampler for every geometric op of this package:
 * each output pixel (b, i, j) reads the input at the source point (ys[b, i, j], xs[b, i, j]), in
 * pixel-index coordinates (pixel centres at integers, as torch's `grid_sample(align_corners=False)`
 * after its un-normalisation). The four neighbours are gathered from the batch flattened to rows of
 * channels. Outside the image, torchvision 0.14 (`_apply_grid_transform`) samples with zero padding,
 * S = sum over inside neighbours of w v, samples a mask of ones the same way, m = sum over inside
 * neighbours of w, and returns S * m + (1 - m) * fill. Note S * m, not S: a pixel partly off the
 * image is darkened twice (a quirk of torchvision's, not the textbook blend S + (1 - m) fill). We
 * return exactly that, so the two agree at the border as well as inside, where m = 1.

 * Everything is tensor work (no loop over pixels in JavaScript); it runs inside the caller's tidy.
 */
import * as tf from '@tensorflow/tfjs-core';

/** A fill value: one number for every channel, or one per channel. */
export type Fill = number | readonly number[];

function fillTensor(fill: Fill, c: number): tf.Tensor {
  if (typeof fill === 'number') return tf.scalar(fill);
  if (fill.length !== c) throw new Error(`fill must be one number or ${c} (one per channel), got ${fill.length}`);
  return tf.tensor1d(Array.from(fill));
}

/**
 * Samples `x` [B, H, W, C] at the points (ys, xs), each [B, oh, ow] float32, bilinearly; returns
 * [B, oh, ow, C]. Neighbours outside the image read `fill`.
 */
export function bilinearSample(x: tf.Tensor4D, ys: tf.Tensor3D, xs: tf.Tensor3D, fill: Fill = 0): tf.Tensor4D {
  const [b, h, w, c] = x.shape;
  const [, oh, ow] = ys.shape;
  if (ys.rank !== 3 || xs.rank !== 3 || ys.shape[0] !== b || xs.shape.join() !== ys.shape.join()) {
    throw new Error(`bilinearSample: expected ys and xs of shape [${b}, oh, ow], got ${JSON.stringify(ys.shape)} and ${JSON.stringify(xs.shape)}`);
  }
  return tf.tidy(() => {
    const rows = tf.reshape(x, [b * h * w, c]);
    const y0f = tf.floor(ys);
    const x0f = tf.floor(xs);
    const wy1 = tf.sub(ys, y0f);
    const wx1 = tf.sub(xs, x0f);
    const wy0 = tf.sub(1, wy1);
    const wx0 = tf.sub(1, wx1);
    const y0 = tf.cast(y0f, 'int32');
    const x0 = tf.cast(x0f, 'int32');
    const int = (v: number) => tf.scalar(v, 'int32');
    const base = tf.reshape(tf.mul(tf.range(0, b, 1, 'int32'), int(h * w)), [b, 1, 1]);
    const value = fillTensor(fill, c);
    // Returns the weighted read (0 off the image) and the weight that fell inside the image.
    const corner = (dy: 0 | 1, dx: 0 | 1, weight: tf.Tensor): [tf.Tensor, tf.Tensor] => {
      const yi = dy ? tf.add(y0, int(1)) : y0;
      const xi = dx ? tf.add(x0, int(1)) : x0;
      const inside = tf.logicalAnd(tf.logicalAnd(tf.greaterEqual(yi, int(0)), tf.less(yi, int(h))), tf.logicalAnd(tf.greaterEqual(xi, int(0)), tf.less(xi, int(w))));
      // min/max rather than clipByValue: the wasm ClipByValue kernel reads int32 data as float32.
      const index = tf.add(base, tf.add(tf.mul(tf.minimum(tf.maximum(yi, int(0)), int(h - 1)), int(w)), tf.minimum(tf.maximum(xi, int(0)), int(w - 1))));
      const read = tf.reshape(tf.gather(rows, tf.reshape(index, [-1]), 0), [b, oh, ow, c]);
      const w4 = tf.expandDims(tf.where(inside, weight, tf.zerosLike(weight)), 3);
      return [tf.mul(read, w4), w4];
    };
    const corners = [corner(0, 0, tf.mul(wy0, wx0)), corner(0, 1, tf.mul(wy0, wx1)), corner(1, 0, tf.mul(wy1, wx0)), corner(1, 1, tf.mul(wy1, wx1))];
    const sum = tf.addN(corners.map(([v]) => v));
    const mask = tf.addN(corners.map(([, m]) => m));
    return tf.add(tf.mul(sum, mask), tf.mul(tf.sub(1, mask), value)) as tf.Tensor4D;
  });
}

/**
 * Bilinear sampling along per-sample affine maps in pixel-index coordinates: output pixel (row r,
 * column c) of sample b reads the input at x = m[0] c + m[1] r + m[2], y = m[3] c + m[4] r + m[5],
 * with `matrices[b] = m`. The same result as `bilinearSample` at those points, torchvision's border
 * rule included, and several times faster where the backend has a native `Transform` kernel
 * (`tf.image.transform`: tfjs-backend-wasm, tfjs-node): the image and a mask of ones are sampled
 * with 0 outside, and combined as S * m + (1 - m) * fill. The cpu backend's `Transform` samples only
 * the first image of a batch (tfjs 4.22), so there the points go through `bilinearSample`.
 */
export function affineSample(x: tf.Tensor4D, matrices: readonly (readonly number[])[], fill: Fill = 0): tf.Tensor4D {
  const [b, h, w, c] = x.shape;
  if (matrices.length !== b || matrices.some((m) => m.length !== 6)) throw new Error(`affineSample: expected ${b} matrices of 6 numbers, got ${JSON.stringify(matrices)}`);
  return tf.tidy(() => {
    if (tf.getBackend() === 'cpu') {
      const column = (k: number) => tf.tensor3d(Float32Array.from(matrices, (m) => m[k]), [b, 1, 1]);
      const cols = tf.reshape(tf.range(0, w, 1, 'float32'), [1, 1, w]);
      const rows = tf.reshape(tf.range(0, h, 1, 'float32'), [1, h, 1]);
      const xs = tf.add(tf.add(tf.mul(column(0), cols), tf.mul(column(1), rows)), column(2)) as tf.Tensor3D;
      const ys = tf.add(tf.add(tf.mul(column(3), cols), tf.mul(column(4), rows)), column(5)) as tf.Tensor3D;
      return bilinearSample(x, ys, xs, fill);
    }
    const transforms = tf.tensor2d(Float32Array.from(matrices.flatMap((m) => [...m, 0, 0])), [b, 8]);
    const sampled = tf.image.transform(x, transforms, 'bilinear', 'constant', 0);
    const mask = tf.image.transform(tf.ones([b, h, w, 1]), transforms, 'bilinear', 'constant', 0);
    return tf.add(tf.mul(sampled, mask), tf.mul(tf.sub(1, mask), fillTensor(fill, c))) as tf.Tensor4D;
  });
}
