import * as tf from '@tensorflow/tfjs-core';
import type { Rng } from '@fermix/core';

/** Which samples to flip: one entry per sample of the batch, truthy = flip. */
export type FlipMask = boolean[] | Uint8Array | tf.Tensor1D;

/**
 * Draws a flip mask for `n` samples: each is flipped with probability `p`, independently.
 * Always takes exactly `n` uniforms from `rng` (whatever `p` is), so the draws of the plugins after
 * this one do not depend on `p`.
 */
export function sampleFlipMask(n: number, p: number, rng: Rng): boolean[] {
  if (!Number.isInteger(n) || n < 0) throw new RangeError(`sampleFlipMask: n must be a non-negative integer, got ${n}`);
  if (!(p >= 0 && p <= 1)) throw new RangeError(`sampleFlipMask: p must be in [0, 1], got ${p}`);
  const mask = new Array<boolean>(n);
  // uniform() is in [0, 1): p = 0 never flips, p = 1 always does.
  for (let i = 0; i < n; i++) mask[i] = rng.uniform() < p;
  return mask;
}

function maskValues(mask: FlipMask, n: number): ArrayLike<unknown> {
  let values: ArrayLike<unknown>;
  if (mask instanceof tf.Tensor) {
    if (mask.rank !== 1) throw new Error(`flipBatch: the mask must be rank 1, got shape ${JSON.stringify(mask.shape)}`);
    values = mask.dataSync();
  } else {
    values = mask;
  }
  if (values.length !== n) throw new Error(`flipBatch: the mask has ${values.length} entries for a batch of ${n}`);
  return values;
}

/**
 * Mirrors left-right (reverses the width axis, axis 2 of [B, H, W, C]) exactly the samples whose
 * mask entry is set; the others are copied unchanged. Returns a new tensor (yours to dispose); the
 * values are moved, never recomputed, so a flipped sample is bit-exact.
 *
 * One `tf.gather` of [B*H*W, C] rows with an index built on the host: on tfjs 4.22 this is about 8x
 * faster than `tf.where(mask, tf.reverse(x, 2), x)` on the cpu backend (whose Reverse and Select
 * kernels are slow) and 2x faster on wasm, and it is correct on both (the wasm GatherV2 kernel gets
 * `batchDims` wrong, so the per-sample gather `tf.gather(x, idx, 2, 1)` cannot be used there).
 * A tensor mask is read with `dataSync` (B values).
 */
export function flipBatch(x: tf.Tensor4D, mask: FlipMask): tf.Tensor4D {
  if (x.rank !== 4) throw new Error(`flipBatch: expected x of rank 4 [B, H, W, C], got shape ${JSON.stringify(x.shape)}`);
  const [b, h, w, c] = x.shape;
  const values = maskValues(mask, b);
  let count = 0;
  for (let i = 0; i < b; i++) if (values[i]) count++;
  if (count === 0) return tf.clone(x);
  const index = new Int32Array(b * h * w);
  for (let i = 0; i < b; i++) {
    const flipped = Boolean(values[i]);
    for (let r = 0; r < h; r++) {
      const row = (i * h + r) * w;
      if (flipped) for (let k = 0; k < w; k++) index[row + k] = row + w - 1 - k;
      else for (let k = 0; k < w; k++) index[row + k] = row + k;
    }
  }
  return tf.tidy(() => {
    const rows = tf.reshape(x, [b * h * w, c]);
    const indices = tf.tensor1d(index, 'int32');
    return tf.reshape(tf.gather(rows, indices, 0), [b, h, w, c]) as tf.Tensor4D;
  });
}
