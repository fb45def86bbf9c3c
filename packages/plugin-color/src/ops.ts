/**
 * torchvision 0.14's colour ops on float images (`transforms/functional_tensor.py`), batched: each
 * takes images [B, H, W, 3] in [0, 1] and one factor per sample, and computes what torchvision
 * computes for each image, in the same float32 arithmetic. Tensor ops only, inside the caller's tidy.
 */
import * as tf from '@tensorflow/tfjs-core';

/** One factor per sample, or one for the whole batch. */
export type Factors = number | readonly number[];

function perSample(f: Factors, n: number): tf.Tensor {
  if (typeof f === 'number') return tf.scalar(f);
  if (f.length !== n) throw new Error(`color: ${f.length} factors for a batch of ${n}`);
  return tf.tensor4d(Float32Array.from(f), [n, 1, 1, 1]);
}

function checkImages(x: tf.Tensor4D): void {
  if (x.rank !== 4 || x.shape[3] !== 3) throw new Error(`color: expected RGB images [B, H, W, 3], got shape ${JSON.stringify(x.shape)}`);
}

/** `_blend`: clamp(ratio * a + (1 - ratio) * b, 0, 1). */
function blend(a: tf.Tensor, b: tf.Tensor, ratio: tf.Tensor): tf.Tensor4D {
  return tf.clipByValue(tf.add(tf.mul(ratio, a), tf.mul(tf.sub(1, ratio), b)), 0, 1) as tf.Tensor4D;
}

/**
 * The channels of images [B, H, W, 3] as three [B, H, W] tensors, each one product with a column of
 * the identity (exact: one term is the value, the others 0). tfjs-backend-wasm runs a split or an
 * unstack of the last axis as a strided JavaScript copy, about three times slower.
 */
export function channels(x: tf.Tensor4D): [tf.Tensor3D, tf.Tensor3D, tf.Tensor3D] {
  const [b, h, w] = x.shape;
  return tf.tidy(() => {
    const rows = tf.reshape(x, [b * h * w, 3]) as tf.Tensor2D;
    return [0, 1, 2].map((k) => tf.reshape(tf.matMul(rows, tf.tensor2d([Number(k === 0), Number(k === 1), Number(k === 2)], [3, 1])), [b, h, w])) as [tf.Tensor3D, tf.Tensor3D, tf.Tensor3D];
  });
}

/**
 * The inverse of `channels`: images [B, H, W, 3] from r, g, b [B, H, W], as r [1, 0, 0] + g [0, 1, 0]
 * + b [0, 0, 1] (each product a column times a row of the identity; exact, the other terms are 0).
 * A stack on the last axis is a JavaScript copy per pixel on tfjs-backend-wasm (12 ms for a
 * 32 x 48 x 48 batch, against under 1 ms for these three products and two sums).
 */
export function fromChannels(r: tf.Tensor3D, g: tf.Tensor3D, b: tf.Tensor3D): tf.Tensor4D {
  const [n, h, w] = r.shape;
  return tf.tidy(() => {
    const placed = [r, g, b].map((c, k) => tf.matMul(tf.reshape(c, [n * h * w, 1]) as tf.Tensor2D, tf.tensor2d([Number(k === 0), Number(k === 1), Number(k === 2)], [1, 3])));
    return tf.reshape(tf.add(tf.add(placed[0], placed[1]), placed[2]), [n, h, w, 3]) as tf.Tensor4D;
  });
}

const GRAY_WEIGHTS = [0.2989, 0.587, 0.114];

/**
 * `rgb_to_grayscale`: 0.2989 r + 0.587 g + 0.114 b, as [B, H, W, 1]: one product of the pixels
 * [B * H * W, 3] with the weights [3, 1] (a broadcast over the last axis of 3 is several times slower
 * on tfjs-backend-wasm). The sum may be fused differently from torchvision's (below 1e-7).
 */
export function grayscale(x: tf.Tensor4D): tf.Tensor4D {
  checkImages(x);
  const [b, h, w] = x.shape;
  return tf.tidy(() => tf.reshape(tf.matMul(tf.reshape(x, [b * h * w, 3]) as tf.Tensor2D, tf.tensor2d(GRAY_WEIGHTS, [3, 1])), [b, h, w, 1]) as tf.Tensor4D);
}

/**
 * `adjust_brightness`: blend with black, ratio x + (1 - ratio) 0 clamped to [0, 1]: the same value as
 * clamp(ratio x) (adding a zero, or a negative zero, changes no finite number).
 */
export function adjustBrightness(x: tf.Tensor4D, factor: Factors): tf.Tensor4D {
  checkImages(x);
  return tf.tidy(() => tf.clipByValue(tf.mul(perSample(factor, x.shape[0]), x), 0, 1) as tf.Tensor4D);
}

/** `adjust_contrast`: blend with the mean of the image's grayscale. */
export function adjustContrast(x: tf.Tensor4D, factor: Factors): tf.Tensor4D {
  checkImages(x);
  return tf.tidy(() => blend(x, tf.mean(grayscale(x), [1, 2, 3], true), perSample(factor, x.shape[0])));
}

/** `adjust_saturation`: blend with the image's grayscale. */
export function adjustSaturation(x: tf.Tensor4D, factor: Factors): tf.Tensor4D {
  checkImages(x);
  return tf.tidy(() => blend(x, grayscale(x), perSample(factor, x.shape[0])));
}

