import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { beforeAll, describe, expect, it, vi } from 'vitest';
import { basePlan, buildModel, initializeKernels } from '../src/model.js';
import { BackboneRegistry } from '../src/registry.js';
import { Rng } from '../src/rng.js';
import { createTrainStep } from '../src/train/step.js';
import type { Batch, FermixPlugin, PluginContext } from '../src/types.js';
import { tinyBackbone, useCpu } from './helpers.js';

function tinyModel(seed = 1) {
  const model = buildModel(basePlan({ backbone: 'tiny', imageSize: 8, numClasses: 3 }), new BackboneRegistry().register(tinyBackbone));
  initializeKernels(model, new Rng(seed));
  return model;
}

function batch(seed = 1, n = 4) {
  const rng = new Rng(seed);
  const x = tf.tensor4d(Float32Array.from({ length: n * 8 * 8 * 3 }, () => rng.uniform()), [n, 8, 8, 3]);
  const y = tf.cast(tf.oneHot(tf.tensor1d(Array.from({ length: n }, (_, i) => i % 3), 'int32'), 3), 'float32') as tf.Tensor2D;
  return { x, y };
}

function weightsOf(model: ReturnType<typeof tinyModel>): number[][] {
  return model.getWeights().map((w) => Array.from(w.dataSync()));
}

beforeAll(useCpu);

describe('createTrainStep', () => {
  it('calls plugin hooks in config order, each with the output of the one before and a full context', () => {
    const calls: string[] = [];
    const contexts: PluginContext[] = [];
    const make = (name: string): FermixPlugin => ({
      name,
      apiVersion: 1,
      transformBatch(b: Batch, ctx) {
        calls.push(`${name}.transformBatch(${Object.keys(b.views).join(',')})`);
        contexts.push(ctx);
        ctx.record('seen', Object.keys(b.views).length);
        // Each plugin adds a view, so the next sees the previous one's output.
        const real = b.views.real;
        return { views: { ...b.views, [name]: { x: real.x, y: real.y, weight: 0.5 } } };
      },
      composeLoss(terms, ctx) {
        calls.push(`${name}.composeLoss(${Object.keys(terms).join(',')})`);
        contexts.push(ctx);
        return terms;
      },
    });
    const model = tinyModel();
    const step = createTrainStep({ model, optimizer: tf.train.adam(0.01), plugins: [make('first'), make('second')], seed: 3 });
    const { x, y } = batch();
    const result = step({ x, y }, { epoch: 4 });
    expect(calls).toEqual([
      'first.transformBatch(real)',
      'second.transformBatch(real,first)',
      'first.composeLoss(real,first,second)',
      'second.composeLoss(real,first,second)',
    ]);
    for (const ctx of contexts) {
      expect(ctx.step).toBe(0);
      expect(ctx.epoch).toBe(4);
      expect(ctx.rng).toBe(step.rng);
      expect(ctx.logger).toBeDefined();
      expect(ctx.container).toBeDefined();
    }
    expect(Object.keys(result.terms)).toEqual(['real', 'first', 'second']);
    expect(result.loss).toBeCloseTo(result.terms.real + result.terms.first + result.terms.second, 5);
    expect(result.terms.first).toBeCloseTo(result.terms.real * 0.5, 5);
    expect(result.drawn).toEqual({ first: { seen: 1 }, second: { seen: 2 } });
    expect(step.step).toBe(1);
    x.dispose();
    y.dispose();
  });

  it('optimises the loss that composeLoss returns', () => {
    const zero: FermixPlugin = { name: 'zero', apiVersion: 1, composeLoss: (terms) => ({ real: tf.mul(terms.real, 0) as tf.Scalar }) };
    const { x, y } = batch();
    const frozen = tinyModel();
    const before = weightsOf(frozen);
    const trainable = frozen.trainableWeights.map((w) => w.name);
    createTrainStep({ model: frozen, optimizer: tf.train.adam(0.1), plugins: [zero] })({ x, y });
    const after = weightsOf(frozen);
    // A zero loss gives zero gradients: Adam leaves every trainable weight where it was.
    frozen.getWeights().forEach((w, i) => {
      if (trainable.includes(frozen.weights[i].name)) expect(after[i]).toEqual(before[i]);
    });

    const doubled: FermixPlugin = { name: 'double', apiVersion: 1, composeLoss: (terms) => ({ twice: tf.mul(terms.real, 2) as tf.Scalar }) };
    const a = tinyModel();
    const b = tinyModel();
    const plain = createTrainStep({ model: a, optimizer: tf.train.sgd(0.1) })({ x, y });
    const twice = createTrainStep({ model: b, optimizer: tf.train.sgd(0.05), plugins: [doubled] })({ x, y });
    expect(twice.loss).toBeCloseTo(2 * plain.loss, 5);
    // SGD with half the rate on twice the loss takes the same step.
    const wa = weightsOf(a);
    weightsOf(b).forEach((w, i) => w.forEach((v, j) => expect(v).toBeCloseTo(wa[i][j], 5)));
    x.dispose();
    y.dispose();
  });

  it('weights a view term per sample when the weight is a vector', () => {
    const model = tinyModel();
    const { x, y } = batch();
    const w = tf.tensor1d([1, 0, 0, 0]);
    const step = createTrainStep({ model, optimizer: tf.train.sgd(0) });
    const full = step({ views: { real: { x, y, weight: 1 } } });
    const first = step({ views: { real: { x, y, weight: w } } });
    expect(first.loss).toBeLessThan(full.loss);
    expect(first.loss).toBeGreaterThan(0);
    tf.dispose([x, y, w]);
  });

  it('leaves no tensor behind: the count after step 20 equals the count after step 1', () => {
    const model = tinyModel();
    const step = createTrainStep({ model, optimizer: tf.train.adam(0.01) });
    const { x, y } = batch();
    step({ x, y });
    const afterFirst = tf.memory().numTensors;
    for (let i = 0; i < 19; i++) step({ x, y });
    expect(tf.memory().numTensors).toBe(afterFirst);
    x.dispose();
    y.dispose();
  });
});

