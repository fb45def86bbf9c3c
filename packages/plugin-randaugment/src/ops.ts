/**
 * torchvision 0.14's RandAugment ops (`autoaugment._apply_op`) as they act on uint8 images, which is
 * what torchvision's RandAugment and TrivialAugmentWide are defined on (posterize and equalize refuse
 * anything else). fermix's batches are float in [0, 1], so the ops work on u = round(255 x), a float
 * tensor of whole numbers 0..255, and reproduce torchvision's integer steps: `_blend` and the
 * grayscale, autocontrast and equalize casts truncate (`.to(torch.uint8)`), the sharpness kernel's
 * output is rounded half to even, geometric ops sample the nearest pixel (`grid_sample(nearest)`,
 * round half to even) with 0 outside. Each function takes u [B, H, W, C] and one magnitude per sample.
 */
import * as tf from '@tensorflow/tfjs-core';
import { inverseAffineMatrix, type AffineParams } from '@fermix/plugin-crop';

/** u = round(255 x): the uint8 image torchvision would be given. */
export function toUint8Scale(x: tf.Tensor4D): tf.Tensor4D {
  return tf.tidy(() => tf.round(tf.mul(tf.clipByValue(x, 0, 1), 255)) as tf.Tensor4D);
}

/** Back to [0, 1]. */
export function fromUint8Scale(u: tf.Tensor4D): tf.Tensor4D {
  return tf.tidy(() => tf.div(u, 255) as tf.Tensor4D);
}

function column(values: readonly number[]): tf.Tensor4D {
  return tf.tensor4d(Float32Array.from(values), [values.length, 1, 1, 1]);
}

/** `.to(torch.uint8)` of a float in [0, 255]: truncation. */
function truncate(t: tf.Tensor): tf.Tensor {
  return tf.floor(tf.clipByValue(t, 0, 255));
}

/** `_blend` on uint8: trunc(clamp(f a + (1 - f) b, 0, 255)). */
function blend(a: tf.Tensor, b: tf.Tensor, f: tf.Tensor): tf.Tensor4D {
  return truncate(tf.add(tf.mul(f, a), tf.mul(tf.sub(1, f), b))) as tf.Tensor4D;
}

/**
 * `rgb_to_grayscale` on uint8: trunc(0.2989 r + 0.587 g + 0.114 b), [B, H, W, 1]. The weighted
 * channels are summed over the last axis, in torchvision's order (a split of the last axis is a
 * strided copy that tfjs-backend-wasm runs several times slower).
 */
export function grayU8(u: tf.Tensor4D): tf.Tensor4D {
  return tf.tidy(() => tf.floor(tf.sum(tf.mul(u, tf.tensor1d([0.2989, 0.587, 0.114])), 3, true)) as tf.Tensor4D);
}

export function brightness(u: tf.Tensor4D, f: readonly number[]): tf.Tensor4D {
  return tf.tidy(() => blend(u, tf.zerosLike(u), column(f)));
}

export function saturation(u: tf.Tensor4D, f: readonly number[]): tf.Tensor4D {
  return tf.tidy(() => blend(u, grayU8(u), column(f)));
}

export function contrast(u: tf.Tensor4D, f: readonly number[]): tf.Tensor4D {
  return tf.tidy(() => blend(u, tf.mean(grayU8(u), [1, 2, 3], true), column(f)));
}

/**
 * `adjust_sharpness`: blend with the image smoothed by [[1, 1, 1], [1, 5, 1], [1, 1, 1]] / 13 and
 * rounded, inside a one-pixel border that keeps the original pixels.
 */
export function sharpness(u: tf.Tensor4D, f: readonly number[]): tf.Tensor4D {
  const [, h, w, c] = u.shape;
  if (h <= 2 || w <= 2) return tf.clone(u);
  return tf.tidy(() => {
    const k = Float32Array.from({ length: 9 * c }, (_, i) => (Math.floor(i / c) === 4 ? 5 : 1) / 13);
    const kernel = tf.tensor4d(k, [3, 3, c, 1]);
    const blurred = tf.round(tf.depthwiseConv2d(u, kernel, 1, 'valid'));
    const inner = tf.pad(tf.ones([1, h - 2, w - 2, 1]), [
      [0, 0],
      [1, 1],
      [1, 1],
      [0, 0],
    ]);
    const padded = tf.pad(blurred, [
      [0, 0],
      [1, 1],
      [1, 1],
      [0, 0],
    ]);
    const degenerate = tf.add(tf.mul(padded, inner), tf.mul(u, tf.sub(1, inner)));
    return blend(u, degenerate, column(f));
  });
}

