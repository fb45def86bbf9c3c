import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import type { ImageSet } from '../data/source.js';
import { computeMetrics, type ClassificationMetrics } from '../metrics.js';
import type { Rng } from '../rng.js';
import { batchRanges, gatherBatch, identityOrder } from './batches.js';

/** Class probabilities of every sample of a set, N*K row-major, in inference mode. */
export function predictSet(model: tfl.LayersModel, set: ImageSet, batchSize: number): Float32Array {
  const k = (model.outputs[0].shape as number[])[1];
  const out = new Float32Array(set.count * k);
  const order = identityOrder(set.count);
  for (let start = 0; start < set.count; start += batchSize) {
    const end = Math.min(set.count, start + batchSize);
    const host = gatherBatch(set, order, start, end);
    const probs = tf.tidy(() => model.predict(tf.tensor4d(host.x, [host.count, set.size, set.size, 3])) as tf.Tensor);
    out.set(probs.dataSync(), start * k);
    probs.dispose();
  }
  return out;
}

/** Evaluates a model on a set: every metric of `computeMetrics`, with the set's class names. */
export function evaluateModel(model: tfl.LayersModel, set: ImageSet, batchSize: number): ClassificationMetrics {
  return computeMetrics(predictSet(model, set, batchSize), set.labels, set.classes);
}

/** Layers of a class, nested models included. */
function layersOf<T>(model: tfl.LayersModel, className: string): (tfl.layers.Layer & T)[] {
  const found: (tfl.layers.Layer & T)[] = [];
  const visit = (layer: tfl.layers.Layer) => {
    if (layer.getClassName() === className) found.push(layer as tfl.layers.Layer & T);
    const inner = (layer as unknown as { layers?: tfl.layers.Layer[] }).layers;
    if (Array.isArray(inner)) inner.forEach(visit);
  };
  model.layers.forEach(visit);
  return found;
}

/**
 * Recomputes every batch-norm layer's moving mean and variance as the average of the batch
 * statistics over `maxBatches` training batches (a "precise BN" pass). The moving averages lag far
 * behind the weights on small data, which makes inference-mode metrics look much worse than the
 * model is; after this pass they describe the current weights. Weights other than the statistics
 * are untouched; dropout is switched off during the pass, as at inference. Returns the number of batches used (0 when the model has no batch norm).
 */
export function recalibrateBatchNorm(model: tfl.LayersModel, set: ImageSet, batchSize: number, maxBatches: number, rng?: Rng): number {
  const layers = layersOf<{ momentum: number }>(model, 'BatchNormalization');
  if (layers.length === 0 || maxBatches <= 0) return 0;
  // Statistics are for inference, where dropout is off: switch it off for the pass too.
  const dropouts = layersOf<{ rate: number }>(model, 'Dropout');
  const rates = dropouts.map((l) => l.rate);
  const order = rng ? rng.permutation(set.count) : identityOrder(set.count);
  const ranges = batchRanges(set.count, batchSize).slice(0, maxBatches);
  const saved = layers.map((l) => l.momentum);
  try {
    for (const l of dropouts) l.rate = 0;
    ranges.forEach(([start, end], k) => {
      // Momentum 1 - 1/(k+1) turns the exponential average into the plain mean of the k+1 batches.
      for (const l of layers) l.momentum = 1 - 1 / (k + 1);
      const host = gatherBatch(set, order, start, end);
      tf.tidy(() => {
        model.apply(tf.tensor4d(host.x, [host.count, set.size, set.size, 3]), { training: true });
      });
    });
  } finally {
    layers.forEach((l, i) => (l.momentum = saved[i]));
    dropouts.forEach((l, i) => (l.rate = rates[i]));
  }
  return ranges.length;
}