describe('createTrainStep options', () => {
  function denseModel() {
    // No batch norm: micro-batches must then give exactly the full batch's gradient.
    const input = tfl.input({ shape: [8, 8, 3] });
    const x = tfl.layers.conv2d({ filters: 3, kernelSize: 3, name: 'c' }).apply(input) as any;
    const out = tfl.layers.dense({ units: 3, activation: 'softmax', name: 'predictions' }).apply(tfl.layers.flatten().apply(x) as any) as any;
    const model = tfl.model({ inputs: input, outputs: out });
    initializeKernels(model, new Rng(9));
    return model;
  }

  it('micro-batches give the same update as the whole batch on a model without batch norm', () => {
    const { x, y } = batch(3, 6);
    const a = denseModel();
    const b = denseModel();
    const whole = createTrainStep({ model: a, optimizer: tf.train.sgd(0.5) })({ x, y });
    const micro = createTrainStep({ model: b, optimizer: tf.train.sgd(0.5), microBatch: 4 })({ x, y });
    expect(micro.loss).toBeCloseTo(whole.loss, 5);
    const wa = weightsOf(a as any);
    weightsOf(b as any).forEach((w, i) => w.forEach((v, j) => expect(v).toBeCloseTo(wa[i][j], 5)));
    tf.dispose([x, y]);
  });

  it('frozen variables stay where they are with Adam while the others train, and train once unfrozen', () => {
    const model = denseModel();
    const step = createTrainStep({ model, optimizer: tf.train.adam(0.05) });
    const conv = model.trainableWeights.filter((w) => w.name.startsWith('c/')).map((w) => (w.read() as tf.Variable).name);
    step.frozen = new Set(conv);
    const { x, y } = batch(4, 6);
    const before = model.getWeights().map((w) => Array.from(w.dataSync()));
    step({ x, y });
    step({ x, y });
    const after = model.getWeights().map((w) => Array.from(w.dataSync()));
    model.weights.forEach((w, i) => {
      if (w.name.startsWith('c/')) expect(after[i]).toEqual(before[i]);
      else expect(after[i]).not.toEqual(before[i]);
    });
    step.frozen = null;
    step({ x, y });
    const unfrozen = model.getWeights().map((w) => Array.from(w.dataSync()));
    model.weights.forEach((w, i) => {
      if (w.name.startsWith('c/')) expect(unfrozen[i]).not.toEqual(after[i]);
    });
    tf.dispose([x, y]);
  });
});

