import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { beforeAll, describe, expect, it } from 'vitest';
import { CheckpointStore } from '../src/checkpoint.js';
import { ConfigError } from '../src/config/errors.js';
import { loadConfig } from '../src/config/load.js';
import { clipByGlobalNorm } from '../src/train/clip.js';
import { createWeightEma } from '../src/train/ema.js';
import { predictProbabilities } from '../src/train/evaluate.js';
import { AdamW, createOptimizer, RMSprop, SGD } from '../src/train/optimizers.js';
import { cosineLr, createSchedule } from '../src/train/schedules.js';
import { createTrainStep } from '../src/train/step.js';
import { useCpu } from './helpers.js';

beforeAll(useCpu);

function denseModel(seed = 3): tfl.LayersModel {
  const model = tfl.sequential({
    layers: [tfl.layers.flatten({ inputShape: [2, 2, 3] }), tfl.layers.dense({ units: 4, activation: 'relu' }), tfl.layers.dense({ units: 3, activation: 'softmax' })],
  });
  let s = seed;
  model.setWeights(model.weights.map((w) => tf.tensor(Array.from({ length: w.shape.reduce((a, b) => a! * b!, 1)! }, () => ((s = (s * 16807) % 2147483647) / 2147483647) - 0.5), w.shape as number[])));
  return model;
}

function batch(n = 6) {
  const x = tf.tensor4d(Array.from({ length: n * 12 }, (_, i) => ((i * 37) % 11) / 11), [n, 2, 2, 3]);
  const y = tf.tidy(() => tf.cast(tf.oneHot(tf.tensor1d(Array.from({ length: n }, (_, i) => i % 3), 'int32'), 3), 'float32')) as tf.Tensor2D;
  return { x, y };
}

const values = (m: tfl.LayersModel) => m.getWeights().map((w) => Array.from(w.dataSync()));

describe('weight EMA', () => {
  it('after n updates equals the hand-computed average: decay 0.5 over values 1, 2, 3 from 0 is 2.125', () => {
    const v = tf.variable(tf.scalar(0));
    const ema = createWeightEma([v], 0.5);
    for (const value of [1, 2, 3]) {
      v.assign(tf.scalar(value));
      ema.update();
    }
    // 0.5*0 + 0.5*1 = 0.5; 0.5*0.5 + 0.5*2 = 1.25; 0.5*1.25 + 0.5*3 = 2.125
    expect(ema.shadows[0].dataSync()[0]).toBeCloseTo(2.125, 6);
    const restore = ema.swapIn();
    expect(v.dataSync()[0]).toBeCloseTo(2.125, 6);
    restore();
    expect(v.dataSync()[0]).toBe(3);
    ema.dispose();
    v.dispose();
  });

  it('createTrainStep updates it after every optimiser step, from the weights after the update', () => {
    const model = denseModel();
    const variables = model.trainableWeights.map((w) => w.read() as tf.Variable);
    const ema = createWeightEma(variables, 0.9);
    let expected = values(model).slice(0, variables.length);
    const step = createTrainStep({ model, optimizer: new SGD(0.5), ema });
    const { x, y } = batch();
    for (let i = 0; i < 4; i++) {
      step({ x, y });
      const now = values(model);
      expected = expected.map((shadow, k) => shadow.map((s, j) => 0.9 * s + 0.1 * now[k][j]));
    }
    ema.shadows.forEach((s, k) => Array.from(s.dataSync()).forEach((v, j) => expect(v).toBeCloseTo(expected[k][j], 5)));
    tf.dispose([x, y]);
  });
});

describe('flip TTA', () => {
  it('averages the probabilities of each image and of its mirror, computed by hand', () => {
    const model = denseModel(7);
    const { x } = batch(3);
    const mirrored = tf.tensor4d(
      x.arraySync().map((img) => img.map((row) => [...row].reverse())),
      x.shape,
    );
    const a = model.predict(x) as tf.Tensor2D;
    const b = model.predict(mirrored) as tf.Tensor2D;
    const byHand = a.arraySync().map((row, i) => row.map((v, k) => (v + b.arraySync()[i][k]) / 2));
    const tta = predictProbabilities(model, x, { tta: ['flip'] });
    tta.arraySync().forEach((row, i) => row.forEach((v, k) => expect(v).toBeCloseTo(byHand[i][k], 6)));
    // The mirror matters for this model, so the check above is not the plain prediction.
    expect(Math.max(...a.arraySync().flat().map((v, i) => Math.abs(v - byHand.flat()[i])))).toBeGreaterThan(1e-4);
    const plain = predictProbabilities(model, x);
    expect(plain.arraySync()).toEqual(a.arraySync());
    tf.dispose([x, mirrored, a, b, tta, plain]);
  });
});

