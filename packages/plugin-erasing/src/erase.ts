import * as tf from '@tensorflow/tfjs-core';
import type { Rng } from '@fermix/core';

/** The region torchvision's `F.erase(img, i, j, h, w, v)` overwrites: rows top..top+height-1, columns left..left+width-1. */
export interface EraseBox {
  top: number;
  left: number;
  height: number;
  width: number;
}

/** What the erased pixels become: one value for every channel, one per channel, or per-pixel N(0, 1) noise. */
export type EraseValue = number | readonly number[] | 'random';

/** What the draws need of a generator: fermix's `Rng`, or any object with these methods. */
export type EraseRng = Pick<Rng, 'uniform' | 'int'>;

/** Python's round (half to even), as torchvision's `int(round(...))`. */
function roundHalfEven(v: number): number {
  const r = Math.round(v);
  return Math.abs(v % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/**
 * torchvision's `RandomErasing.get_params`: up to ten tries of an area ~ U(scale) * H W and an aspect
 * ratio ~ exp(U(log ratio)), h = round(sqrt(area * ratio)), w = round(sqrt(area / ratio)), kept if
 * h < H and w < W, at a uniformly random top-left pixel (row, then column). Null after ten misses
 * (torchvision then returns the image unchanged).
 */
export function sampleEraseBox(h: number, w: number, scale: readonly [number, number], ratio: readonly [number, number], rng: EraseRng): EraseBox | null {
  const area = h * w;
  const logRatio = [Math.log(ratio[0]), Math.log(ratio[1])];
  for (let attempt = 0; attempt < 10; attempt++) {
    const eraseArea = area * (scale[0] + (scale[1] - scale[0]) * rng.uniform());
    const aspect = Math.exp(logRatio[0] + (logRatio[1] - logRatio[0]) * rng.uniform());
    const height = roundHalfEven(Math.sqrt(eraseArea * aspect));
    const width = roundHalfEven(Math.sqrt(eraseArea / aspect));
    if (!(height < h && width < w)) continue;
    const top = rng.int(h - height + 1);
    const left = rng.int(w - width + 1);
    return { top, left, height, width };
  }
  return null;
}

/** A [B, h, w, 1] float mask, 1 inside each sample's box (none for null): index comparisons, no pixel loop. */
export function eraseMasks(boxes: readonly (EraseBox | null)[], h: number, w: number): tf.Tensor4D {
  const n = boxes.length;
  boxes.forEach((b, i) => {
    if (b && !([b.top, b.left, b.height, b.width].every(Number.isInteger) && b.top >= 0 && b.left >= 0 && b.height >= 0 && b.width >= 0 && b.top + b.height <= h && b.left + b.width <= w)) {
      throw new Error(`erasing: box ${i} ${JSON.stringify(b)} is not inside a ${h}x${w} image`);
    }
  });
  return tf.tidy(() => {
    const edge = (f: (b: EraseBox) => number) => tf.tensor4d(Int32Array.from(boxes, (b) => (b ? f(b) : 0)), [n, 1, 1, 1], 'int32');
    const rows = tf.reshape(tf.range(0, h, 1, 'int32'), [1, h, 1, 1]);
    const cols = tf.reshape(tf.range(0, w, 1, 'int32'), [1, 1, w, 1]);
    const inRows = tf.logicalAnd(tf.greaterEqual(rows, edge((b) => b.top)), tf.less(rows, edge((b) => b.top + b.height)));
    const inCols = tf.logicalAnd(tf.greaterEqual(cols, edge((b) => b.left)), tf.less(cols, edge((b) => b.left + b.width)));
    // A product of the two float masks, not a logicalAnd: tfjs-backend-wasm broadcasts comparisons and
    // logical ops element by element through strides (11 ms for a 32 x 48 x 48 mask), products on XNNPACK.
    return tf.mul(tf.cast(inRows, 'float32'), tf.cast(inCols, 'float32')) as tf.Tensor4D;
  });
}

/**
 * torchvision's `F.erase` per sample: the pixels of each sample's box become `value` (a number, one
 * per channel, or `'random'`: N(0, 1) per pixel and channel, from `tf.randomNormal` seeded by `seed`);
 * a null box erases nothing. x~ = (1 - M) x + M v, exact for M in {0, 1}. Returns a new tensor.
 */
export function eraseBatch(x: tf.Tensor4D, boxes: readonly (EraseBox | null)[], value: EraseValue = 0, seed = 1): tf.Tensor4D {
  if (x.rank !== 4) throw new Error(`erasing: expected x of rank 4 [B, H, W, C], got shape ${JSON.stringify(x.shape)}`);
  const [n, h, w, c] = x.shape;
  if (boxes.length !== n) throw new Error(`erasing: ${boxes.length} boxes for a batch of ${n}`);
  if (Array.isArray(value) && value.length !== c) throw new Error(`erasing: value must be one number or ${c} (one per channel), got ${value.length}`);
  return tf.tidy(() => {
    const mask = eraseMasks(boxes, h, w);
    const v = value === 'random' ? tf.randomNormal(x.shape, 0, 1, 'float32', seed) : typeof value === 'number' ? tf.scalar(value) : tf.tensor1d(Array.from(value as readonly number[]));
    return tf.add(tf.mul(x, tf.sub(1, mask)), tf.mul(v, mask)) as tf.Tensor4D;
  });
}
