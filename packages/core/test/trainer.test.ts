import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { createMemoryLogger, silentLogger } from '../src/logger.js';
import { buildModelForConfig, initializeKernels } from '../src/model.js';
import { Rng } from '../src/rng.js';
import { TOKENS } from '../src/container.js';
import { Trainer } from '../src/train/trainer.js';
import { readRunLock, RunFolderLostError, writeRunLock } from '../src/run-folder.js';
import type { FermixPlugin } from '../src/types.js';
import { memorySource, tinySetup, useCpu } from './helpers.js';
import type { DataSource } from '../src/data/source.js';

beforeAll(useCpu);

const tmp = () => mkdtempSync(path.join(os.tmpdir(), 'fermix-run-'));

describe('Trainer', () => {
  it('runs every hook in order with what it should get, and writes the run folder', async () => {
    const events: string[] = [];
    const plugin = (name: string): FermixPlugin => ({
      name,
      apiVersion: 1,
      setup: () => void events.push(`${name}.setup`),
      transformModel: (plan) => {
        events.push(`${name}.transformModel`);
        return plan;
      },
      transformBatch: (b, ctx) => {
        if (ctx.step === 0) events.push(`${name}.transformBatch`);
        return b;
      },
      onStepEnd: (r, ctx) => {
        if (ctx.step === 1) events.push(`${name}.onStepEnd(${typeof r.loss})`);
      },
      onEpochEnd: (s) => void events.push(`${name}.onEpochEnd(${s.epoch})`),
      onTrainEnd: (s) => void events.push(`${name}.onTrainEnd(${s.epochsRun})`),
    });
    const { config, container } = tinySetup({ train: { epochs: 2 } });
    const runDir = tmp();
    const { metrics } = await new Trainer({ config, container, plugins: [plugin('a'), plugin('b')], runDir }).run();
    expect(events).toEqual([
      'a.setup',
      'b.setup',
      'a.transformModel',
      'b.transformModel',
      'a.transformBatch',
      'b.transformBatch',
      'a.onStepEnd(number)',
      'b.onStepEnd(number)',
      'a.onEpochEnd(0)',
      'b.onEpochEnd(0)',
      'a.onEpochEnd(1)',
      'b.onEpochEnd(1)',
      'a.onTrainEnd(2)',
      'b.onTrainEnd(2)',
    ]);
    const written = JSON.parse(readFileSync(path.join(runDir, 'metrics.json'), 'utf8'));
    for (const key of ['accuracy', 'macroF1', 'averageAccuracy', 'perClass', 'confusionMatrix', 'confidence', 'classes', 'bestEpoch', 'history']) {
      expect(written).toHaveProperty(key);
    }
    expect(written.accuracy).toBe(metrics.accuracy);
    expect(written.history).toHaveLength(2);
    expect(written.perClass.c0).toHaveProperty('support', 6);
    expect(readFileSync(path.join(runDir, 'log.jsonl'), 'utf8').trim().split('\n')).toHaveLength(2);
    expect(existsSync(path.join(runDir, 'config.yaml'))).toBe(true);
    expect(existsSync(path.join(runDir, 'checkpoints', 'best', 'model.json'))).toBe(true);
  });

  it('stops early after `patience` epochs without improvement and keeps the best epoch', async () => {
    // A learning rate of zero never improves on the first epoch.
    const { config, container } = tinySetup({ train: { epochs: 6, optimizer: { lr: 1e-12 }, earlyStopping: { monitor: 'loss', patience: 1 } } });
    const { metrics } = await new Trainer({ config, container }).run();
    expect(metrics.stoppedEarly).toBe(true);
    expect(metrics.epochsRun).toBeLessThan(6);
    expect(metrics.history[metrics.bestEpoch].improved).toBe(true);
  });

  it('resumes a run: one epoch, then --resume to two, equals two epochs straight', async () => {
    const straightDir = tmp();
    const a = tinySetup({ train: { epochs: 2, earlyStopping: false } });
    const straight = await new Trainer({ ...a, runDir: straightDir }).run();
    const straightWeights = straight.model.getWeights().map((w) => Array.from(w.dataSync()));

    const resumedDir = tmp();
    const b = tinySetup({ train: { epochs: 1, earlyStopping: false } });
    await new Trainer({ ...b, runDir: resumedDir }).run();
    const logger = createMemoryLogger();
    const c = tinySetup({ train: { epochs: 2, earlyStopping: false } }, logger);
    const resumed = await new Trainer({ ...c, runDir: resumedDir, resume: true }).run();
    expect(logger.lines.some((l) => l.message.startsWith('resuming from'))).toBe(true);
    expect(resumed.metrics.history.map((h) => h.trainLoss)).toEqual(straight.metrics.history.map((h) => h.trainLoss));
    resumed.model.getWeights().forEach((w, i) => {
      const values = w.dataSync();
      straightWeights[i].forEach((v, j) => expect(values[j]).toBeCloseTo(v, 6));
    });
  });

  it('--resume on a run killed before its first checkpoint starts over in the same folder', async () => {
    const runDir = tmp();
    const logger = createMemoryLogger();
    const { metrics } = await new Trainer({ ...tinySetup({ train: { epochs: 1 } }, logger), runDir, resume: true }).run();
    expect(metrics.history).toHaveLength(1);
    expect(logger.lines.some((l) => l.level === 'warn' && /nothing to resume/.test(l.message))).toBe(true);
  });

  it('stops between steps when asked, keeping the last epoch checkpoint for --resume', async () => {
    const runDir = tmp();
    await new Trainer({ ...tinySetup({ train: { epochs: 2, earlyStopping: false } }), runDir }).run();
    const stateBefore = readFileSync(path.join(runDir, 'checkpoints', 'last', 'state.json'), 'utf8');
    let steps = 0;
    const again = tinySetup({ train: { epochs: 5, earlyStopping: false } });
    const result = await new Trainer({ ...again, runDir, resume: true, onProgress: () => void steps++, shouldStop: () => steps >= 1 }).run();
    expect(result.metrics.interrupted).toBe(true);
    expect(result.metrics.epochsRun).toBe(2);
    // The interrupted epoch wrote nothing: the last checkpoint is the one of epoch 2, whole.
    expect(readFileSync(path.join(runDir, 'checkpoints', 'last', 'state.json'), 'utf8')).toBe(stateBefore);
    expect(existsSync(path.join(runDir, 'checkpoints', 'last', 'COMPLETE'))).toBe(true);
  });

  it('a resumed run drops the log lines of epochs after its checkpoint, so every epoch is logged once', async () => {
    const runDir = tmp();
    await new Trainer({ ...tinySetup({ train: { epochs: 1, earlyStopping: false } }), runDir }).run();
    // A stop between writing epoch 2's log line and its checkpoint: the line is there, the checkpoint is epoch 1's.
    const log = path.join(runDir, 'log.jsonl');
    const first = readFileSync(log, 'utf8');
    writeFileSync(log, first + JSON.stringify({ ...JSON.parse(first), epoch: 1 }) + '\n');
    await new Trainer({ ...tinySetup({ train: { epochs: 3, earlyStopping: false } }), runDir, resume: true }).run();
    expect(readFileSync(log, 'utf8').trim().split('\n').map((l) => JSON.parse(l).epoch)).toEqual([0, 1, 2]);
    expect(readFileSync(log, 'utf8').startsWith(first)).toBe(true);
  });

  it('a run folder taken by another attempt (its lock names another token) stops the run before its next write', async () => {
    const runDir = tmp();
    await new Trainer({ ...tinySetup({ train: { epochs: 1, earlyStopping: false } }), runDir }).run();
    writeRunLock(runDir, { token: 'mine', worker: 'w1', job: 'sweep/run', attempt: 1, since: new Date().toISOString() });
    const files = () => Object.fromEntries(['log.jsonl', 'metrics.json', 'checkpoints/last/state.json', 'checkpoints/last/weights.bin'].map((f) => [f, readFileSync(path.join(runDir, f), 'utf8')]));
    const before = files();
    let steps = 0;
    const run = new Trainer({
      ...tinySetup({ train: { epochs: 3, earlyStopping: false } }),
      runDir,
      resume: true,
      // Another worker takes the folder over after the first step of the resumed run.
      onProgress: () => {
        if (++steps === 1) writeRunLock(runDir, { token: 'theirs', worker: 'w2', job: 'sweep/run', attempt: 2, since: new Date().toISOString() });
      },
      ownsRunDir: () => readRunLock(runDir)?.token === 'mine',
    }).run();
    await expect(run).rejects.toThrow(RunFolderLostError);
    await expect(run).rejects.toThrow(/is no longer this process's \(worker w2 holds it for attempt 2 of job sweep\/run\): stopped without writing/);
    expect(steps).toBe(1);
    // Nothing after the takeover: the log, metrics.json and the checkpoint are epoch 1's.
    expect(files()).toEqual(before);
    // Not ours from the start: nothing at all is written, not even config.yaml.
    const other = tmp();
    writeRunLock(other, { token: 'theirs', worker: 'w2', job: 'sweep/run', attempt: 2, since: new Date().toISOString() });
    await expect(new Trainer({ ...tinySetup({ train: { epochs: 1 } }), runDir: other, ownsRunDir: () => false }).run()).rejects.toThrow(RunFolderLostError);
    expect(readdirSync(other)).toEqual(['.lock']);
  });

  it('model.freezeBackbone trains only the classifier for the first epochs', async () => {
    const { config, container } = tinySetup({ model: { backbone: 'tiny', freezeBackbone: 1 }, train: { epochs: 1, earlyStopping: false } });
    const { model } = await new Trainer({ config, container }).run();
    const fresh = buildModelForConfig(config, 3, [], { logger: silentLogger, container, rng: new Rng(0) }, container.get(TOKENS.BackboneRegistry));
    initializeKernels(fresh, new Rng(config.seed).fork('init'));
    const value = (m: typeof model, name: string) => Array.from(m.getLayer(name).getWeights()[0].dataSync());
    expect(value(model, 'conv')).toEqual(value(fresh, 'conv'));
    expect(value(model, 'predictions')).not.toEqual(value(fresh, 'predictions'));
  });

  it('model.weights loads a checkpoint by layer name before training, and says how many layers it took', async () => {
    const first = tmp();
    const trained = await new Trainer({ ...tinySetup({ train: { epochs: 1 } }), runDir: first }).run();
    const logger = createMemoryLogger();
    const next = tinySetup({ model: { backbone: 'tiny', weights: path.join(first, 'checkpoints', 'best') }, train: { epochs: 1, optimizer: { lr: 1e-12 } } }, logger);
    const { model } = await new Trainer(next).run();
    expect(logger.lines.some((l) => /pretrained weights: loaded 3 of 3 layers/.test(l.message))).toBe(true);
    const kernel = (m: typeof model) => Array.from(m.getLayer('conv').getWeights()[0].dataSync());
    kernel(trained.model).forEach((v, i) => expect(kernel(model)[i]).toBeCloseTo(v, 5));
  });

  it('train.classWeights: balanced weights each sample by n / (k * count of its class), and a balanced sampler trains', async () => {
    const base = memorySource();
    // Drop 4 of the 6 training samples of class c0: counts 2, 6, 6.
    const skewed: DataSource = {
      ...base,
      async load(split, options) {
        const set = await base.load(split, options);
        if (split !== 'train') return set;
        const keep = Array.from(set.labels.keys()).filter((i) => set.labels[i] !== 0 || i < 6);
        const px = set.size * set.size * 3;
        const images = new Uint8Array(keep.length * px);
        keep.forEach((i, j) => images.set(set.images.subarray(i * px, (i + 1) * px), j * px));
        return { ...set, images, labels: Int32Array.from(keep, (i) => set.labels[i]), count: keep.length };
      },
    };
    const logger = createMemoryLogger();
    const { metrics } = await new Trainer(tinySetup({ train: { epochs: 1, classWeights: 'balanced', sampler: 'balanced' } }, logger, skewed)).run();
    const line = logger.lines.find((l) => l.message === 'class weights (balanced)');
    expect(line?.fields).toEqual({ c0: +(14 / 6).toFixed(3), c1: +(14 / 18).toFixed(3), c2: +(14 / 18).toFixed(3) });
    expect(Number.isFinite(metrics.history[0].trainLoss)).toBe(true);
  });

  it('keeps the tensor count flat across epochs', async () => {
    const { config, container } = tinySetup({ train: { epochs: 1, earlyStopping: false } });
    const before = tf.memory().numTensors;
    const { model } = await new Trainer({ config, container }).run();
    // What remains is the model's own variables and the optimizer's state.
    const owned = model.weights.length + 2 * model.trainableWeights.length + 2;
    expect(tf.memory().numTensors - before).toBeLessThanOrEqual(owned);
    model.dispose();
  });
});
