import type * as tf from '@tensorflow/tfjs-core';
import { Rng } from '@fermix/core';
import { mixBatch } from './mix.js';
import { drawMix, type LambdaMode, type MixRng, type Pairing } from './sampling.js';
import { drawnValues, parseMixupOptions } from './plugin.js';

/**
 * A batch element as `model.fitDataset` reads it: images [B, H, W, C] and one-hot (or soft) labels
 * [B, K]. A type alias, not an interface, so it is a `tf.TensorContainer` as tf.data requires.
 */
export type XYBatch = {
  xs: tf.Tensor;
  ys: tf.Tensor;
};

/**
 * The one thing `mixupDataset` needs of a dataset: `map`. A batched `tf.data.Dataset<{ xs, ys }>` fits,
 * so this package does not depend on `@tensorflow/tfjs-data`.
 */
export interface MappableDataset {
  // `any`: tf.data types a batched element as a plain TensorContainer; each batch is checked at run time.
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  map(transform: (batch: any) => any): unknown;
}

export interface MixupDatasetOptions {
  alpha?: number;
  lambda?: LambdaMode;
  pairing?: Pairing;
  /** Seeds the generator of lam and the pairings (default 0); ignored when `rng` is given. */
  seed?: number;
  rng?: MixRng;
  /** Called with what each batch drew, e.g. to log it: `onDraw({ lam, perm })`. */
  onDraw?: (drawn: { lam: number | number[]; perm: number[] }) => void;
}

/**
 * Maps a batched dataset of `{ xs, ys }` to its mixup (a dataset of the same type), for `model.fitDataset`:
 *
 *   const train = mixupDataset(tf.data.zip({ xs, ys }).shuffle(1000).batch(32), { alpha: 0.2, seed: 1 });
 *   await model.fitDataset(train, { epochs: 10 });
 *
 * Every batch draws a new lam and pairing from one seeded generator, so each epoch mixes differently
 * and a run with the same seed repeats itself. tf.data disposes the input batch after `map`.
 */
export function mixupDataset<D extends MappableDataset>(dataset: D, options: MixupDatasetOptions = {}): D {
  const { seed, rng: given, onDraw, ...rest } = options;
  const opts = parseMixupOptions(rest);
  const rng = given ?? new Rng(seed ?? 0);
  // The mapped dataset yields the same element type (same keys, shapes and dtypes), hence `D`.
  return dataset.map((batch: XYBatch): XYBatch => {
    if (batch?.xs?.rank !== 4 || batch?.ys?.rank !== 2) {
      throw new Error('mixupDataset: each element must be a batch { xs: [B, H, W, C], ys: [B, K] }: apply it after .batch()');
    }
    const draw = drawMix(batch.xs.shape[0], opts, rng);
    onDraw?.(drawnValues(draw));
    const mixed = mixBatch(batch.xs as tf.Tensor4D, batch.ys as tf.Tensor2D, draw.lam, draw.perm);
    return { ...batch, xs: mixed.x, ys: mixed.y };
  }) as D;
}
