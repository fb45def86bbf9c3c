import * as tf from '@tensorflow/tfjs-core';
import { bilinearSample, type Fill } from './sample.js';

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
 * torchvision's `F.resized_crop(img, i, j, h, w, size, bilinear)` on tensors, per sample: crop, then
 * resize with `interpolate(mode='bilinear', align_corners=False, antialias=False)`. The source row of
 * output row r is top + clamp((r + 0.5) h / oh - 0.5, 0, h - 1): torch clamps below at 0 and reads
 * the crop's last row past its end, so nothing outside the crop is ever read. Columns likewise.
 */
export function resizedCrop(x: tf.Tensor4D, boxes: readonly CropBox[], size?: [number, number]): tf.Tensor4D {
  const [n, h, w] = x.shape;
  if (boxes.length !== n) throw new Error(`crop: ${boxes.length} boxes for a batch of ${n}`);
  checkBoxes(boxes, h, w);
  const [oh, ow] = size ?? [h, w];
  return tf.tidy(() => {
    const axis = (start: number[], length: number[], out: number, shape: [number, number, number]) => {
      const len = column(length, n);
      const scale = tf.div(len, out);
      const at = tf.reshape(tf.range(0, out, 1, 'float32'), shape);
      const src = tf.sub(tf.mul(tf.add(at, 0.5), scale), 0.5);
      return tf.add(column(start, n), tf.minimum(tf.maximum(src, 0), tf.sub(len, 1)));
    };
    const ys = axis(boxes.map((b) => b.top), boxes.map((b) => b.height), oh, [1, oh, 1]);
    const xs = axis(boxes.map((b) => b.left), boxes.map((b) => b.width), ow, [1, 1, ow]);
    const zeros = tf.zeros([n, oh, ow]);
    return bilinearSample(x, tf.add(ys, zeros) as tf.Tensor3D, tf.add(xs, zeros) as tf.Tensor3D);
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
  return tf.tidy(() => {
    const ys = tf.add(column(offsets.map((o) => o.top - padding), n), tf.reshape(tf.range(0, h, 1, 'float32'), [1, h, 1]));
    const xs = tf.add(column(offsets.map((o) => o.left - padding), n), tf.reshape(tf.range(0, w, 1, 'float32'), [1, 1, w]));
    const zeros = tf.zeros([n, h, w]);
    return bilinearSample(x, tf.add(ys, zeros) as tf.Tensor3D, tf.add(xs, zeros) as tf.Tensor3D, fill);
  });
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
  return tf.tidy(() => {
    const { ys, xs } = affineGrid(x.shape, params.map((p) => inverseAffineMatrix(p)));
    return bilinearSample(x, ys, xs, fill);
  });
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