describe('createTrainStep lossRead: lazy', () => {
  /** Counts reads of tensor data through the engine (dataSync, arraySync: each a host sync on a GPU; the cpu backend's kernels read their inputs directly, not through it). */
  function countReads(): { count: () => number; restore: () => void } {
    const read = vi.spyOn(tf.engine(), 'readSync');
    return { count: () => read.mock.calls.length, restore: () => read.mockRestore() };
  }

  it('gives the same losses and terms as eager, step for step, reading every pending step in one sync', () => {
    const plugin: FermixPlugin = { name: 'two-terms', apiVersion: 1, composeLoss: (terms) => ({ ...terms, half: tf.mul(terms.real, 0.5) as tf.Scalar }) };
    const eagerModel = tinyModel(4);
    const lazyModel = tinyModel(4);
    const eager = createTrainStep({ model: eagerModel, optimizer: tf.train.adam(0.01), plugins: [plugin], seed: 3 });
    const lazy = createTrainStep({ model: lazyModel, optimizer: tf.train.adam(0.01), plugins: [plugin], seed: 3, lossRead: 'lazy' });
    const batches = [1, 2, 3, 4, 5].map((s) => batch(s, 4));
    const expected = batches.map((b) => eager(b));
    const reads = countReads();
    let results;
    try {
      results = batches.map((b) => lazy(b));
      expect(reads.count()).toBe(0); // nothing read while the steps run
      expect(lazy.pendingLosses).toBe(5);
      const read = lazy.readLosses();
      expect(reads.count()).toBe(1); // five steps, one read
      expect(lazy.pendingLosses).toBe(0);
      expect(read.map((r) => r.step)).toEqual([0, 1, 2, 3, 4]);
      expect(read.map((r) => r.loss)).toEqual(expected.map((r) => r.loss));
      expect(read.map((r) => r.terms)).toEqual(expected.map((r) => r.terms));
    } finally {
      reads.restore();
    }
    // The results themselves hold the same numbers once read.
    expect(results.map((r) => r.loss)).toEqual(expected.map((r) => r.loss));
    expect(results.map((r) => r.step)).toEqual([0, 1, 2, 3, 4]);
    expect(weightsOf(lazyModel)).toEqual(weightsOf(eagerModel));
    expect(lazy.readLosses()).toEqual([]);
    tf.dispose(batches.flatMap((b) => [b.x, b.y]));
  });

  it('reading a result\'s loss reads every step still pending (plugins that read it in onStepEnd keep working), and nothing leaks', () => {
    const model = tinyModel(5);
    const step = createTrainStep({ model, optimizer: tf.train.sgd(0.1), seed: 1, lossRead: 'lazy' });
    const b = batch(7, 4);
    step(b); // Adam-free, but the first step may create nothing: count from here
    step.readLosses();
    const before = tf.memory().numTensors;
    const first = step(b);
    const second = step(b);
    expect(tf.memory().numTensors).toBe(before + 2); // each step keeps its terms, [1], on the backend
    expect(Number.isFinite(second.loss)).toBe(true); // reads both
    expect(step.pendingLosses).toBe(0);
    expect(Number.isFinite(first.loss)).toBe(true);
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([b.x, b.y]);
  });

  it('micro-batches keep their loss on the backend too, with the eager values', () => {
    const eagerModel = tinyModel(6);
    const lazyModel = tinyModel(6);
    const b = batch(8, 6);
    const eager = createTrainStep({ model: eagerModel, optimizer: tf.train.sgd(0.1), microBatch: 4 });
    const lazy = createTrainStep({ model: lazyModel, optimizer: tf.train.sgd(0.1), microBatch: 4, lossRead: 'lazy' });
    const expected = [eager(b), eager(b)].map((r) => r.loss);
    lazy(b);
    lazy(b);
    expect(lazy.pendingLosses).toBe(2);
    expect(lazy.readLosses().map((r) => r.loss)).toEqual(expected);
    tf.dispose([b.x, b.y]);
  });
});