/**
 * `_rgb2hsv` (Pillow's algorithm): h, s, v as [B, H, W] each, on the three channel planes (every op
 * element-wise between tensors of one shape, which tfjs-backend-wasm runs several times faster than a
 * broadcast over a last axis of 3), with torchvision's float32 arithmetic:
 *  - its where(maxc == minc, 1, divisor) is divisor + (maxc == minc): cr and the numerators are 0
 *    exactly where that adds 1;
 *  - its masks (r holds the maximum; else g; else b) as products of 0/1 planes, each candidate
 *    multiplied by its mask and the three summed (0 times a finite candidate adds nothing).
 */
export function rgbToHsv(x: tf.Tensor4D): [tf.Tensor3D, tf.Tensor3D, tf.Tensor3D] {
  return tf.tidy(() => {
    const [r, g, b] = channels(x);
    const maxc = tf.maximum(tf.maximum(r, g), b);
    const minc = tf.minimum(tf.minimum(r, g), b);
    const cr = tf.sub(maxc, minc);
    const flat = tf.cast(tf.equal(maxc, minc), 'float32');
    const s = tf.div(cr, tf.add(maxc, flat));
    const crDivisor = tf.add(cr, flat);
    const rc = tf.div(tf.sub(maxc, r), crDivisor);
    const gc = tf.div(tf.sub(maxc, g), crDivisor);
    const bc = tf.div(tf.sub(maxc, b), crDivisor);
    const isR = tf.cast(tf.equal(maxc, r), 'float32');
    const notR = tf.sub(1, isR);
    const eqG = tf.cast(tf.equal(maxc, g), 'float32');
    const hr = tf.mul(isR, tf.sub(bc, gc));
    const hg = tf.mul(tf.mul(eqG, notR), tf.sub(tf.add(rc, 2), bc));
    const hb = tf.mul(tf.mul(tf.sub(1, eqG), notR), tf.sub(tf.add(gc, 4), rc));
    const h = fract(tf.add(tf.div(tf.add(tf.add(hr, hg), hb), 6), 1));
    return [h as tf.Tensor3D, s as tf.Tensor3D, maxc as tf.Tensor3D];
  });
}

/**
 * x mod 1 for x >= 0 as x - floor(x): exact, and the same value as `tf.mod(x, 1)`, which
 * tfjs-backend-wasm computes several times slower.
 */
function fract(x: tf.Tensor): tf.Tensor {
  return tf.sub(x, tf.floor(x));
}

/**
 * `_hsv2rgb`: images [B, H, W, 3] from h, s, v. torchvision picks, per pixel, the sector i = floor(6h)
 * and assembles (r, g, b) from v, p = v(1 - s), q = v(1 - sf) and t = v(1 - s(1 - f)) with f = 6h - i.
 * The same values come from one formula per channel: channel = v (1 - s w) with
 * w = clamp(a |6h - c| + d, 0, 1), where (a, c, d) is (-1, 3, 2) for r, (1, 2, -1) for g and
 * (1, 4, -1) for b. (In sector 0, 6h = f: r gets w = 0, so v; g gets w = 1 - f, so t; b gets w = 1,
 * so p; and so on around the six sectors.) It differs from torchvision's selection only in float
 * rounding (below 1e-6), with a dozen element-wise ops on the planes instead of 20 selections.
 */
export function hsvToRgb(h: tf.Tensor3D, s: tf.Tensor3D, v: tf.Tensor3D): tf.Tensor4D {
  return tf.tidy(() => {
    const h6 = tf.mul(h, 6);
    const plane = (a: number, c: number, d: number) => {
      const w = tf.clipByValue(tf.add(tf.mul(tf.abs(tf.sub(h6, c)), a), d), 0, 1);
      return tf.clipByValue(tf.mul(v, tf.sub(1, tf.mul(s, w))), 0, 1) as tf.Tensor3D;
    };
    return fromChannels(plane(-1, 3, 2), plane(1, 2, -1), plane(1, 4, -1));
  });
}

/** `adjust_hue`: h -> (h + factor) mod 1 in HSV, factor in [-0.5, 0.5]. */
export function adjustHue(x: tf.Tensor4D, factor: Factors): tf.Tensor4D {
  checkImages(x);
  const list = typeof factor === 'number' ? [factor] : factor;
  list.forEach((f) => {
    if (!(f >= -0.5 && f <= 0.5)) throw new RangeError(`color: a hue factor must be in [-0.5, 0.5], got ${f}`);
  });
  return tf.tidy(() => {
    const [h, s, v] = rgbToHsv(x);
    const shift = typeof factor === 'number' ? tf.scalar(factor) : tf.tensor3d(Float32Array.from(factor), [x.shape[0], 1, 1]);
    return hsvToRgb(fract(tf.add(h, shift)) as tf.Tensor3D, s, v);
  });
}

/** `rgb_to_grayscale(num_output_channels=3)` for the samples of `mask`; the others are copied. */
export function randomGrayscale(x: tf.Tensor4D, mask: readonly boolean[]): tf.Tensor4D {
  checkImages(x);
  if (mask.length !== x.shape[0]) throw new Error(`color: the grayscale mask has ${mask.length} entries for a batch of ${x.shape[0]}`);
  return tf.tidy(() => {
    // m gray + (1 - m) x with m in {0, 1}: exact for both.
    const m = tf.tensor4d(Float32Array.from(mask, Number), [x.shape[0], 1, 1, 1]);
    return tf.add(tf.mul(m, grayscale(x)), tf.mul(tf.sub(1, m), x)) as tf.Tensor4D;
  });
}