/** `posterize(bits)`: keep the top `bits` bits, u & -(2^(8 - bits)). */
export function posterize(u: tf.Tensor4D, bits: readonly number[]): tf.Tensor4D {
  return tf.tidy(() => {
    const step = column(bits.map((b) => 2 ** (8 - b)));
    return tf.mul(tf.floor(tf.div(u, step)), step) as tf.Tensor4D;
  });
}

/** `solarize(threshold)`: 255 - u where u >= threshold. */
export function solarize(u: tf.Tensor4D, threshold: readonly number[]): tf.Tensor4D {
  return tf.tidy(() => {
    // u - t >= 0 rather than u >= t: the same decision (a rounded difference keeps its sign), and a
    // float subtraction broadcasts on tfjs-backend-wasm several times faster than a comparison.
    const above = tf.greaterEqual(tf.sub(u, column(threshold)), 0);
    return tf.where(above, tf.sub(255, u), u) as tf.Tensor4D;
  });
}

/** `autocontrast`: each channel stretched to 0..255 by its min and max (left alone when flat), truncated. */
export function autocontrast(u: tf.Tensor4D): tf.Tensor4D {
  return tf.tidy(() => {
    const lo = tf.min(u, [1, 2], true);
    const hi = tf.max(u, [1, 2], true);
    const flat = tf.equal(hi, lo);
    const minimum = tf.where(flat, tf.zerosLike(lo), lo);
    const scale = tf.where(flat, tf.onesLike(lo), tf.div(255, tf.sub(hi, tf.where(flat, tf.zerosLike(lo), lo))));
    return truncate(tf.mul(tf.sub(u, minimum), scale)) as tf.Tensor4D;
  });
}

/**
 * `equalize`, torchvision's `_scale_channel` per image and channel: hist = counts of 0..255,
 * step = floor((pixels - count of the channel's largest value) / 255), lut = floor((cumsum(hist) +
 * floor(step / 2)) / step) shifted right by one and clamped; a channel with step 0 is left alone.
 */
export function equalize(u: tf.Tensor4D): tf.Tensor4D {
  const [b, h, w, c] = u.shape;
  return tf.tidy(() => {
    const rows = b * c;
    const perChannel = tf.reshape(tf.transpose(u, [0, 3, 1, 2]), [rows, h * w]);
    const ints = tf.cast(perChannel, 'int32') as tf.Tensor2D;
    const hist = tf.denseBincount(ints, [], 256) as tf.Tensor2D;
    const top = tf.cast(tf.max(ints, 1), 'int32');
    const topCount = tf.sum(tf.mul(hist, tf.oneHot(top, 256)), 1, true);
    const step = tf.floor(tf.div(tf.sub(h * w, topCount), 255));
    const safeStep = tf.where(tf.equal(step, 0), tf.onesLike(step), step);
    const lut = tf.floor(tf.div(tf.add(tf.cumsum(hist, 1), tf.floor(tf.div(step, 2))), safeStep));
    const shifted = tf.clipByValue(tf.concat([tf.zeros([rows, 1]), tf.slice(lut, [0, 0], [rows, 255])], 1), 0, 255);
    const index = tf.add(tf.reshape(tf.mul(tf.range(0, rows, 1, 'int32'), tf.scalar(256, 'int32')), [rows, 1]), ints);
    const mapped = tf.reshape(tf.gather(tf.reshape(shifted, [-1]), tf.reshape(index, [-1])), [rows, h * w]);
    // keep * perChannel + (1 - keep) * mapped with keep in {0, 1}: exact, and a broadcast product
    // instead of a broadcastTo of the condition (a Tile, 3 ms on tfjs-backend-wasm) and a select.
    const keep = tf.cast(tf.equal(step, 0), 'float32');
    const out = tf.add(tf.mul(keep, perChannel), tf.mul(tf.sub(1, keep), mapped));
    return tf.transpose(tf.reshape(out, [b, c, h, w]), [0, 2, 3, 1]) as tf.Tensor4D;
  });
}

