import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import type { FermixConfigInput } from '../src/config/schema.js';
import { createMemoryLogger } from '../src/logger.js';
import { cosineLr } from '../src/train/schedules.js';
import { Trainer } from '../src/train/trainer.js';
import type { FermixPlugin } from '../src/types.js';
import type { BackendChoice } from '../src/backend/select.js';
import { TOKENS, type BackendService } from '../src/container.js';
import { tinySetup, useCpu } from './helpers.js';

beforeAll(useCpu);

const tmp = () => mkdtempSync(path.join(os.tmpdir(), 'fermix-recipe-'));

/** train: the same settings with `epochs` replaced. */
function withEpochs(train: FermixConfigInput['train'], epochs: number): FermixConfigInput {
  return { train: { ...train, epochs, earlyStopping: false } };
}

/** Runs `epochs` straight, and the same run stopped after its first epoch then resumed; both results. */
async function straightAndResumed(train: FermixConfigInput['train'], epochs: number, extra: FermixConfigInput = {}) {
  const straight = await new Trainer({ ...tinySetup({ ...extra, ...withEpochs(train, epochs) }), runDir: tmp() }).run();
  const dir = tmp();
  let steps = 0;
  // 18 training images in batches of 6: the 4th step is the first of epoch 2.
  const stopped = await new Trainer({ ...tinySetup({ ...extra, ...withEpochs(train, epochs) }), runDir: dir, onProgress: () => void steps++, shouldStop: () => steps >= 3 }).run();
  expect(stopped.metrics).toMatchObject({ interrupted: true, epochsRun: 1 });
  const resumed = await new Trainer({ ...tinySetup({ ...extra, ...withEpochs(train, epochs) }), runDir: dir, resume: true }).run();
  return { straight, resumed, dir };
}

function expectSameRun(a: Awaited<ReturnType<Trainer['run']>>, b: Awaited<ReturnType<Trainer['run']>>): void {
  expect(b.metrics.history.map((h) => h.trainLoss)).toEqual(a.metrics.history.map((h) => h.trainLoss));
  expect(b.metrics.history.map((h) => h.accuracy)).toEqual(a.metrics.history.map((h) => h.accuracy));
  expect(b.metrics.history.map((h) => h.testLoss)).toEqual(a.metrics.history.map((h) => h.testLoss));
  expect(b.metrics.history.map((h) => h.lr)).toEqual(a.metrics.history.map((h) => h.lr));
  const wa = a.model.getWeights().map((w) => Array.from(w.dataSync()));
  b.model.getWeights().forEach((w, i) => Array.from(w.dataSync()).forEach((v, j) => expect(v).toBeCloseTo(wa[i][j], 6)));
}