describe('gradient clipping', () => {
  it('scales gradients to the given global norm and leaves smaller ones alone', () => {
    const grads = { a: tf.tensor1d([3, 0]), b: tf.tensor1d([0, 4]) };
    const clipped = clipByGlobalNorm(grads, 1);
    expect(clipped.norm.dataSync()[0]).toBeCloseTo(5, 6);
    expect(Array.from(clipped.grads.a.dataSync())[0]).toBeCloseTo(3 / (5 + 1e-6), 6);
    expect(Array.from(clipped.grads.b.dataSync())[1]).toBeCloseTo(4 / (5 + 1e-6), 6);
    const kept = clipByGlobalNorm(grads, 10);
    expect(Array.from(kept.grads.b.dataSync())).toEqual([0, 4]);
    tf.dispose([grads.a, grads.b, clipped.norm, clipped.grads.a, clipped.grads.b, kept.norm, kept.grads.a, kept.grads.b]);
  });
});

describe('optimizers in createTrainStep', () => {
  it('frozen variables take neither an update nor weight decay, and train once unfrozen', () => {
    const model = denseModel();
    const step = createTrainStep({ model, optimizer: new SGD(0.1, 0.9, true, 0.1) });
    const first = model.trainableWeights.slice(0, 2).map((w) => (w.read() as tf.Variable).name);
    step.frozen = new Set(first);
    const { x, y } = batch();
    const before = values(model);
    step({ x, y });
    step({ x, y });
    const after = values(model);
    expect(after[0]).toEqual(before[0]);
    expect(after[1]).toEqual(before[1]);
    expect(after[2]).not.toEqual(before[2]);
    step.frozen = null;
    step({ x, y });
    expect(values(model)[0]).not.toEqual(after[0]);
    tf.dispose([x, y]);
  });

  it('noDecayForNormAndBias leaves rank-1 weights undecayed: with a zero gradient only the kernels shrink', () => {
    const v = { kernel: tf.variable(tf.tensor2d([[2]]), true, 'nd-kernel'), bias: tf.variable(tf.tensor1d([2]), true, 'nd-bias') };
    const optimizer = createOptimizer({ name: 'adamw', lr: 0.1, weightDecay: 0.5, noDecayForNormAndBias: true });
    optimizer.applyGradients({ 'nd-kernel': tf.zeros([1, 1]), 'nd-bias': tf.zeros([1]) });
    expect(v.kernel.dataSync()[0]).toBeCloseTo(2 * (1 - 0.1 * 0.5), 6);
    expect(v.bias.dataSync()[0]).toBe(2);
    tf.dispose([v.kernel, v.bias]);
    optimizer.dispose();
  });

  it('a learning rate that goes NaN stops the step with a clear message, before anything changes', () => {
    const model = denseModel();
    const step = createTrainStep({ model, optimizer: new SGD(0.1), schedule: { name: 'constant', lrAt: (t) => (t < 1 ? 0.1 : NaN) } });
    const { x, y } = batch();
    step({ x, y });
    const before = values(model);
    expect(() => step({ x, y })).toThrow(/learning rate became NaN at step 2/);
    expect(values(model)).toEqual(before);
    tf.dispose([x, y]);
  });

  it('each optimizer checkpoints its slots and iterations, and training continues exactly after a load', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'fermix-optim-'));
    const store = new CheckpointStore();
    for (const make of [() => new SGD(0.1, 0.9, true, 0.01), () => new AdamW(0.01, 0.9, 0.999, 1e-8, 0.1), () => new RMSprop(0.01, 0.99, 1e-8, 0.9, 0.01)]) {
      const { x, y } = batch();
      const a = { model: denseModel(), optimizer: make() };
      const stepA = createTrainStep(a);
      stepA({ x, y });
      stepA({ x, y });
      const target = path.join(dir, a.optimizer.getClassName());
      await store.save(target, { ...a, state: { epoch: 0, step: 2, bestMetric: null, bestEpoch: -1, monitor: 'loss', rng: {} } });
      const b = { model: denseModel(99), optimizer: make() };
      await store.load(target, b);
      expect(b.optimizer.iterations).toBe(2);
      // Control: the same weights with a fresh optimizer end elsewhere (the slots matter).
      const c = { model: denseModel(98), optimizer: make() };
      await store.loadWeights(target, c.model);
      const stepB = createTrainStep(b);
      const stepC = createTrainStep(c);
      for (let i = 0; i < 3; i++) {
        stepA({ x, y });
        stepB({ x, y });
        stepC({ x, y });
      }
      const wa = values(a.model);
      values(b.model).forEach((w, k) => w.forEach((v, j) => expect(v).toBeCloseTo(wa[k][j], 6)));
      const drift = Math.max(...values(c.model).flatMap((w, k) => w.map((v, j) => Math.abs(v - wa[k][j]))));
      expect(drift).toBeGreaterThan(1e-4);
      tf.dispose([x, y]);
    }
  });
});

