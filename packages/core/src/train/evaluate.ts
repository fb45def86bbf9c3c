import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import type { ImageSet } from '../data/source.js';
import type { SplitData } from '../data/split.js';
import { computeMetrics, type ClassificationMetrics } from '../metrics.js';
import type { Rng } from '../rng.js';
import { batchRanges, gatherBatch, identityOrder, type HostBatch } from './batches.js';

/** Test-time augmentations: `flip` averages the probabilities of an image and its mirror. */
export type TtaName = 'flip';

export interface PredictOptions {
  /** Test-time augmentations; none by default. */
  tta?: readonly TtaName[];
}

/**
 * Class probabilities of images [B, H, W, C] in inference mode; with `tta: ['flip']` the mean of
 * the probabilities of each image and of its left-right mirror. A new tensor, yours to dispose.
 */
export function predictProbabilities(model: tfl.LayersModel, x: tf.Tensor4D, options: PredictOptions = {}): tf.Tensor2D {
  return tf.tidy(() => {
    const probs = model.predict(x) as tf.Tensor2D;
    if (!options.tta?.includes('flip')) return probs;
    const mirrored = model.predict(tf.reverse(x, 2)) as tf.Tensor2D;
    return tf.div(tf.add(probs, mirrored), 2) as tf.Tensor2D;
  });
}

/** Class probabilities of a host batch, row-major, in inference mode. */
function predictBatch(model: tfl.LayersModel, host: HostBatch, size: number, options: PredictOptions): Float32Array {
  const probs = tf.tidy(() => predictProbabilities(model, tf.tensor4d(host.x, [host.count, size, size, 3]), options));
  const values = probs.dataSync() as Float32Array;
  probs.dispose();
  return values;
}

/** Class probabilities of every sample of a set, N*K row-major, in inference mode. */
export function predictSet(model: tfl.LayersModel, set: ImageSet, batchSize: number, options: PredictOptions = {}): Float32Array {
  const k = (model.outputs[0].shape as number[])[1];
  const out = new Float32Array(set.count * k);
  const order = identityOrder(set.count);
  for (const [start, end] of evaluationRanges(set.count, batchSize)) out.set(predictBatch(model, gatherBatch(set, order, start, end), set.size, options), start * k);
  return out;
}

/** Evaluates a model on a set: every metric of `computeMetrics`, with the set's class names. */
export function evaluateModel(model: tfl.LayersModel, set: ImageSet, batchSize: number, options: PredictOptions = {}): ClassificationMetrics {
  return computeMetrics(predictSet(model, set, batchSize, options), set.labels, set.classes);
}

/** Consecutive ranges of `batchSize` covering 0..count-1, the last one shorter (evaluation keeps every sample). */
function evaluationRanges(count: number, batchSize: number): [number, number][] {
  const ranges: [number, number][] = [];
  for (let start = 0; start < count; start += batchSize) ranges.push([start, Math.min(count, start + batchSize)]);
  return ranges;
}

/**
 * `evaluateModel` for a split in memory or streamed (the same batches, so the same metrics). The
 * metrics cover the samples read: a streamed file found unreadable is left out, as it is in memory.
 */
export async function evaluateSplit(model: tfl.LayersModel, data: SplitData, batchSize: number, options: PredictOptions = {}): Promise<ClassificationMetrics> {
  const k = (model.outputs[0].shape as number[])[1];
  const probs = new Float32Array(data.count * k);
  const labels = new Int32Array(data.count);
  let n = 0;
  for await (const host of data.batches(identityOrder(data.count), evaluationRanges(data.count, batchSize))) {
    probs.set(predictBatch(model, host, data.size, options), n * k);
    labels.set(host.labels, n);
    n += host.count;
  }
  return computeMetrics(probs.subarray(0, n * k), labels.subarray(0, n), data.classes);
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
  const pass = batchNormPass(model, maxBatches);
  if (!pass) return 0;
  const order = rng ? rng.permutation(set.count) : identityOrder(set.count);
  const ranges = batchRanges(set.count, batchSize).slice(0, maxBatches);
  try {
    for (const [start, end] of ranges) pass.feed(gatherBatch(set, order, start, end), set.size);
  } finally {
    pass.end();
  }
  return pass.batches;
}

/** `recalibrateBatchNorm` for a split in memory or streamed: the same batches, so the same statistics. */
export async function recalibrateBatchNormSplit(model: tfl.LayersModel, data: SplitData, batchSize: number, maxBatches: number, rng?: Rng): Promise<number> {
  const pass = batchNormPass(model, maxBatches);
  if (!pass) return 0;
  const order = rng ? rng.permutation(data.count) : identityOrder(data.count);
  try {
    for await (const host of data.batches(order, batchRanges(data.count, batchSize).slice(0, maxBatches))) pass.feed(host, data.size);
  } finally {
    pass.end();
  }
  return pass.batches;
}

/**
 * The precise-BN pass: each fed batch updates every batch-norm layer's statistics with momentum
 * 1 - 1/(k+1), which makes them the plain mean over the k+1 batches so far; dropout is off during
 * the pass, as at inference. `end` restores the momenta and dropout rates. Null when there is
 * nothing to do (no batch norm, or no batches asked for).
 */
function batchNormPass(model: tfl.LayersModel, maxBatches: number): { feed(host: HostBatch, size: number): void; end(): void; readonly batches: number } | null {
  const layers = layersOf<{ momentum: number }>(model, 'BatchNormalization');
  if (layers.length === 0 || maxBatches <= 0) return null;
  const dropouts = layersOf<{ rate: number }>(model, 'Dropout');
  const rates = dropouts.map((l) => l.rate);
  const saved = layers.map((l) => l.momentum);
  for (const l of dropouts) l.rate = 0;
  let k = 0;
  return {
    feed(host, size) {
      for (const l of layers) l.momentum = 1 - 1 / (k + 1);
      tf.tidy(() => {
        model.apply(tf.tensor4d(host.x, [host.count, size, size, 3]), { training: true });
      });
      k++;
    },
    end() {
      layers.forEach((l, i) => (l.momentum = saved[i]));
      dropouts.forEach((l, i) => (l.rate = rates[i]));
    },
    get batches() {
      return k;
    },
  };
}
