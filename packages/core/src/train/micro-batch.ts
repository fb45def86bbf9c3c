/**
 * Gradient accumulation over micro-batches.
 *
 * A large model at a large batch does not fit in memory all at once (ResNet50 at batch 32 and
 * 100x100 needs more than the wasm backend's 4 GiB heap: the activations of every layer are kept
 * for the backward pass). `accumulatedGradients` splits the batch into micro-batches of at most N
 * samples, runs forward + backward on each in turn (freeing its activations before the next) and
 * sums the gradients weighted by each micro-batch's share of the batch, n_k / B. For a loss that is
 * a mean over samples (every fermix loss term is), that sum is exactly the full batch's gradient on
 * a model without batch norm. With batch norm, each micro-batch is normalised with its own
 * statistics and the moving averages are updated once per micro-batch, as in any gradient
 * accumulation.
 */
import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import type { LossTerms, View } from '../types.js';
import { forwardViews } from './step.js';

/** Where a micro-batch lies in the batch: rows [start, end) of every view, out of `batchSize`. */
export interface MicroBatchSlice {
  start: number;
  end: number;
  batchSize: number;
  /** 0-based index of the micro-batch. */
  index: number;
}

/**
 * The loss of one micro-batch from its views' probabilities (one [n, K] tensor per view, in view
 * order) and the sliced views themselves: a scalar, or named terms that are summed. It must be a
 * mean over the micro-batch's samples (as `weightedCrossEntropy` is), and return the same term names
 * for every micro-batch.
 */
export type LossFromProbabilities = (probs: tf.Tensor2D[], views: View[], slice: MicroBatchSlice) => tf.Scalar | LossTerms;

export interface AccumulatedGradientsOptions {
  model: tfl.LayersModel;
  /** The batch's views; all must have the same number of samples. The caller keeps ownership. */
  views: View[];
  loss: LossFromProbabilities;
  /** Samples per micro-batch (the last one may be smaller); >= the batch size means one pass. */
  microBatch: number;
  /** Passed to `model.apply` (batch norm and dropout in training mode). Default true. */
  training?: boolean;
  /** The variables to differentiate; default the model's trainable weights. */
  variables?: tf.Variable[];
}

export interface AccumulatedGradients {
  /** Gradient of the batch's mean loss, by variable name (as `optimizer.applyGradients` takes it). New tensors: the caller disposes them (or a surrounding tf.tidy does). */
  grads: tf.NamedTensorMap;
  /** The batch's loss (sum of the terms), the micro-batches' losses weighted by their sizes. */
  loss: number;
  /** Each term likewise; a scalar loss is reported as the term `loss`. */
  terms: Record<string, number>;
  /** How many micro-batches were run. */
  microBatches: number;
}

/** [start, end) rows of each micro-batch. */
export function microBatchRanges(batchSize: number, microBatch: number): [number, number][] {
  const ranges: [number, number][] = [];
  for (let start = 0; start < batchSize; start += microBatch) ranges.push([start, Math.min(batchSize, start + microBatch)]);
  return ranges;
}

function sliceView(view: View, start: number, size: number): View {
  return {
    ...view,
    x: tf.slice(view.x, [start, 0, 0, 0], [size, -1, -1, -1]),
    y: tf.slice(view.y, [start, 0], [size, -1]),
    weight: typeof view.weight === 'number' ? view.weight : tf.slice(view.weight, [start], [size]),
  };
}

function viewTensors(views: View[]): tf.Tensor[] {
  return views.flatMap((v) => [v.x, v.y, ...(typeof v.weight === 'number' ? [] : [v.weight])]);
}

/** What `accumulateGradients` leaves on the backend: the gradients and the loss terms, unread. */
export interface AccumulatedGradientTensors {
  grads: tf.NamedTensorMap;
  /** The terms' names, in the order of `termValues`. */
  termNames: string[];
  /** Each term of the batch's loss (the micro-batches' terms weighted by their sizes), [terms]. A new tensor. */
  termValues: tf.Tensor1D;
  microBatches: number;
}

/**
 * The gradient of the batch's mean loss as the size-weighted sum of the micro-batches' gradients,
 * computed one micro-batch at a time so only one micro-batch's activations are alive at once.
 * Leaves no tensors behind but the returned gradients.
 */
