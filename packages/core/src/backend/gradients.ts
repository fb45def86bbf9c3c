import * as tf from '@tensorflow/tfjs-core';

/**
 * The gradient of FusedBatchNorm (batch norm in training), the same maths as tfjs-core 4.22's, but
 * the x gradient multiplies dy by 1/sqrt(var + eps) by broadcasting. tfjs-core first tiles that
 * [C] vector out to the whole activation shape, and the wasm backend's Tile kernel made that one
 * copy about 30 % of a small CNN's training step (`fermix bench` profile).
 */
export const fusedBatchNormGrad: tf.GradConfig = {
  kernelName: 'FusedBatchNorm',
  inputsToSave: ['x', 'mean', 'variance', 'scale'],
  gradFunc: (dy, saved, attrs) => {
    const { varianceEpsilon } = attrs as unknown as { varianceEpsilon: number };
    const [x, mean, variance, scale] = saved as tf.Tensor[];
    const dyT = dy as tf.Tensor;
    const scaleValue = scale == null ? tf.scalar(1) : scale;
    // The axes batch norm reduced over: every axis where mean broadcasts (all but channels).
    const reductionAxes = tf.backend_util.getReductionAxes(mean.shape, x.shape);
    const reduce = (t: tf.Tensor) => tf.reshape(mean.rank === 1 ? tf.sum(t, reductionAxes) : t, mean.shape);
    const xMinusMean = tf.sub(x, mean);
    const dyTimesScale = tf.mul(dyT, scaleValue);
    const rsqrtVar = tf.rsqrt(tf.add(variance, tf.scalar(varianceEpsilon)));
    const minusHalfRCube = tf.mul(tf.mul(tf.mul(rsqrtVar, rsqrtVar), rsqrtVar), tf.scalar(-0.5));
    return {
      x: () => tf.reshape(tf.mul(dyTimesScale, rsqrtVar), x.shape),
      mean: () => reduce(tf.mul(tf.neg(rsqrtVar), dyTimesScale)),
      variance: () => reduce(tf.mul(tf.mul(minusHalfRCube, xMinusMean), dyTimesScale)),
      scale: () => reduce(tf.mul(dyT, tf.mul(xMinusMean, rsqrtVar))),
      offset: () => reduce(dyT),
    };
  },
};

/**
 * Registers fermix's faster gradients (same values as tfjs-core's). Gradients are global, not per
 * backend; call this after tfjs-layers (or tfjs-core's register_all_gradients) was imported, since
 * that import registers tfjs-core's own.
 */
export function registerFastGradients(): void {
  tf.registerGradient(fusedBatchNormGrad);
}
