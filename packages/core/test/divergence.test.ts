import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { beforeAll, describe, expect, it } from 'vitest';
import type { FermixConfigInput } from '../src/config/schema.js';
import { DivergenceError, likelyCause, nonFiniteVariables } from '../src/train/divergence.js';
import { Trainer } from '../src/train/trainer.js';
import type { FermixPlugin } from '../src/types.js';
import { TOKENS } from '../src/container.js';
import type { BackboneDefinition, BackboneRegistry } from '../src/registry.js';
import { tinyBackbone, tinySetup, useCpu } from './helpers.js';

beforeAll(useCpu);

const tmp = () => mkdtempSync(path.join(os.tmpdir(), 'fermix-divergence-'));
const readLog = (dir: string) => readFileSync(path.join(dir, 'log.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));

/** 18 training images in batches of 6: 3 steps an epoch. */
const train = (extra: FermixConfigInput['train'] = {}): FermixConfigInput => ({ train: { epochs: 3, earlyStopping: false, optimizer: { name: 'sgd', lr: 0.05, momentum: 0.9 }, ...extra } });

async function rejection(p: Promise<unknown>): Promise<DivergenceError> {
  const err = await p.then(
    () => null,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(DivergenceError);
  return err as DivergenceError;
}

describe('losses read every few steps', () => {
  it('log the same per-epoch losses as a read every step (eager), for a seeded run', async () => {
    const runs = [];
    // Batches of 2: 9 steps an epoch, read every step (eager), every 2 steps, and every 3 (16, at least four reads an epoch).
    for (const lossReadEvery of [1, 2, 16]) {
      const dir = tmp();
      const { metrics } = await new Trainer({ ...tinySetup(train({ batchSize: 2, epochs: 2 })), runDir: dir, lossReadEvery }).run();
      runs.push({ log: readLog(dir).map((l) => l.trainLoss), history: metrics.history.map((h) => [h.trainLoss, h.accuracy, h.testLoss]) });
    }
    expect(runs[0].log).toHaveLength(2);
    for (const l of runs[0].log) expect(Number.isFinite(l)).toBe(true);
    expect(runs[1]).toEqual(runs[0]);
    expect(runs[2]).toEqual(runs[0]);
  });
});

describe('a loss or weights that turn NaN or infinite', () => {
  it('are named by the first bad step of the window read, and the last good checkpoint stays', async () => {
    const dir = tmp();
    // Batches of 2: 9 steps an epoch, read 3 at a time. From run step 10 on (epoch 2, its second
    // step) the loss is NaN: the read after step 11 finds steps 10 and 11 bad, and names step 10.
    const poison: FermixPlugin = { name: 'poison', apiVersion: 1, composeLoss: (terms, ctx) => (ctx.step >= 10 ? { real: tf.mul(terms.real, NaN) as tf.Scalar } : terms) };
    let stepsWhenStopped = 0;
    const err = await rejection(new Trainer({ ...tinySetup(train({ batchSize: 2 })), plugins: [poison], runDir: dir, lossReadEvery: 16, onProgress: (e) => void (stepsWhenStopped = e.step) }).run());
    expect(stepsWhenStopped).toBe(2); // the third step of epoch 2 ran, and its read stopped the run before its progress
    expect(err.detail).toMatchObject({ epoch: 2, step: 2, runStep: 10 });
    expect(err.message).toMatch(/^loss became NaN at epoch 2, step 2 \(step 11 of the run\); terms real=NaN: the training diverged/);
    expect(err.message).toContain('The last good checkpoint stays (checkpoints/last, after epoch 1)');
    const state = JSON.parse(readFileSync(path.join(dir, 'checkpoints', 'last', 'state.json'), 'utf8'));
    expect(state.epoch).toBe(0);
    expect(readLog(dir)).toHaveLength(1);
    expect(existsSync(path.join(dir, 'metrics.json'))).toBe(false);
  });

  it('from a learning rate far too high (1e30): the run stops naming the step and the learning rate as the likely cause', async () => {
    // (lr 1e6 does not get there: every prediction saturates at the cross-entropy's 1e-7 clip, where
    // the loss is finite and the gradient zero.)
    const dir = tmp();
    const err = await rejection(new Trainer({ ...tinySetup(train({ optimizer: { name: 'sgd', lr: 1e30 } })), runDir: dir }).run());
    expect(err.message).toMatch(/^loss became (NaN|Infinity|-Infinity) at epoch \d+, step \d+ \(step \d+ of the run\)/);
    expect(err.message).toContain('learning rate (1e+30 at that step) is too high');
    expect(err.message).toContain('lower train.optimizer.lr');
    expect(err.detail.runStep).toBeGreaterThan(0);
    expect(existsSync(path.join(dir, 'metrics.json'))).toBe(false);
  });

  it('weights broken by an epoch\'s last step, whose own loss was finite, are never evaluated or saved', async () => {
    const dir = tmp();
    // The tiny backbone, keeping its conv layer, so a hook can break its kernel.
    let conv: tfl.layers.Layer | undefined;
    const held: BackboneDefinition = {
      ...tinyBackbone,
      name: 'tiny-held',
      build(input, plan) {
        conv = tfl.layers.conv2d({ filters: 4, kernelSize: 3, strides: 2, padding: 'same', name: 'conv' });
        const x = conv.apply(input) as tfl.SymbolicTensor;
        return plan.afterBlock.reduce((acc, fn) => fn(acc, { index: 0, name: 'block1' }), x);
      },
    };
    // After the last step of epoch 2 (run step 5) the conv kernel becomes NaN; that step's loss was finite.
    const breaker: FermixPlugin = {
      name: 'breaker',
      apiVersion: 1,
      onStepEnd: (result) => {
        if (result.step !== 5) return;
        expect(Number.isFinite(result.loss)).toBe(true);
        const kernel = conv!.getWeights()[0];
        conv!.setWeights([tf.fill(kernel.shape, NaN), ...conv!.getWeights().slice(1)]);
      },
    };
    const setup = tinySetup({ ...train(), model: { backbone: 'tiny-held' } });
    setup.container.get<BackboneRegistry>(TOKENS.BackboneRegistry).register(held);
    const err = await rejection(new Trainer({ ...setup, plugins: [breaker], runDir: dir, lossReadEvery: 1 }).run());
    expect(err.detail).toMatchObject({ epoch: 2, step: 3, runStep: 5 });
    expect(err.detail.weights).toEqual([expect.stringMatching(/^conv\/kernel/)]);
    expect(err.message).toMatch(/^weights became NaN or infinite by epoch 2, step 3 \(step 6 of the run\), though the losses read were finite \(conv\/kernel/);
    expect(err.message).toContain('The last good checkpoint stays (checkpoints/last, after epoch 1)');
    // Epoch 2 was neither evaluated nor saved: the checkpoints and the log hold epoch 1 only.
    expect(readLog(dir)).toHaveLength(1);
    for (const which of ['last', 'best']) {
      expect(JSON.parse(readFileSync(path.join(dir, 'checkpoints', which, 'state.json'), 'utf8')).epoch).toBe(0);
      const weights = new Float32Array(new Uint8Array(readFileSync(path.join(dir, 'checkpoints', which, 'weights.bin'))).buffer);
      expect(weights.every(Number.isFinite)).toBe(true);
    }
  });

  it('name the data or the model as the likely cause at the first step of a run, the learning rate later', () => {
    expect(likelyCause(0, 0.1)).toMatch(/first step of the run, before any update.*data or the model/);
    expect(likelyCause(7, 0.1)).toMatch(/learning rate \(0\.1 at that step\) is too high/);
  });

  it('nonFiniteVariables names the variables holding a NaN or an infinity, in one read', () => {
    const a = tf.variable(tf.tensor1d([1, 2, 3]), true, 'fine');
    const b = tf.variable(tf.tensor1d([1, NaN]), true, 'nan');
    const c = tf.variable(tf.tensor2d([[Infinity, 0]]), true, 'inf');
    expect(nonFiniteVariables([a, b, c])).toEqual(['nan', 'inf']);
    expect(nonFiniteVariables([a])).toEqual([]);
    tf.dispose([a, b, c]);
  });
});
