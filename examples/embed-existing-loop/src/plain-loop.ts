/**
 * A plain TensorFlow.js training loop, no fermix in it: a small conv net, Adam, and
 * `optimizer.minimize` over the categorical cross-entropy of each batch.
 * with-mixaugment.ts is this file with the loss step swapped for fermix's `createTrainStep`.
 *
 *   npx tsx --conditions=fermix-source examples/embed-existing-loop/src/plain-loop.ts --steps 300
 */
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { Rng } from '@fermix/core';
import { accuracy, batches, buildModel, cliOptions, isMain, loadData, useBackend, withDefaults, type MainOptions } from './common.js';

export interface LoopResult {
  /** The training loss of each step. */
  losses: number[];
  /** Each step's loss terms by name. */
  terms: Record<string, number>[];
  /** Test accuracy after training. */
  accuracy: number;
}

export async function main(options: MainOptions = {}): Promise<LoopResult> {
  const o = withDefaults(options);
  await useBackend(o.backend);
  const data = await loadData(o);
  o.log(`backend ${tf.getBackend()}; ${data.description}`);
  const model = buildModel(o.imageSize, data.train.classes.length);
  const optimizer = tf.train.adam(1e-3);
  const train = batches(data.train, o.batchSize, new Rng(o.seed));
  const result: LoopResult = { losses: [], terms: [], accuracy: 0 };
  for (let step = 0; step < o.steps; step++) {
    const { x, y } = train.next().value!;
    const cost = optimizer.minimize(() => tf.mean(tfl.metrics.categoricalCrossentropy(y, model.apply(x, { training: true }) as tf.Tensor)) as tf.Scalar, true)!;
    const loss = cost.dataSync()[0];
    tf.dispose([x, y, cost]);
    result.losses.push(loss);
    result.terms.push({ real: loss });
    if ((step + 1) % o.logEvery === 0) o.log(`step ${step + 1}: loss ${loss.toFixed(4)}`);
  }
  result.accuracy = accuracy(model, data.test);
  o.log(`test accuracy ${(result.accuracy * 100).toFixed(1)}% after ${o.steps} steps`);
  return result;
}

if (isMain(import.meta.url)) await main(cliOptions());