export function accumulatedGradients(options: AccumulatedGradientsOptions): AccumulatedGradients {
  const { grads, termNames, termValues, microBatches } = accumulateGradients(options);
  const values = termValues.dataSync();
  termValues.dispose();
  const terms: Record<string, number> = {};
  let total = 0;
  termNames.forEach((name, i) => {
    terms[name] = values[i];
    total += values[i];
  });
  return { grads, loss: total, terms, microBatches };
}

/**
 * `accumulatedGradients` without reading anything back: the loss terms stay on the backend as a
 * tensor (the training step reads them with other steps', lazily). New tensors: the gradients and
 * `termValues`.
 */
export function accumulateGradients(options: AccumulatedGradientsOptions): AccumulatedGradientTensors {
  const { model, views, loss, microBatch } = options;
  const training = options.training ?? true;
  if (!Number.isInteger(microBatch) || microBatch < 1) throw new Error(`microBatch: expected a positive integer, found ${microBatch}`);
  if (views.length === 0) throw new Error('accumulatedGradients: no views');
  const batchSize = views[0].x.shape[0];
  for (const v of views) {
    if (v.x.shape[0] !== batchSize || v.y.shape[0] !== batchSize || (typeof v.weight !== 'number' && v.weight.shape[0] !== batchSize)) {
      throw new Error(`accumulatedGradients: every view needs the same number of samples to be split into micro-batches (found ${views.map((u) => u.x.shape[0]).join(', ')})`);
    }
  }
  const variables = options.variables ?? model.trainableWeights.map((w) => w.read() as tf.Variable);
  const ranges = microBatchRanges(batchSize, microBatch);

  let grads: tf.NamedTensorMap = {};
  let termNames: string[] | undefined;
  let termSum: tf.Tensor1D | undefined;
  ranges.forEach(([start, end], index) => {
    const share = (end - start) / batchSize;
    const sliced = ranges.length === 1 ? views : views.map((v) => sliceView(v, start, end - start));
    let termValues: tf.Tensor1D | undefined;
    let names: string[] = [];
    try {
      const result = tf.variableGrads(() => {
        const probs = forwardViews(model, sliced, training);
        const out = loss(probs, sliced, { start, end, batchSize, index });
        const terms: LossTerms = out instanceof tf.Tensor ? { loss: out } : out;
        names = Object.keys(terms);
        if (names.length === 0) throw new Error('accumulatedGradients: the loss function returned no terms');
        const values = tf.stack(names.map((n) => terms[n])) as tf.Tensor1D;
        // Weighting the micro-batch's loss by its share weights its gradient the same way.
        termValues = tf.keep(share === 1 ? values : (tf.mul(values, share) as tf.Tensor1D));
        return tf.sum(termValues) as tf.Scalar;
      }, variables);
      result.value.dispose();
      // Checked here rather than in the loss closure: tfjs leaks the tensors it saved for the backward
      // pass when the forward function throws.
      if (termNames && (names.length !== termNames.length || names.some((n, i) => n !== termNames![i]))) {
        tf.dispose(result.grads);
        throw new Error(`accumulatedGradients: the loss terms changed between micro-batches (${termNames.join(', ')} then ${names.join(', ')})`);
      }
      termNames = names;
      const next: tf.NamedTensorMap = { ...grads };
      for (const [name, g] of Object.entries(result.grads)) {
        const previous = grads[name];
        if (previous) {
          next[name] = tf.add(previous, g);
          previous.dispose();
          g.dispose();
        } else {
          next[name] = g;
        }
      }
      grads = next;
      const previousTerms = termSum;
      termSum = previousTerms ? (tf.add(previousTerms, termValues!) as tf.Tensor1D) : termValues!;
      if (previousTerms) {
        previousTerms.dispose();
        termValues!.dispose();
      }
    } catch (err) {
      tf.dispose(grads);
      tf.dispose([termSum, termValues].filter((t): t is tf.Tensor1D => t !== undefined && !t.isDisposed));
      throw err;
    } finally {
      if (sliced !== views) tf.dispose(viewTensors(sliced));
    }
  });

  return { grads, termNames: termNames!, termValues: termSum!, microBatches: ranges.length };
}
