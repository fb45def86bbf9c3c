import * as tf from '@tensorflow/tfjs-core';
import { affineSample, type Fill } from './sample.js';

/** A crop of `height` x `width` pixels whose top-left pixel is (top, left), torchvision's (i, j, h, w). */
export interface CropBox {
  top: number;
  left: number;
  height: number;
  width: number;
}

/** The parameters of torchvision's `F.affine`: degrees clockwise, whole-pixel translation, scale, shear in degrees. */
export interface AffineParams {
  angle: number;
  translate: [number, number];
  scale: number;
  shear: [number, number];
}

export const IDENTITY_AFFINE: Readonly<AffineParams> = Object.freeze({ angle: 0, translate: [0, 0] as [number, number], scale: 1, shear: [0, 0] as [number, number] });

function column(values: number[], n: number): tf.Tensor3D {
  return tf.tensor3d(Float32Array.from(values), [n, 1, 1]);
}

function checkBoxes(boxes: readonly CropBox[], h: number, w: number): void {
  boxes.forEach((b, i) => {
    const ok = [b.top, b.left, b.height, b.width].every(Number.isInteger) && b.height > 0 && b.width > 0 && b.top >= 0 && b.left >= 0 && b.top + b.height <= h && b.left + b.width <= w;
    if (!ok) throw new Error(`crop: box ${i} ${JSON.stringify(b)} is not inside a ${h}x${w} image`);
  });
}

/**
 * The bilinear pairs of one axis of a resized crop, per sample and output line, in float32 as torch
 * computes them (`upsample_bilinear2d`, align_corners=False): src = (r + 0.5) len / out - 0.5,
 * clamped below at 0; lower line floor(src), upper line one further except at the crop's last line;
 * weights 1 - (src - lower) and src - lower. Lines are global rows of the [n * inSize, ...] input.
 * O(n * out) host numbers: line parameters, like the crop boxes, not pixels.
 */
function bilinearLines(start: readonly number[], length: readonly number[], out: number, inSize: number) {
  const f = Math.fround;
  const n = start.length;
  const lower = new Int32Array(n * out);
  const upper = new Int32Array(n * out);
  const w0 = new Float32Array(n * out);
  const w1 = new Float32Array(n * out);
  for (let i = 0; i < n; i++) {
    const scale = f(length[i] / out);
    for (let r = 0; r < out; r++) {
      const src = Math.max(f(f(f(r + 0.5) * scale) - 0.5), 0);
      const y0 = Math.min(Math.floor(src), length[i] - 1);
      const lambda = f(src - y0);
      const k = i * out + r;
      lower[k] = i * inSize + start[i] + y0;
      upper[k] = i * inSize + start[i] + Math.min(y0 + 1, length[i] - 1);
      w1[k] = lambda;
      w0[k] = f(1 - lambda);
    }
  }
  return { lower, upper, w0, w1 };
}

/**
 * torchvision's `F.resized_crop(img, i, j, h, w, size, bilinear)` on tensors, per sample: crop, then
 * resize with `interpolate(mode='bilinear', align_corners=False, antialias=False)`. The source row of
 * output row r is top + clamp((r + 0.5) h / oh - 0.5, 0, h - 1): torch clamps below at 0 and reads
 * the crop's last row past its end, so nothing outside the crop is ever read. Columns likewise.
 *
 * Bilinear resizing is separable: each output row is w0 X[lower] + w1 X[upper] of two whole input rows
 * (two gathers of rows of W x C values, a product and a sum), then the same along columns after a
 * transpose. (Batched matrix products with the two-non-zero weight matrices compute the same, but
 * tfjs-backend-wasm runs a batched product as a scalar loop, 15 ms for a 32 x 48 x 48 batch.)
 */
export function resizedCrop(x: tf.Tensor4D, boxes: readonly CropBox[], size?: [number, number]): tf.Tensor4D {
  const [n, h, w, c] = x.shape;
  if (boxes.length !== n) throw new Error(`crop: ${boxes.length} boxes for a batch of ${n}`);
  checkBoxes(boxes, h, w);
  const [oh, ow] = size ?? [h, w];
  const interpolate = (lines: tf.Tensor2D, pairs: ReturnType<typeof bilinearLines>) => {
    const at = (idx: Int32Array) => tf.gather(lines, tf.tensor1d(idx, 'int32'), 0);
    const weight = (v: Float32Array) => tf.tensor2d(v, [v.length, 1]);
    return tf.add(tf.mul(at(pairs.lower), weight(pairs.w0)), tf.mul(at(pairs.upper), weight(pairs.w1)));
  };
  return tf.tidy(() => {
    const ys = bilinearLines(boxes.map((b) => b.top), boxes.map((b) => b.height), oh, h);
    const xs = bilinearLines(boxes.map((b) => b.left), boxes.map((b) => b.width), ow, w);
    const rows = tf.reshape(interpolate(tf.reshape(x, [n * h, w * c]) as tf.Tensor2D, ys), [n, oh, w, c]);
    const byColumn = tf.reshape(tf.transpose(rows, [0, 2, 1, 3]), [n * w, oh * c]) as tf.Tensor2D;
    const out = tf.reshape(interpolate(byColumn, xs), [n, ow, oh, c]);
    return tf.transpose(out, [0, 2, 1, 3]) as tf.Tensor4D;
  });
}

