import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { beforeAll, describe, expect, it } from 'vitest';
import { Rng } from '../src/rng.js';
import { weightedCrossEntropy } from '../src/train/loss.js';
import { accumulatedGradients, microBatchRanges, type LossFromProbabilities } from '../src/train/micro-batch.js';
import { forwardViews } from '../src/train/step.js';
import type { LossTerms, View } from '../src/types.js';
import { useCpu } from './helpers.js';

beforeAll(useCpu);

/** conv + ReLU + pooling + dense softmax: no batch norm, so micro-batches change nothing. */
function model(): tfl.LayersModel {
  const input = tfl.input({ shape: [6, 6, 3] });
  let x = tfl.layers.conv2d({ filters: 4, kernelSize: 3, activation: 'relu' }).apply(input) as tfl.SymbolicTensor;
  x = tfl.layers.globalAveragePooling2d({}).apply(x) as tfl.SymbolicTensor;
  const out = tfl.layers.dense({ units: 3, activation: 'softmax' }).apply(x) as tfl.SymbolicTensor;
  return tfl.model({ inputs: input, outputs: out });
}

function views(n: number, seed = 1): View[] {
  const rng = new Rng(seed);
  const image = () => tf.tensor4d(Float32Array.from({ length: n * 6 * 6 * 3 }, () => rng.uniform()), [n, 6, 6, 3]);
  const labels = (shift: number) => tf.cast(tf.oneHot(tf.tensor1d(Array.from({ length: n }, (_, i) => (i + shift) % 3), 'int32'), 3), 'float32') as tf.Tensor2D;
  return [
    { x: image(), y: labels(0), weight: 0.7 },
    { x: image(), y: labels(1), weight: tf.tensor1d(Array.from({ length: n }, () => rng.uniform())), group: 'second' },
  ];
}

const loss: LossFromProbabilities = (probs, vs) => ({
  a: weightedCrossEntropy(vs[0].y, probs[0], vs[0].weight),
  b: weightedCrossEntropy(vs[1].y, probs[1], vs[1].weight),
});

function disposeViews(vs: View[]) {
  tf.dispose(vs.flatMap((v) => [v.x, v.y, ...(typeof v.weight === 'number' ? [] : [v.weight])]));
}

/** The full batch's gradient and terms, the plain way. */
function fullBatch(m: tfl.LayersModel, vs: View[]) {
  const variables = m.trainableWeights.map((w) => w.read() as tf.Variable);
  let terms: number[] = [];
  const { value, grads } = tf.variableGrads(() => {
    const probs = forwardViews(m, vs, true);
    const t = loss(probs, vs, { start: 0, end: vs[0].x.shape[0], batchSize: vs[0].x.shape[0], index: 0 }) as Record<string, tf.Scalar>;
    terms = [t.a.dataSync()[0], t.b.dataSync()[0]];
    return tf.add(t.a, t.b) as tf.Scalar;
  }, variables);
  const total = value.dataSync()[0];
  value.dispose();
  return { grads, total, terms };
}

function maxAbsDiff(a: tf.NamedTensorMap, b: tf.NamedTensorMap): number {
  expect(Object.keys(a).sort()).toEqual(Object.keys(b).sort());
  let max = 0;
  for (const name of Object.keys(a)) {
    const x = a[name].dataSync();
    const y = b[name].dataSync();
    for (let i = 0; i < x.length; i++) max = Math.max(max, Math.abs(x[i] - y[i]));
  }
  return max;
}

describe('accumulatedGradients', () => {
  it('splits a batch into micro-batches of at most N rows', () => {
    expect(microBatchRanges(8, 3)).toEqual([
      [0, 3],
      [3, 6],
      [6, 8],
    ]);
    expect(microBatchRanges(4, 4)).toEqual([[0, 4]]);
    expect(microBatchRanges(4, 10)).toEqual([[0, 4]]);
  });

  it.each([1, 3, 4, 8, 32])('equals the full-batch gradient and loss on a model without batch norm (micro-batch %i of 8)', (n) => {
    const m = model();
    const vs = views(8);
    const full = fullBatch(m, vs);
    const before = tf.memory().numTensors;
    const acc = accumulatedGradients({ model: m, views: vs, loss, microBatch: n });
    // Only the returned gradients are new tensors.
    expect(tf.memory().numTensors - before).toBe(Object.keys(acc.grads).length);
    expect(acc.microBatches).toBe(Math.ceil(8 / n));
    expect(maxAbsDiff(acc.grads, full.grads)).toBeLessThan(1e-5);
    expect(acc.loss).toBeCloseTo(full.total, 5);
    expect(acc.terms.a).toBeCloseTo(full.terms[0], 5);
    expect(acc.terms.b).toBeCloseTo(full.terms[1], 5);
    tf.dispose(acc.grads);
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose(full.grads);
    disposeViews(vs);
    m.dispose();
  });

  it('plugs into an optimizer step inside tf.tidy without leaking (a scalar loss is the term `loss`)', () => {
    const m = model();
    const vs = views(6, 2);
    const optimizer = tf.train.sgd(0.1);
    const scalarLoss: LossFromProbabilities = (probs, v) => weightedCrossEntropy(v[0].y, probs[0], v[0].weight);
    // The first step creates nothing persistent for SGD; count after it.
    let result = tf.tidy(() => {
      const r = accumulatedGradients({ model: m, views: vs, loss: scalarLoss, microBatch: 4 });
      optimizer.applyGradients(r.grads);
      return { loss: r.loss, terms: r.terms };
    });
    const before = tf.memory().numTensors;
    result = tf.tidy(() => {
      const r = accumulatedGradients({ model: m, views: vs, loss: scalarLoss, microBatch: 4 });
      optimizer.applyGradients(r.grads);
      return { loss: r.loss, terms: r.terms };
    });
    expect(tf.memory().numTensors).toBe(before);
    expect(Object.keys(result.terms)).toEqual(['loss']);
    expect(result.loss).toBeCloseTo(result.terms.loss, 6);
    disposeViews(vs);
    m.dispose();
  });

  it('rejects a bad micro-batch size, views of different sizes and a loss whose terms change, without leaking', () => {
    const m = model();
    const vs = views(4);
    const before = tf.memory().numTensors;
    expect(() => accumulatedGradients({ model: m, views: vs, loss, microBatch: 0 })).toThrow(/microBatch: expected a positive integer/);
    const uneven: View[] = [vs[0], { ...vs[1], x: tf.slice(vs[1].x, 0, 2), y: tf.slice(vs[1].y, 0, 2), weight: 1 }];
    expect(() => accumulatedGradients({ model: m, views: uneven, loss, microBatch: 2 })).toThrow(/same number of samples/);
    tf.dispose([uneven[1].x, uneven[1].y]);
    let calls = 0;
    const changing: LossFromProbabilities = (probs, v): LossTerms => (calls++ === 0 ? { a: weightedCrossEntropy(v[0].y, probs[0], 1) } : { b: weightedCrossEntropy(v[0].y, probs[0], 1) });
    expect(() => accumulatedGradients({ model: m, views: vs, loss: changing, microBatch: 2 })).toThrow(/loss terms changed/);
    expect(tf.memory().numTensors).toBe(before);
    disposeViews(vs);
    m.dispose();
  });
});
