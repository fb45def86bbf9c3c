import * as tf from '@tensorflow/tfjs-core';
import { weightedCrossEntropy } from '@fermix/core';

export interface MixAugmentWeights {
  /** Weight of the real samples' terms, CCE(y_i, p(x_i)) and CCE(y_j, p(x_j)); default 1 (the paper). */
  realWeight?: number;
  /** Weight of the virtual sample's term CCE(y~, p(x~)); default 1 (the paper). */
  virtualWeight?: number;
}

/**
 * Why the real view is weighted 2 * realWeight: the paper's loss for a batch is
 *
 *   L = mean_i CCE(y~_i, p(x~_i)) + mean_i CCE(y_i, p(x_i)) + mean_i CCE(y_perm[i], p(x_perm[i]))
 *
 * and when perm is a permutation of the batch (both pairings are), the third mean visits every sample
 * exactly once, like the second: mean_i CCE(y_perm[i], p(x_perm[i])) = mean_i CCE(y_i, p(x_i)). So the
 * two real terms are twice the mean real loss, and x_j = x[perm] never needs its own forward pass
 * (2B samples per step instead of 3B). Exact per sample only when p(x_j) does not depend on the rest
 * of its batch: always without batch norm, and with batch norm in inference mode, or in training mode
 * when x_j is forwarded alone (its batch statistics are those of x, permuted); see `forward`.
 * It would NOT hold if j were drawn with replacement (some samples twice, others never).
 */
export const REAL_TERM_FACTOR = 2;

/**
 * The paper's MixAugment loss from the two forward outputs, for your own training loop:
 *
 *   L = virtualWeight * CCE(y~, p(x~)) + realWeight * (CCE(y_i, p(x_i)) + CCE(y_j, p(x_j)))
 *     = virtualWeight * mean CCE(yVirtual, pVirtual) + 2 * realWeight * mean CCE(yReal, pReal)
 *
 * with `pReal` = p(x) [B, K] for the real batch x, `pVirtual` = p(x~) [B, K] for its mixup
 * x~ = lam x + (1-lam) x[perm] (from `mixBatch` of `@fermix/plugin-mixup`), `yReal` the one-hot targets
 * and `yVirtual` = lam y + (1-lam) y[perm]. Probabilities are clipped to [1e-7, 1 - 1e-7] as in Keras.
 * With the default weights this is the paper's loss (Psaroudakis and Kollias 2022).
 */
export function mixAugmentLoss(pReal: tf.Tensor2D, pVirtual: tf.Tensor2D, yReal: tf.Tensor2D, yVirtual: tf.Tensor2D, weights: MixAugmentWeights = {}): tf.Scalar {
  const realWeight = weights.realWeight ?? 1;
  const virtualWeight = weights.virtualWeight ?? 1;
  if (!(realWeight >= 0) || !(virtualWeight >= 0)) throw new RangeError(`mixAugmentLoss: weights must be >= 0, got realWeight ${realWeight}, virtualWeight ${virtualWeight}`);
  return tf.tidy(() =>
    tf.add(weightedCrossEntropy(yReal, pReal, REAL_TERM_FACTOR * realWeight), weightedCrossEntropy(yVirtual, pVirtual, virtualWeight)) as tf.Scalar,
  );
}
