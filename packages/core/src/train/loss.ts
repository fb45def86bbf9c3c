import * as tf from '@tensorflow/tfjs-core';

/** Probabilities are clipped as Keras does, so a confident wrong prediction gives a finite loss. */
export const PROBABILITY_EPSILON = 1e-7;

/** Per-sample categorical cross-entropy, [B], of targets `y` [B, K] and probabilities `p` [B, K]. */
export function categoricalCrossEntropy(y: tf.Tensor2D, p: tf.Tensor2D): tf.Tensor1D {
  return tf.tidy(() => tf.neg(tf.sum(tf.mul(y, tf.log(tf.clipByValue(p, PROBABILITY_EPSILON, 1 - PROBABILITY_EPSILON))), 1)) as tf.Tensor1D);
}

/**
 * A view's loss term: mean over the batch of weight * CCE, where `weight` is a scalar for the term
 * or a [B] vector of per-sample weights.
 */
export function weightedCrossEntropy(y: tf.Tensor2D, p: tf.Tensor2D, weight: number | tf.Tensor1D): tf.Scalar {
  return tf.tidy(() => {
    const ce = categoricalCrossEntropy(y, p);
    if (typeof weight === 'number') return tf.mul(tf.mean(ce), weight) as tf.Scalar;
    return tf.mean(tf.mul(ce, weight)) as tf.Scalar;
  });
}
