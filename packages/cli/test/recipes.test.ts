import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { ConfigError, validateConfig } from '@fermix/core';
import { readSweepFile } from '../src/sweep/spec.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '../../..');
const bin = path.join(root, 'packages/cli/src/bin.ts');
const tsx = path.join(root, 'node_modules/.bin/tsx');

function fermix(args: string[], cwd: string) {
  const r = spawnSync(tsx, ['--conditions=fermix-source', bin, ...args], { cwd, encoding: 'utf8', env: { ...process.env, CI: 'true' }, timeout: 300_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** A modern recipe on tiny synthetic data: AdamW, cosine with warmup, clipping, EMA, label smoothing + mixup, flip TTA. */
const modernConfig = `seed: 3
backend: wasm
data:
  format: synthetic
  imageSize: 16
  trainPerClass: 4
  testPerClass: 2
model:
  backbone: small-cnn
  options: { widths: [4], convsPerStage: 1 }
train:
  epochs: 2
  batchSize: 8
  bnRecalibrationBatches: 2
  earlyStopping: false
  optimizer: { name: adamw, lr: 0.003, weightDecay: 0.05, noDecayForNormAndBias: true }
  schedule: { name: cosine, warmupSteps: 2, minLr: 0.00001 }
  clipNorm: 5
  ema: { decay: 0.9 }
eval:
  tta: [flip]
plugins:
  - label-smoothing: { epsilon: 0.1 }
  - mixup: { alpha: 0.4 }
`;

describe('fermix with optimizers, schedules, label smoothing, EMA and TTA', () => {
  it('trains the modern recipe from YAML, records lr and TTA, and fermix eval reproduces the best epoch with the same TTA', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'fermix-recipe-'));
    writeFileSync(path.join(dir, 'fermix.config.yaml'), modernConfig);
    const trained = fermix(['train', '--out', 'run'], dir);
    expect(trained.code, trained.stderr).toBe(0);
    const run = path.join(dir, 'run');
    const metrics = JSON.parse(readFileSync(path.join(run, 'metrics.json'), 'utf8'));
    expect(metrics.tta).toEqual(['flip']);
    expect(metrics.emaDecay).toBe(0.9);
    // 28 images in batches of 8: 4 steps an epoch; epoch 1 starts in the warmup, epoch 2 on the cosine.
    expect(metrics.history[0].lr).toBeCloseTo(0.003 * 0.01, 10);
    expect(metrics.history[1].lr).toBeLessThan(0.003);
    expect(metrics.history[1].lr).toBeGreaterThan(0.001);

    const evaluated = fermix(['eval', '-c', path.join(run, 'config.yaml'), '--checkpoint', path.join(run, 'checkpoints/best'), '--json', 'eval.json'], dir);
    expect(evaluated.code, evaluated.stderr).toBe(0);
    expect(evaluated.stdout).toContain('test-time augmentation: flip');
    const again = JSON.parse(readFileSync(path.join(dir, 'eval.json'), 'utf8'));
    expect(again.tta).toEqual(['flip']);
    expect(again.accuracy).toBeCloseTo(metrics.accuracy, 6);
    expect(again.loss).toBeCloseTo(metrics.loss, 5);

    const plain = fermix(['eval', '-c', path.join(run, 'config.yaml'), '--checkpoint', path.join(run, 'checkpoints/best'), '--tta', 'none', '--json', 'plain.json'], dir);
    expect(plain.code, plain.stderr).toBe(0);
    const noTta = JSON.parse(readFileSync(path.join(dir, 'plain.json'), 'utf8'));
    expect(noTta.tta).toEqual([]);
    expect(noTta.loss).not.toBeCloseTo(metrics.loss, 5);
  });

  it('refuses an unknown optimizer at its YAML path before anything starts', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'fermix-recipe-'));
    writeFileSync(path.join(dir, 'fermix.config.yaml'), modernConfig.replace('name: adamw', 'name: lamb'));
    const refused = fermix(['train', '--out', 'run'], dir);
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toMatch(/train\.optimizer\.name \(fermix\.config\.yaml:16:\d+\): expected one of sgd \| adam \| adamw \| rmsprop, found "lamb"/);
  });
});