describe('checkpoints from before fermix had its own Adam', () => {
  it("load into fermix's Adam: same slots, same iterations", async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'fermix-optim-'));
    const store = new CheckpointStore();
    const { x, y } = batch();
    const old = { model: denseModel(), optimizer: tf.train.adam(0.01) };
    createTrainStep(old)({ x, y });
    await store.save(dir, { ...old, state: { epoch: 0, step: 1, bestMetric: null, bestEpoch: -1, monitor: 'loss', rng: {} } });
    const next = { model: denseModel(5), optimizer: createOptimizer({ name: 'adam', lr: 0.01 }) };
    await store.load(dir, next);
    expect(next.optimizer.iterations).toBe(1);
    const [oldSlots, newSlots] = [await old.optimizer.getWeights(), await next.optimizer.getWeights()];
    expect(newSlots.map((w) => w.name.split('/').pop())).toEqual(oldSlots.map((w) => w.name.split('/').pop()));
    newSlots.slice(1).forEach((w, i) => expect(Array.from(w.tensor.dataSync())).toEqual(Array.from(oldSlots[i + 1].tensor.dataSync())));
    await expect(store.load(dir, { model: denseModel(5), optimizer: new SGD(0.1, 0.9) })).rejects.toThrow(/holds Adam state but the optimizer is FermixSGD/);
    tf.dispose([x, y]);
  });
});

describe('schedules', () => {
  it('cosine with warmup rises linearly from lr x warmupStartFactor, peaks at lr and ends near minLr', () => {
    const s = createSchedule({ name: 'cosine', warmupEpochs: 1, warmupStartFactor: 0.1, minLr: 0.01 }, { lr: 1, stepsPerEpoch: 10, epochs: 5 });
    expect(s.lrAt(0)).toBeCloseTo(0.1, 12);
    expect(s.lrAt(5)).toBeCloseTo(0.55, 12);
    expect(s.lrAt(10)).toBe(1);
    expect(s.lrAt(30)).toBeCloseTo(0.01 + 0.99 * 0.5 * (1 + Math.cos(Math.PI * 0.5)), 12);
    expect(s.lrAt(49)).toBeCloseTo(cosineLr(49, 1, { total: 50, warmup: 10, warmupStartFactor: 0.1, minLr: 0.01 }), 12);
    expect(s.lrAt(49)).toBeLessThan(0.013);
  });

  it('plateau cuts lr after `patience` evaluations without improvement and keeps its state across a checkpoint', () => {
    const s = createSchedule({ name: 'plateau', mode: 'max', patience: 1, factor: 0.5 }, { lr: 0.2, stepsPerEpoch: 4, epochs: 10 });
    expect([0.5, 0.6, 0.6].map((v) => s.observe!(v))).toEqual([false, false, false]);
    expect(s.observe!(0.59)).toBe(true);
    expect(s.lrAt(100)).toBeCloseTo(0.1, 12);
    const again = createSchedule({ name: 'plateau', mode: 'max', patience: 1, factor: 0.5 }, { lr: 0.2, stepsPerEpoch: 4, epochs: 10 });
    again.setState!(JSON.parse(JSON.stringify(s.getState!())));
    expect(again.lrAt(0)).toBeCloseTo(0.1, 12);
    expect([again.observe!(0.6), again.observe!(0.6)]).toEqual([false, true]);
  });
});

