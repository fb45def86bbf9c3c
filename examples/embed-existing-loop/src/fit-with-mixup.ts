/**
 * Mixup without fermix's trainer or step: a `tf.data` pipeline for `model.fitDataset`, with
 * `mixupDataset` from @fermix/plugin-mixup as one more transform after `.batch()`. Every batch is
 * replaced by its mixup, x~ = lam x + (1 - lam) x[perm] and y~ likewise, lam ~ Beta(alpha, alpha)
 * drawn per batch from a seeded generator (Zhang et al. 2017).
 *
 *   npx tsx --conditions=fermix-source examples/embed-existing-loop/src/fit-with-mixup.ts --steps 300
 */
import * as tf from '@tensorflow/tfjs-core';
import * as tfd from '@tensorflow/tfjs-data';
import type { ImageSet } from '@fermix/core';
import { mixupDataset } from '@fermix/plugin-mixup';
import { accuracy, buildModel, cliOptions, isMain, loadData, useBackend, withDefaults, type MainOptions } from './common.js';

export interface FitResult {
  /** The training loss of each batch, as model.fitDataset reports it. */
  losses: number[];
  /** The lam each batch drew (tf.data may prefetch a few batches more than were trained on). */
  lams: number[];
  /** Test accuracy after training. */
  accuracy: number;
}

/** One `{ xs: [S, S, 3] in [0, 1], ys: one-hot [K] }` per image, the way a tf.data pipeline starts. */
function* samples(set: ImageSet): Generator<{ xs: tf.Tensor3D; ys: tf.Tensor1D }> {
  const pixels = set.size * set.size * 3;
  for (let i = 0; i < set.count; i++) {
    const xs = tf.tensor3d(Float32Array.from(set.images.subarray(i * pixels, (i + 1) * pixels), (v) => v / 255), [set.size, set.size, 3]);
    const ys = new Float32Array(set.classes.length);
    ys[set.labels[i]] = 1;
    yield { xs, ys: tf.tensor1d(ys) };
  }
}

export async function main(options: MainOptions = {}): Promise<FitResult> {
  const o = withDefaults(options);
  await useBackend(o.backend);
  const data = await loadData(o);
  o.log(`backend ${tf.getBackend()}; ${data.description}`);
  const model = buildModel(o.imageSize, data.train.classes.length);
  model.compile({ optimizer: tf.train.adam(1e-3), loss: 'categoricalCrossentropy', metrics: ['accuracy'] });

  const result: FitResult = { losses: [], lams: [], accuracy: 0 };
  const batched = tfd
    .generator(() => samples(data.train))
    .shuffle(data.train.count, String(o.seed))
    .batch(o.batchSize, false)
    .repeat();
  const train = mixupDataset(batched, { alpha: 0.2, seed: o.seed, onDraw: ({ lam }) => result.lams.push(lam as number) });

  await model.fitDataset(train, {
    epochs: 1,
    batchesPerEpoch: o.steps,
    verbose: 0,
    callbacks: {
      onBatchEnd: async (batch, logs) => {
        result.losses.push(logs!.loss);
        if ((batch + 1) % o.logEvery === 0) o.log(`step ${batch + 1}: loss ${logs!.loss.toFixed(4)} (lam ${result.lams[batch]?.toFixed(3)})`);
      },
    },
  });
  result.accuracy = accuracy(model, data.test);
  o.log(`test accuracy ${(result.accuracy * 100).toFixed(1)}% after ${o.steps} steps`);
  return result;
}

if (isMain(import.meta.url)) await main(cliOptions());
