import * as tf from '@tensorflow/tfjs-core';

/**
 * The global L2 norm of a set of gradients, sqrt(sum of every element squared), as
 * `torch.nn.utils.clip_grad_norm_` computes it.
 */
export function globalNorm(grads: tf.Tensor[]): tf.Scalar {
  return tf.tidy(() => tf.sqrt(tf.addN(grads.map((g) => tf.sum(tf.square(g))))) as tf.Scalar);
}

/**
 * Scales every gradient by min(1, maxNorm / (norm + 1e-6)), as `clip_grad_norm_`: the direction
 * is kept and the global norm is at most `maxNorm`. Returns new tensors (call it inside a tidy).
 */
export function clipByGlobalNorm(grads: tf.NamedTensorMap, maxNorm: number): { grads: tf.NamedTensorMap; norm: tf.Scalar } {
  const names = Object.keys(grads);
  const norm = globalNorm(names.map((n) => grads[n]));
  const scale = tf.minimum(tf.div(maxNorm, tf.add(norm, 1e-6)), 1);
  return { grads: Object.fromEntries(names.map((n) => [n, tf.mul(grads[n], scale)])), norm };
}
