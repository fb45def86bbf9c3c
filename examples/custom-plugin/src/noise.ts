import * as tf from '@tensorflow/tfjs-core';
import type { Rng } from '@fermix/core';

/** What the draw needs of a generator: fermix's `Rng`, or any object with these methods. */
export type NoiseRng = Pick<Rng, 'uniform' | 'int'>;

/** The largest seed handed to `tf.randomNormal` (a positive 31-bit integer). */
export const MAX_NOISE_SEED = 0x7fffffff;

/** What one batch draws: which samples get noise, and the seed of the noise field. */
export interface NoiseDraw {
  /** One entry per sample: true = noise is added. */
  mask: boolean[];
  /** Seeds `tf.randomNormal`, so the pixels' noise is a function of the run's generator. */
  seed: number;
}

/**
 * Draws from `rng`, in this order: one uniform per sample (noised when below `p`), then the seed of
 * the noise field. Always n + 1 draws, whatever `p` is.
 */
export function drawNoise(n: number, p: number, rng: NoiseRng): NoiseDraw {
  if (!Number.isInteger(n) || n < 1) throw new RangeError(`noise: n must be a positive integer, got ${n}`);
  if (!(p >= 0 && p <= 1)) throw new RangeError(`noise: p must be in [0, 1], got ${p}`);
  const mask = Array.from({ length: n }, () => rng.uniform() < p);
  return { mask, seed: 1 + rng.int(MAX_NOISE_SEED) };
}

/**
 * Adds Gaussian pixel noise to the samples of `mask`: x' = clip(x + sigma * z, 0, 1), z ~ N(0, 1)
 * per pixel and channel, drawn by `tf.randomNormal` from `seed` (the same seed gives the same
 * noise); the other samples are copied unchanged. Pure: returns a new tensor, yours to dispose.
 */
export function addNoise(x: tf.Tensor4D, sigma: number, mask: ArrayLike<boolean>, seed: number): tf.Tensor4D {
  if (x.rank !== 4) throw new Error(`noise: expected x of rank 4 [B, H, W, C], got shape ${JSON.stringify(x.shape)}`);
  if (!(sigma >= 0) || !Number.isFinite(sigma)) throw new RangeError(`noise: sigma must be a finite number >= 0, got ${sigma}`);
  const n = x.shape[0];
  if (mask.length !== n) throw new Error(`noise: the mask has ${mask.length} entries for a batch of ${n}`);
  return tf.tidy(() => {
    const scale = tf.tensor4d(Float32Array.from(mask, (m) => (m ? sigma : 0)), [n, 1, 1, 1]);
    const z = tf.randomNormal(x.shape, 0, 1, 'float32', seed);
    return tf.clipByValue(tf.add(x, tf.mul(scale, z)), 0, 1) as tf.Tensor4D;
  });
}