/**
 * torchvision's `RandomCrop(size = input size, padding)` for given offsets: pad by `padding` pixels
 * of `fill` on every side, then crop at (top, left) of the padded image. Output pixel (r, c) is input
 * pixel (top + r - padding, left + c - padding), or `fill` off the image: whole-pixel moves, exact.
 */
export function paddedCrop(x: tf.Tensor4D, offsets: readonly { top: number; left: number }[], padding: number, fill: Fill = 0): tf.Tensor4D {
  const [n, h, w] = x.shape;
  if (offsets.length !== n) throw new Error(`crop: ${offsets.length} offsets for a batch of ${n}`);
  offsets.forEach((o, i) => {
    if (!Number.isInteger(o.top) || !Number.isInteger(o.left) || o.top < 0 || o.left < 0 || o.top > 2 * padding || o.left > 2 * padding) {
      throw new Error(`crop: offset ${i} ${JSON.stringify(o)} is not in [0, ${2 * padding}]`);
    }
  });
  return affineSample(
    x,
    offsets.map((o) => [1, 0, o.left - padding, 0, 1, o.top - padding]),
    fill,
  );
}

/**
 * torchvision 0.14's `_get_inverse_affine_matrix(center, angle, translate, scale, shear)`, as
 * `F.affine` uses it for tensors: the map from an output point to its input point, both measured
 * from the image centre, [a, b, c, d, e, f] for x_in = a x + b y + c, y_in = d x + e y + f. `center`
 * is the centre of the map measured from the image centre ([0, 0], the default, is the image centre;
 * torchvision's `center=[0, 0]` pixel argument is [-W / 2, -H / 2] here).
 */
export function inverseAffineMatrix(p: AffineParams, center: readonly [number, number] = [0, 0]): number[] {
  const rad = Math.PI / 180;
  const rot = p.angle * rad;
  const sx = p.shear[0] * rad;
  const sy = p.shear[1] * rad;
  const [tx, ty] = p.translate;
  const a = Math.cos(rot - sy) / Math.cos(sy);
  const b = (-Math.cos(rot - sy) * Math.tan(sx)) / Math.cos(sy) - Math.sin(rot);
  const c = Math.sin(rot - sy) / Math.cos(sy);
  const d = (-Math.sin(rot - sy) * Math.tan(sx)) / Math.cos(sy) + Math.cos(rot);
  const [cx, cy] = center;
  const m = [d, -b, 0, -c, a, 0].map((v) => v / p.scale);
  m[2] += m[0] * (-cx - tx) + m[1] * (-cy - ty);
  m[5] += m[3] * (-cx - tx) + m[4] * (-cy - ty);
  m[2] += cx;
  m[5] += cy;
  return m;
}

/**
 * torchvision's `F.affine(img, angle, translate, scale, shear, bilinear, fill)` on tensors, one set of
 * parameters per sample: the output pixel (r, c), measured from the centre ((W - 1) / 2, (H - 1) / 2),
 * reads the input at the inverse matrix's image of it, bilinearly, with `fill` outside the image.
 */
export function affine(x: tf.Tensor4D, params: readonly AffineParams[], fill: Fill = 0): tf.Tensor4D {
  const [n] = x.shape;
  if (params.length !== n) throw new Error(`crop: ${params.length} affine parameter sets for a batch of ${n}`);
  const cx = (x.shape[2] - 1) / 2;
  const cy = (x.shape[1] - 1) / 2;
  // The inverse matrix measures both points from the centre; affineSample wants pixel indices.
  return affineSample(
    x,
    params.map((p) => {
      const [a, b, c, d, e, f] = inverseAffineMatrix(p);
      return [a, b, c + cx - a * cx - b * cy, d, e, f + cy - d * cx - e * cy];
    }),
    fill,
  );
}

/**
 * The source points of the affine maps, one inverse matrix per sample (from `inverseAffineMatrix`):
 * output pixel (r, c), measured from the centre ((W - 1) / 2, (H - 1) / 2), reads the input at the
 * matrix's image of it, back in pixel-index coordinates. [B, H, W] each; for a sampler of your own.
 */
export function affineGrid(shape: readonly number[], matrices: readonly number[][]): { ys: tf.Tensor3D; xs: tf.Tensor3D } {
  const [n, h, w] = shape;
  if (matrices.length !== n) throw new Error(`crop: ${matrices.length} matrices for a batch of ${n}`);
  return tf.tidy(() => {
    const cx = (w - 1) / 2;
    const cy = (h - 1) / 2;
    const u = tf.reshape(tf.sub(tf.range(0, w, 1, 'float32'), cx), [1, 1, w]);
    const v = tf.reshape(tf.sub(tf.range(0, h, 1, 'float32'), cy), [1, h, 1]);
    const entry = (k: number) => column(matrices.map((m) => m[k]), n);
    const xs = tf.add(tf.add(tf.add(tf.mul(entry(0), u), tf.mul(entry(1), v)), entry(2)), cx) as tf.Tensor3D;
    const ys = tf.add(tf.add(tf.add(tf.mul(entry(3), u), tf.mul(entry(4), v)), entry(5)), cy) as tf.Tensor3D;
    return { ys, xs };
  });
}
