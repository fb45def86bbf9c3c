import * as tf from '@tensorflow/tfjs-core';

/**
 * Sum of `t` over `axes` (the axes where a [C] or [1,...,1,C] tensor broadcasts against `t`). On the
 * wasm backend, when every axis but the last is reduced, this is the mean times the row count: the
 * mean is fermix's wasm Mean kernel (XNNPACK average pooling, shared out over the thread pool),
 * while the wasm backend's Sum first transposes the channels in front (a full copy) and reduces on
 * one thread: 3.2 ms for a [32, 48, 48, 32] activation against 0.35 ms for one pooling.
 * Same sum up to float rounding (the pooling adds in a different order).
 */
export function sumOverAxes(t: tf.Tensor, axes: number[]): tf.Tensor {
  if (axes.length === 0) return t;
  const rank = t.rank;
  const leading = rank >= 2 && axes.length === rank - 1 && axes.every((a, i) => a === i);
  if (!leading || tf.getBackend() !== 'wasm' || t.dtype !== 'float32') return tf.sum(t, axes);
  const channels = t.shape[rank - 1];
  const rows = t.size / channels;
  if (rows <= 1) return tf.reshape(t, [channels]);
  return tf.tidy(() => tf.mul(tf.mean(t, axes), tf.scalar(rows)));
}

/**
 * The gradient of FusedBatchNorm (batch norm), the same maths as tfjs-core 4.22's with fewer passes
 * over the activation. With s = scale / sqrt(var + eps), S1 = sum(dy) and S2 = sum(dy * (x - mean))
 * over the reduced axes:
 *
 *   dx = dy * s,  dmean = -S1 * s,  dvariance = -0.5 * S2 * scale / sqrt(var + eps)^3,
 *   dscale = S2 / sqrt(var + eps),  doffset = S1
 *
 * tfjs-core computes each of these from its own full-size products (8 elementwise passes and 4
 * reductions per layer; it also tiles 1/sqrt(var + eps) to the activation's shape, and the wasm
 * backend's Tile took 30 % of a small CNN's step); this takes 3 elementwise passes and 2 reductions,
 * each reduction one pass on wasm (`sumOverAxes`).
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
    const reduce = (t: tf.Tensor) => tf.reshape(sumOverAxes(t, reductionAxes), mean.shape);
    const rsqrtVar = tf.rsqrt(tf.add(variance, tf.scalar(varianceEpsilon)));
    const scaleRsqrt = tf.mul(scaleValue, rsqrtVar);
    // The two reductions every parameter's gradient needs; x - mean and its product with dy are freed at once.
    const [s1, s2] = tf.tidy(() => [reduce(dyT), reduce(tf.mul(dyT, tf.sub(x, mean)))]);
    return {
      x: () => tf.reshape(tf.mul(dyT, scaleRsqrt), x.shape),
      mean: () => tf.reshape(tf.neg(tf.mul(s1, scaleRsqrt)), mean.shape),
      variance: () => tf.reshape(tf.mul(tf.mul(s2, tf.mul(scaleRsqrt, tf.mul(rsqrtVar, rsqrtVar))), tf.scalar(-0.5)), variance.shape),
      scale: () => tf.reshape(tf.mul(s2, rsqrtVar), mean.shape),
      offset: () => tf.reshape(s1, mean.shape),
    };
  },
};

/**
 * dy, reshaped to keep the reduced axes as 1s, broadcast back to `shape` by one multiply with a
 * backend-side fill of ones (the Fill kernel: on tfjs-node a native op on the device, nothing built
 * on the host), optionally divided by `divisor` first (on the small [.., 1, .., C] tensor).
 */
function broadcastBack(dy: tf.Tensor, shape: number[], axes: number[], divisor = 1): tf.Tensor {
  const expandedDyShape = shape.slice();
  for (const a of axes) expandedDyShape[a] = 1;
  const expanded = tf.reshape(dy, expandedDyShape);
  const scaled = divisor === 1 ? expanded : tf.div(expanded, tf.scalar(divisor));
  return tf.mul(scaled, tf.fill(shape, 1, 'float32'));
}

/** The gradient of a reduction over `axis`: dy broadcast back (divided by the count for a mean). */
function reductionGrad(kernelName: 'Mean' | 'Sum'): tf.GradConfig {
  return {
    kernelName,
    inputsToSave: ['x'],
    gradFunc: (dy, saved, attrs) => {
      const [x] = saved as tf.Tensor[];
      const { axis } = attrs as unknown as { axis: number | number[] };
      const axes = tf.util.parseAxisParam(axis, x.shape);
      const divisor = kernelName === 'Mean' ? axes.reduce((n, a) => n * x.shape[a], 1) : 1;
      return { x: () => broadcastBack(dy as tf.Tensor, x.shape, axes, divisor) };
    },
  };
}

/**
 * The gradient of Mean: dy / n broadcast back over the reduced axes, as tfjs-core 4.22's (same
 * values), without its `ones(x.shape)`: a JS-side Float32Array of the activation's size (6 ms for
 * [32, 48, 48, 32], invisible to tf.profile), which tfjs-node then copies to the device on every
 * step (batch norm takes two Means per layer), and its two full passes (multiply by it, then
 * divide): here dy / n is computed on the small tensor and broadcast by one multiply.
 */
export const meanGrad: tf.GradConfig = reductionGrad('Mean');

/** The gradient of Sum: dy broadcast back over the reduced axes, as tfjs-core 4.22's, without its host-side `ones(x.shape)`. */
export const sumGrad: tf.GradConfig = reductionGrad('Sum');

/**
 * The gradient of Sub (a - b): tfjs-core 4.22's, with the reduction of a broadcast operand (batch
 * norm's `x - mean` in tf.moments) done by `sumOverAxes`.
 */
export const subGrad: tf.GradConfig = {
  kernelName: 'Sub',
  inputsToSave: ['a', 'b'],
  gradFunc: (dy, saved) => {
    const [a, b] = saved as tf.Tensor[];
    const outShape = tf.backend_util.assertAndGetBroadcastShape(a.shape, b.shape);
    const reduceTo = (t: tf.Tensor) => sumOverAxes(dy as tf.Tensor, tf.backend_util.getReductionAxes(t.shape, outShape));
    return {
      a: () => tf.reshape(reduceTo(a), a.shape),
      b: () => tf.reshape(tf.neg(reduceTo(b)), b.shape),
    };
  },
};

/**
 * Registers fermix's gradients (same values as tfjs-core's up to float rounding) for every backend:
 * fewer passes everywhere, and no activation-sized array built on the host and uploaded (tfjs-core's
 * Mean and Sum gradients build one with `ones()`). Gradients are global, not per backend, and an
 * import of tfjs-core (tfjs-layers, or tfjs-node's own copy) registers tfjs-core's again: call this
 * after those imports; `selectBackend` and `initWasmBackend` do.
 */
export function registerFastGradients(): void {
  tf.registerGradient(fusedBatchNormGrad);
  tf.registerGradient(meanGrad);
  tf.registerGradient(sumGrad);
  tf.registerGradient(subGrad);
}