describe('examples of the modern recipe', () => {
  const examples = path.resolve(root, 'examples');

  it('rafdb-modern and fer2013-mini/modern.yaml are valid configs with AdamW, cosine warmup, label smoothing, mixaugment + flip and flip TTA', async () => {
    const { loadConfig } = await import('@fermix/core');
    for (const file of ['rafdb-modern/fermix.config.yaml', 'fer2013-mini/modern.yaml']) {
      const config = await loadConfig({ file: path.join(examples, file) });
      expect(config.train.optimizer.name).toBe('adamw');
      expect(config.train.schedule).toMatchObject({ name: 'cosine' });
      expect(config.train.schedule.warmupEpochs).toBeGreaterThan(0);
      expect(config.eval.tta).toEqual(['flip']);
      expect(config.plugins.map((p) => (typeof p === 'string' ? p : Object.keys(p)[0]))).toEqual(['flip', 'label-smoothing', 'mixaugment']);
    }
  });

  it('the optimizer sweep expands into valid configs, 3 optimizers x 3 schedules x 3 seeds', () => {
    const sweep = readSweepFile(path.join(examples, 'rafdb-modern/optimizers.sweep.yaml'));
    expect(sweep.runs).toHaveLength(27);
    for (const run of sweep.runs) expect(() => validateConfig(run.config, { baseDir: path.join(examples, 'rafdb-modern') })).not.toThrow();
  });
});

describe('a sweep over optimizers and schedules', () => {
  const base = `seed: 2
data: { format: synthetic, imageSize: 16 }
train:
  epochs: 10
  optimizer: { name: sgd, lr: 0.01, momentum: 0.9, nesterov: true, weightDecay: 0.0005 }
  schedule: { name: cosine, warmupEpochs: 1, minLr: 0.0001, milestones: [5, 8] }
`;

  it('varies train.optimizer.name and train.schedule.name; each run keeps only the options of what it names', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'fermix-sweep-'));
    writeFileSync(path.join(dir, 'base.yaml'), base);
    writeFileSync(path.join(dir, 's.yaml'), 'base: base.yaml\nset:\n  train.optimizer.betas: [0.9, 0.99]\ngrid:\n  train.optimizer.name: [sgd, adamw]\n  train.schedule.name: [constant, step, cosine]\n');
    const sweep = readSweepFile(path.join(dir, 's.yaml'));
    expect(sweep.runs.map((r) => r.name)).toEqual([
      'optimizer-sgd_schedule-constant',
      'optimizer-sgd_schedule-step',
      'optimizer-sgd_schedule-cosine',
      'optimizer-adamw_schedule-constant',
      'optimizer-adamw_schedule-step',
      'optimizer-adamw_schedule-cosine',
    ]);
    const configs = Object.fromEntries(sweep.runs.map((r) => [r.name, validateConfig(r.config, { baseDir: dir })]));
    expect(configs['optimizer-sgd_schedule-step'].train.optimizer).toEqual({ name: 'sgd', lr: 0.01, momentum: 0.9, nesterov: true, weightDecay: 0.0005, noDecayForNormAndBias: false });
    expect(configs['optimizer-sgd_schedule-step'].train.schedule).toEqual({ name: 'step', milestones: [5, 8] });
    expect(configs['optimizer-adamw_schedule-cosine'].train.optimizer).toEqual({ name: 'adamw', lr: 0.01, betas: [0.9, 0.99], weightDecay: 0.0005, noDecayForNormAndBias: false });
    expect(configs['optimizer-adamw_schedule-cosine'].train.schedule).toEqual({ name: 'cosine', warmupEpochs: 1, minLr: 0.0001 });
    expect(configs['optimizer-adamw_schedule-constant'].train.schedule).toEqual({ name: 'constant' });
  });

  it('refuses an unknown optimizer or schedule in the grid at its path', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'fermix-sweep-'));
    writeFileSync(path.join(dir, 'base.yaml'), base);
    writeFileSync(path.join(dir, 's.yaml'), 'base: base.yaml\ngrid:\n  train.optimizer.name: [sgd, lamb]\n  train.schedule.name: [poly]\n');
    let error: unknown;
    try {
      readSweepFile(path.join(dir, 's.yaml'));
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as Error).message).toMatch(/grid\["train\.optimizer\.name"\]\[1\].*expected an optimizer: sgd \| adam \| adamw \| rmsprop, found "lamb"/);
    expect((error as Error).message).toMatch(/grid\["train\.schedule\.name"\]\[0\].*expected a schedule/);
  });
});
