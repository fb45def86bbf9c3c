/**
 * plain-loop.ts with MixAugment: the same model, data, optimizer and loop, but each step is fermix's
 * `createTrainStep` with the mixaugment plugin, so the loss is CCE(y~, p(x~)) + CCE(y_i, p(x_i)) +
 * CCE(y_j, p(x_j)) over each batch and its mixup (Psaroudakis and Kollias 2022).
 *
 *   npx tsx --conditions=fermix-source examples/embed-existing-loop/src/with-mixaugment.ts --steps 300
 */
import * as tf from '@tensorflow/tfjs-core';
import { createTrainStep, Rng } from '@fermix/core';
import mixaugment from '@fermix/plugin-mixaugment';
import { accuracy, batches, buildModel, cliOptions, isMain, loadData, useBackend, withDefaults, type MainOptions } from './common.js';

export interface LoopResult {
  /** The training loss of each step. */
  losses: number[];
  /** Each step's loss terms by name. */
  terms: Record<string, number>[];
  /** Test accuracy after training. */
  accuracy: number;
  /** The mixing coefficient each step drew. */
  lams: number[];
}

export async function main(options: MainOptions = {}): Promise<LoopResult> {
  const o = withDefaults(options);
  await useBackend(o.backend);
  const data = await loadData(o);
  o.log(`backend ${tf.getBackend()}; ${data.description}`);
  const model = buildModel(o.imageSize, data.train.classes.length);
  const optimizer = tf.train.adam(1e-3);
  const train = batches(data.train, o.batchSize, new Rng(o.seed));
  const trainStep = createTrainStep({ model, optimizer, plugins: [mixaugment({ alpha: 0.2 })], seed: o.seed });
  const result: LoopResult = { losses: [], terms: [], accuracy: 0, lams: [] };
  for (let step = 0; step < o.steps; step++) {
    const { x, y } = train.next().value!;
    const { loss, terms, drawn } = trainStep({ x, y });
    tf.dispose([x, y]);
    result.losses.push(loss);
    result.terms.push(terms);
    result.lams.push(drawn.mixaugment.lam as number);
    if ((step + 1) % o.logEvery === 0) o.log(`step ${step + 1}: loss ${loss.toFixed(4)} (real ${terms.real.toFixed(4)}, virtual ${terms.virtual.toFixed(4)}, lam ${result.lams.at(-1)!.toFixed(3)})`);
  }
  result.accuracy = accuracy(model, data.test);
  o.log(`test accuracy ${(result.accuracy * 100).toFixed(1)}% after ${o.steps} steps`);
  return result;
}

if (isMain(import.meta.url)) await main(cliOptions());
