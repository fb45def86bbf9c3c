import * as tf from '@tensorflow/tfjs-core';

/**
 * Label smoothing (Szegedy et al. 2016), as timm and PyTorch's `label_smoothing` define it:
 * y~ = (1 - epsilon) y + epsilon / K for targets y [B, K]. A one-hot row becomes
 * 1 - epsilon + epsilon / K on its class and epsilon / K elsewhere; rows still sum to 1.
 * Pure: returns a new tensor (yours to dispose).
 */
export function smoothTargets(y: tf.Tensor2D, epsilon: number): tf.Tensor2D {
  if (!(epsilon >= 0 && epsilon < 1)) throw new RangeError(`label-smoothing: epsilon must be in [0, 1), got ${epsilon}`);
  if (y.rank !== 2) throw new Error(`label-smoothing: expected targets [B, K], got ${JSON.stringify(y.shape)}`);
  const k = y.shape[1];
  return tf.tidy(() => tf.add(tf.mul(y, 1 - epsilon), epsilon / k) as tf.Tensor2D);
}
