import * as tf from '@tensorflow/tfjs-core';

/**
 * An exponential moving average of weights, as timm's ModelEmaV2: after each optimiser step
 * `shadow = decay * shadow + (1 - decay) * weight`, starting from the weights it was made with.
 * The Trainer averages the trainable weights; batch-norm statistics are recalibrated for the
 * averaged weights before they are evaluated, instead of being averaged.
 */
export interface WeightEma {
  readonly decay: number;
  /** The averages, one per variable, in the order given. */
  readonly shadows: readonly tf.Variable[];
  /** One update from the variables' current values. */
  update(): void;
  /** Sets the averages (from a checkpoint): one tensor per variable, same shapes. */
  setValues(values: readonly tf.Tensor[]): void;
  /** Puts the averages into the variables; the returned function puts the trained values back. */
  swapIn(): () => void;
  dispose(): void;
}

/** One EMA update of a value: decay * shadow + (1 - decay) * value (a new tensor). */
export function emaStep<T extends tf.Tensor>(shadow: T, value: T, decay: number): T {
  return tf.tidy(() => tf.add(tf.mul(shadow, decay), tf.mul(value, 1 - decay)) as T);
}

export function createWeightEma(variables: readonly tf.Variable[], decay: number): WeightEma {
  if (!(decay >= 0 && decay < 1)) throw new RangeError(`ema: decay must be in [0, 1), got ${decay}`);
  const shadows = variables.map((v) => tf.tidy(() => tf.variable(v.clone() as tf.Tensor, false)));
  return {
    decay,
    shadows,
    update() {
      tf.tidy(() => shadows.forEach((s, i) => s.assign(emaStep(s as tf.Tensor, variables[i] as tf.Tensor, decay))));
    },
    setValues(values) {
      if (values.length !== shadows.length) throw new Error(`ema: ${values.length} values for ${shadows.length} weights`);
      values.forEach((v, i) => {
        if (v.shape.join(',') !== shadows[i].shape.join(',')) {
          throw new Error(`ema: value ${i} has shape [${v.shape}] but the weight ${variables[i].name} has [${shadows[i].shape}]`);
        }
      });
      values.forEach((v, i) => shadows[i].assign(v));
    },
    swapIn() {
      const trained = variables.map((v) => v.clone());
      variables.forEach((v, i) => v.assign(shadows[i]));
      return () => {
        variables.forEach((v, i) => v.assign(trained[i]));
        tf.dispose(trained);
      };
    },
    dispose: () => tf.dispose(shadows as tf.Variable[]),
  };
}