/**
 * torchvision's `F.affine(..., interpolation=NEAREST, fill=None)` with per-sample parameters and
 * centres (measured from the image centre; see `inverseAffineMatrix`): each output pixel takes the
 * input pixel nearest its source point (round half to even, as `grid_sample`), 0 off the image.
 */
export function affineNearest(u: tf.Tensor4D, params: readonly AffineParams[], centers: readonly (readonly [number, number])[]): tf.Tensor4D {
  const [b, h, w, c] = u.shape;
  return tf.tidy(() => {
    const { ys, xs } = torchAffineGrid(h, w, params.map((p, i) => inverseAffineMatrix(p, centers[i])));
    // Whole-number float arithmetic (exact below 2^24) and one cast: tfjs-backend-wasm broadcasts
    // int32 arithmetic several times slower than float32.
    const yi = tf.round(ys);
    const xi = tf.round(xs);
    const inside = tf.logicalAnd(tf.logicalAnd(tf.greaterEqual(yi, 0), tf.less(yi, h)), tf.logicalAnd(tf.greaterEqual(xi, 0), tf.less(xi, w)));
    const base = tf.reshape(tf.range(0, b * h * w, h * w, 'float32'), [b, 1, 1]);
    const index = tf.cast(tf.add(base, tf.add(tf.mul(tf.clipByValue(yi, 0, h - 1), w), tf.clipByValue(xi, 0, w - 1))), 'int32');
    const read = tf.reshape(tf.gather(tf.reshape(u, [b * h * w, c]), tf.reshape(index, [-1]), 0), [b, h, w, c]);
    return tf.mul(read, tf.expandDims(tf.cast(inside, 'float32'), 3)) as tf.Tensor4D;
  });
}

/**
 * The source points exactly as torchvision computes them in float32 (`_gen_affine_grid`, then
 * `grid_sample`'s un-normalisation): theta / (size / 2), the base grid of pixel centres, their product,
 * then ((g + 1) size - 1) / 2. Nearest sampling rounds these, so a point that is a tie in exact
 * arithmetic (rotations by 30 degrees put many on x.5) must be rounded from the same float32 value
 * torch rounds; the bilinear sampler of `@fermix/plugin-crop` does not need this.
 */
function torchAffineGrid(h: number, w: number, matrices: readonly number[][]): { ys: tf.Tensor3D; xs: tf.Tensor3D } {
  const n = matrices.length;
  return tf.tidy(() => {
    const col = (values: number[]) => tf.tensor3d(Float32Array.from(values), [n, 1, 1]);
    // theta is float32; rescaled_theta = theta^T / [0.5 w, 0.5 h], in float32.
    const t = (k: number, half: number) => col(matrices.map((m) => Math.fround(Math.fround(m[k]) / Math.fround(half))));
    const gxRow = tf.reshape(tf.linspace(-w * 0.5 + 0.5, w * 0.5 - 0.5, w), [1, 1, w]);
    const gyCol = tf.reshape(tf.linspace(-h * 0.5 + 0.5, h * 0.5 - 0.5, h), [1, h, 1]);
    const gx = tf.add(tf.add(tf.mul(gxRow, t(0, 0.5 * w)), tf.mul(gyCol, t(1, 0.5 * w))), t(2, 0.5 * w));
    const gy = tf.add(tf.add(tf.mul(gxRow, t(3, 0.5 * h)), tf.mul(gyCol, t(4, 0.5 * h))), t(5, 0.5 * h));
    const unnormalise = (g: tf.Tensor, size: number) => tf.div(tf.sub(tf.mul(tf.add(g, 1), size), 1), 2);
    return { xs: unnormalise(gx, w) as tf.Tensor3D, ys: unnormalise(gy, h) as tf.Tensor3D };
  });
}

/** The ops of torchvision's RandAugment and TrivialAugmentWide, by torchvision's names. */
export const OP_NAMES = ['Identity', 'ShearX', 'ShearY', 'TranslateX', 'TranslateY', 'Rotate', 'Brightness', 'Color', 'Contrast', 'Sharpness', 'Posterize', 'Solarize', 'AutoContrast', 'Equalize'] as const;
export type OpName = (typeof OP_NAMES)[number];

