import * as tf from '@tensorflow/tfjs-core';

/** A mixing coefficient: one for the batch, or one per sample ([B] tensor or array). */
export type Lambda = number | tf.Tensor1D | ArrayLike<number>;
/** The partner of each sample, as indices into the batch. */
export type Perm = Int32Array | ArrayLike<number> | tf.Tensor1D;

function batchOf(t: tf.Tensor): number {
  if (t.rank < 1) throw new Error(`mixup: expected a batched tensor, got rank ${t.rank}`);
  return t.shape[0];
}

function permTensor(perm: Perm, n: number): tf.Tensor1D {
  if (perm instanceof tf.Tensor) {
    if (perm.rank !== 1 || perm.shape[0] !== n) throw new Error(`mixup: perm must have shape [${n}], got ${JSON.stringify(perm.shape)}`);
    return perm.dtype === 'int32' ? perm : (tf.cast(perm, 'int32') as tf.Tensor1D);
  }
  if (perm.length !== n) throw new Error(`mixup: perm must have ${n} entries, got ${perm.length}`);
  for (let i = 0; i < n; i++) {
    const j = perm[i];
    if (!Number.isInteger(j) || j < 0 || j >= n) throw new Error(`mixup: perm[${i}] = ${j} is not an index into a batch of ${n}`);
  }
  return tf.tensor1d(Int32Array.from(perm as ArrayLike<number>), 'int32');
}

/** lam as a tensor broadcasting over every axis but the first: a scalar, or [B, 1, ..., 1]. */
function lambdaTensor(lam: Lambda, n: number, rank: number): tf.Tensor {
  if (typeof lam === 'number') {
    if (!(lam >= 0 && lam <= 1)) throw new RangeError(`mixup: lam must be in [0, 1], got ${lam}`);
    return tf.scalar(lam);
  }
  const vector = lam instanceof tf.Tensor ? lam : tf.tensor1d(Float32Array.from(lam as ArrayLike<number>));
  if (vector.rank !== 1 || vector.shape[0] !== n) throw new Error(`mixup: per-sample lam must have shape [${n}], got ${JSON.stringify(vector.shape)}`);
  return tf.reshape(vector, [n, ...new Array(rank - 1).fill(1)]);
}

/**
 * t~ = lam * t + (1 - lam) * t[perm] along the first axis, for a tensor of any rank (images
 * [B, H, W, C], targets [B, K], per-sample weights [B]). A per-sample lam broadcasts over the other axes.
 * Returns a new tensor; the inputs are left alone.
 */
export function mixTensor<T extends tf.Tensor>(t: T, lam: Lambda, perm: Perm): T {
  return tf.tidy(() => {
    const n = batchOf(t);
    const l = lambdaTensor(lam, n, t.rank);
    const partner = tf.gather(t, permTensor(perm, n), 0);
    return tf.add(tf.mul(l, t), tf.mul(tf.sub(1, l), partner)) as T;
  });
}

/**
 * Mixup of a batch (Zhang et al. 2017): x~ = lam * x + (1 - lam) * x[perm] and y~ = lam * y + (1 - lam) * y[perm].
 * `lam` is one number for the batch or one per sample ([B], broadcast over H, W, C); `perm[i]` is
 * the sample mixed into sample i. Pure: returns new tensors (yours to dispose) and keeps the inputs.
 */
export function mixBatch(x: tf.Tensor4D, y: tf.Tensor2D, lam: Lambda, perm: Perm): { x: tf.Tensor4D; y: tf.Tensor2D } {
  if (x.rank !== 4 || y.rank !== 2 || x.shape[0] !== y.shape[0]) {
    throw new Error(`mixup: expected x [B,H,W,C] and y [B,K] with the same B, got ${JSON.stringify(x.shape)} and ${JSON.stringify(y.shape)}`);
  }
  return tf.tidy(() => {
    const n = x.shape[0];
    // Build lam and perm once for both tensors.
    const p = permTensor(perm, n);
    const l = typeof lam === 'number' ? lam : lam instanceof tf.Tensor ? lam : tf.tensor1d(Float32Array.from(lam));
    return { x: mixTensor(x, l, p), y: mixTensor(y, l, p) };
  });
}