function writeConfig(text: string): string {
  const file = path.join(mkdtempSync(path.join(os.tmpdir(), 'fermix-config-')), 'fermix.config.yaml');
  writeFileSync(file, text);
  return file;
}

async function issuesOf(text: string): Promise<string> {
  try {
    await loadConfig({ file: writeConfig(text) });
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as Error).message;
  }
  throw new Error('expected a ConfigError');
}

describe('config of the optimizer, schedule, clipping, EMA and TTA', () => {
  it('accepts a full modern recipe and fills in defaults', async () => {
    const config = await loadConfig({
      file: writeConfig(
        'train:\n  epochs: 20\n  optimizer: { name: adamw, lr: 0.001, weightDecay: 0.05, noDecayForNormAndBias: true }\n  schedule: { name: cosine, warmupEpochs: 2, minLr: 0.00001 }\n  clipNorm: 1\n  ema: { decay: 0.999 }\neval:\n  tta: [flip]\n',
      ),
    });
    expect(config.train.optimizer).toMatchObject({ name: 'adamw', weightDecay: 0.05, noDecayForNormAndBias: true });
    expect(config.train.schedule).toMatchObject({ name: 'cosine', warmupEpochs: 2 });
    expect(config.eval.tta).toEqual(['flip']);
    const defaults = await loadConfig({ file: writeConfig('seed: 2\n') });
    expect(defaults.train.schedule).toEqual({ name: 'constant' });
    expect(defaults.eval.tta).toEqual([]);
    expect(defaults.train.ema).toBeUndefined();
  });

  it('refuses an unknown optimizer or schedule, a negative lr and a plateau monitor that is not a metric, at their paths', async () => {
    expect(await issuesOf('train:\n  optimizer: { name: lamb }\n')).toMatch(/train\.optimizer\.name \(fermix\.config\.yaml:2:\d+\): expected one of sgd \| adam \| adamw \| rmsprop, found "lamb"/);
    expect(await issuesOf('train:\n  schedule: { name: poly }\n')).toMatch(/train\.schedule\.name .*expected one of constant \| step \| cosine \| onecycle \| exponential \| plateau, found "poly"/);
    expect(await issuesOf('train:\n  optimizer: { name: sgd, lr: -0.1 }\n')).toMatch(/train\.optimizer\.lr .*expected a number > 0, found -0\.1/);
    expect(await issuesOf('train:\n  schedule: { name: plateau, monitor: precision }\n')).toMatch(/train\.schedule\.monitor .*expected one of/);
  });

  it('refuses a warmup as long as the run, options of another optimizer or schedule, and nesterov without momentum', async () => {
    expect(await issuesOf('train:\n  epochs: 5\n  schedule: { name: cosine, warmupEpochs: 5 }\n')).toMatch(/train\.schedule\.warmupEpochs .*fewer warmup epochs than train\.epochs \(5\)/);
    expect(await issuesOf('train:\n  optimizer: { name: adam, momentum: 0.9 }\n')).toMatch(/train\.optimizer\.momentum .*no momentum for optimizer adam/);
    expect(await issuesOf('train:\n  schedule: { name: step, gamma: 0.5 }\n')).toMatch(/train\.schedule\.milestones .*required for schedule step/);
    expect(await issuesOf('train:\n  schedule: { name: constant, minLr: 0.1 }\n')).toMatch(/train\.schedule\.minLr .*no minLr for schedule constant/);
    expect(await issuesOf('train:\n  optimizer: { name: sgd, nesterov: true }\n')).toMatch(/train\.optimizer\.nesterov .*momentum > 0/);
    expect(await issuesOf('train:\n  ema: { decay: 1 }\n')).toMatch(/train\.ema\.decay/);
    expect(await issuesOf('eval:\n  tta: [rotate]\n')).toMatch(/eval\.tta\[0\] .*expected one of flip/);
  });
});