const GEOMETRIC = new Set<OpName>(['ShearX', 'ShearY', 'TranslateX', 'TranslateY', 'Rotate']);

/**
 * The affine map `_apply_op` gives a geometric op of magnitude m, and its centre measured from the
 * image centre: shears about the top-left corner (torchvision passes `center=[0, 0]`) by
 * atan(m) in degrees, translations by int(m) pixels (truncated), rotation by m degrees
 * counter-clockwise (`F.rotate` negates the angle it hands to the matrix).
 */
export function geometricParams(op: OpName, m: number, h: number, w: number): { params: AffineParams; center: [number, number] } {
  const none: AffineParams = { angle: 0, translate: [0, 0], scale: 1, shear: [0, 0] };
  const corner: [number, number] = [-w * 0.5, -h * 0.5];
  const shear = (Math.atan(m) * 180) / Math.PI;
  switch (op) {
    case 'ShearX':
      return { params: { ...none, shear: [shear, 0] }, center: corner };
    case 'ShearY':
      return { params: { ...none, shear: [0, shear] }, center: corner };
    case 'TranslateX':
      return { params: { ...none, translate: [Math.trunc(m), 0] }, center: [0, 0] };
    case 'TranslateY':
      return { params: { ...none, translate: [0, Math.trunc(m)] }, center: [0, 0] };
    case 'Rotate':
      return { params: { ...none, angle: -m }, center: [0, 0] };
    default:
      throw new Error(`randaugment: ${op} is not a geometric op`);
  }
}

/**
 * Applies one op per sample (`ops[i]` with magnitude `magnitudes[i]`) to u [B, H, W, 3] on the 0..255
 * scale: the samples of each op are gathered, transformed together, and put back in place (all the
 * geometric ops share one sampling pass). Returns a new tensor.
 */
export function applyOps(u: tf.Tensor4D, ops: readonly OpName[], magnitudes: readonly number[]): tf.Tensor4D {
  const [n, h, w] = u.shape;
  if (ops.length !== n || magnitudes.length !== n) throw new Error(`randaugment: ${ops.length} ops and ${magnitudes.length} magnitudes for a batch of ${n}`);
  return tf.tidy(() => {
    const groups = new Map<string, number[]>();
    ops.forEach((op, i) => {
      const key = GEOMETRIC.has(op) ? 'geometric' : op;
      groups.set(key, [...(groups.get(key) ?? []), i]);
    });
    const parts: tf.Tensor4D[] = [];
    const order: number[] = [];
    for (const [key, idx] of groups) {
      const sub = tf.gather(u, tf.tensor1d(idx, 'int32'), 0) as tf.Tensor4D;
      const m = idx.map((i) => magnitudes[i]);
      let out: tf.Tensor4D;
      if (key === 'geometric') {
        const maps = idx.map((i) => geometricParams(ops[i], magnitudes[i], h, w));
        out = affineNearest(
          sub,
          maps.map((g) => g.params),
          maps.map((g) => g.center),
        );
      } else if (key === 'Identity') out = sub;
      else if (key === 'Brightness') out = brightness(sub, m.map((v) => 1 + v));
      else if (key === 'Color') out = saturation(sub, m.map((v) => 1 + v));
      else if (key === 'Contrast') out = contrast(sub, m.map((v) => 1 + v));
      else if (key === 'Sharpness') out = sharpness(sub, m.map((v) => 1 + v));
      else if (key === 'Posterize') out = posterize(sub, m.map((v) => Math.trunc(v)));
      else if (key === 'Solarize') out = solarize(sub, m);
      else if (key === 'AutoContrast') out = autocontrast(sub);
      else if (key === 'Equalize') out = equalize(sub);
      else throw new Error(`randaugment: unknown op ${key}`);
      parts.push(out);
      order.push(...idx);
    }
    if (parts.length === 1) return tf.clone(parts[0]);
    // parts concatenated hold sample order[k] at row k: gather the rows back into batch order.
    const inverse = new Int32Array(n);
    order.forEach((sample, row) => (inverse[sample] = row));
    return tf.gather(tf.concat(parts, 0), tf.tensor1d(inverse, 'int32'), 0) as tf.Tensor4D;
  });
}