describe('Trainer with optimizers, schedules, clipping, EMA and TTA', () => {
  it('AdamW + cosine warmup + clipNorm + EMA + flip TTA: resumed after epoch 1 equals the run that never stopped', async () => {
    const train: FermixConfigInput['train'] = {
      optimizer: { name: 'adamw', lr: 0.01, weightDecay: 0.05, noDecayForNormAndBias: true },
      schedule: { name: 'cosine', warmupEpochs: 1, minLr: 0.0001 },
      clipNorm: 1,
      ema: { decay: 0.9 },
    };
    const { straight, resumed, dir } = await straightAndResumed(train, 3, { eval: { tta: ['flip'] } });
    expectSameRun(straight, resumed);
    expect(existsSync(path.join(dir, 'checkpoints', 'last', 'ema.bin'))).toBe(true);
    // lr of each epoch = the schedule at its first step (3 steps an epoch: 18 images, batch 6).
    expect(straight.metrics.history.map((h) => h.lr)).toEqual([0, 3, 6].map((t) => cosineLr(t, 0.01, { total: 9, warmup: 3, warmupStartFactor: 0.01, minLr: 0.0001 })));
    const written = JSON.parse(readFileSync(path.join(dir, 'metrics.json'), 'utf8'));
    expect(written.tta).toEqual(['flip']);
    expect(written.emaDecay).toBe(0.9);
    const log = readFileSync(path.join(dir, 'log.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    expect(log.map((l) => l.lr)).toEqual(straight.metrics.history.map((h) => h.lr));
  });

  it('SGD nesterov + plateau: the plateau state is in the checkpoint, and a resumed run equals the straight one', async () => {
    const train: FermixConfigInput['train'] = {
      optimizer: { name: 'sgd', lr: 0.05, momentum: 0.9, nesterov: true, weightDecay: 0.001 },
      schedule: { name: 'plateau', monitor: 'loss', patience: 0, factor: 0.5, threshold: 0.5 },
    };
    const { straight, resumed, dir } = await straightAndResumed(train, 3);
    expectSameRun(straight, resumed);
    // A threshold of 50% is never met: every evaluation after the first cuts lr.
    // The first evaluation sets the best; each later one cuts lr, taking effect the epoch after.
    expect(straight.metrics.history.map((h) => h.lr)).toEqual([0.05, 0.05, 0.025]);
    const state = JSON.parse(readFileSync(path.join(dir, 'checkpoints', 'last', 'state.json'), 'utf8'));
    expect(state.extra.schedule).toMatchObject({ reductions: 2, lr: 0.0125 });
  });

  it('with an EMA, the best checkpoint and the returned model hold the averaged weights', async () => {
    const dir = tmp();
    const logger = createMemoryLogger();
    const { model } = await new Trainer({ ...tinySetup({ train: { epochs: 1, ema: { decay: 0.5 }, earlyStopping: false } }, logger), runDir: dir }).run();
    const best = readFileSync(path.join(dir, 'checkpoints', 'best', 'weights.bin'));
    const last = readFileSync(path.join(dir, 'checkpoints', 'last', 'weights.bin'));
    expect(best.equals(last)).toBe(false);
    const ema = new Float32Array(new Uint8Array(readFileSync(path.join(dir, 'checkpoints', 'last', 'ema.bin'))).buffer);
    const firstTrainable = Array.from(model.trainableWeights[0].read().dataSync());
    firstTrainable.forEach((v, i) => expect(ema[i]).toBeCloseTo(v, 6));
  });

  it('a loss that turns NaN stops the run with a clear message and keeps the last good checkpoint', async () => {
    const dir = tmp();
    const poison: FermixPlugin = {
      name: 'poison',
      apiVersion: 1,
      composeLoss: (terms, ctx) => (ctx.epoch === 1 ? { real: tf.mul(terms.real, NaN) as tf.Scalar } : terms),
    };
    const setup = tinySetup({ train: { epochs: 3, earlyStopping: false, optimizer: { name: 'sgd', lr: 0.01 } } });
    await expect(new Trainer({ ...setup, plugins: [poison], runDir: dir }).run()).rejects.toThrow(/loss became NaN at epoch 2, step 1/);
    const state = JSON.parse(readFileSync(path.join(dir, 'checkpoints', 'last', 'state.json'), 'utf8'));
    expect(state.epoch).toBe(0);
    expect(existsSync(path.join(dir, 'checkpoints', 'last', 'COMPLETE'))).toBe(true);
  });

  it('micro-batches on the tensorflow backend too, and metrics.json records the backend\'s device', async () => {
    const dir = tmp();
    const logger = createMemoryLogger();
    const setup = tinySetup({ train: { epochs: 1, earlyStopping: false, microBatch: 2 } }, logger);
    // A stand-in for a tfjs-node-gpu that found no GPU: the choice the trainer sees (the cpu backend computes).
    const choice: BackendChoice = { name: 'tensorflow', provider: '@tensorflow/tfjs-node-gpu', device: 'CPU', deviceReason: 'no usable CUDA device: stand-in', reasons: [] };
    setup.container.rebindSync<BackendService>(TOKENS.Backend).toConstantValue({ select: async () => choice });
    let lossCalls = 0;
    const counter: FermixPlugin = { name: 'counter', apiVersion: 1, composeLoss: (terms) => (lossCalls++, terms) };
    const { metrics } = await new Trainer({ ...setup, plugins: [counter], runDir: dir }).run();
    // 18 images in batches of 6, micro-batches of 2: composeLoss runs once per micro-batch.
    expect(lossCalls).toBe(9);
    expect(logger.lines.some((l) => /microBatch .* is off/.test(l.message))).toBe(false);
    const written = JSON.parse(readFileSync(path.join(dir, 'metrics.json'), 'utf8'));
    expect(written).toMatchObject({ backend: 'tensorflow', device: 'CPU', deviceReason: 'no usable CUDA device: stand-in' });
    expect(metrics.device).toBe('CPU');
  });

  it('refuses a warmup in steps as long as the run at its YAML path, before training', async () => {
    const setup = tinySetup({ train: { epochs: 2, schedule: { name: 'cosine', warmupSteps: 6 } } });
    await expect(new Trainer(setup).run()).rejects.toThrow(/train\.schedule\.warmupSteps: expected a warmup shorter than the run \(2 epochs of 3 steps = 6 steps\), found 6/);
  });

  it('keeps the tensor count flat with AdamW, cosine, clipping, EMA and TTA: what remains is the model and the optimizer state', async () => {
    const before = tf.memory().numTensors;
    const { model } = await new Trainer(
      tinySetup({
        train: { epochs: 2, earlyStopping: false, optimizer: { name: 'adamw', lr: 0.01 }, schedule: { name: 'cosine', warmupSteps: 2 }, clipNorm: 1, ema: { decay: 0.9 } },
        eval: { tta: ['flip'] },
      }),
    ).run();
    const owned = model.weights.length + 2 * model.trainableWeights.length;
    expect(tf.memory().numTensors - before).toBeLessThanOrEqual(owned);
    model.dispose();
  });
});
