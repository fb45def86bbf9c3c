/**
 * fermix's optimizers, schedules and clipping against PyTorch 1.13: the trajectories recorded by
 * scripts/torch-reference.py (fixtures/torch/*.json), replayed through createTrainStep on the same
 * network, data and initial weights. Parameters after 50 and 100 steps, and the lr of every step,
 * must agree to 1e-5 relative (max |fermix - torch| over a tensor / max |torch| over it).
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { beforeAll, describe, expect, it } from 'vitest';
import { createOptimizer, type OptimizerSettings } from '../src/train/optimizers.js';
import { createSchedule, type ScheduleSettings } from '../src/train/schedules.js';
import { createTrainStep } from '../src/train/step.js';
import { useCpu } from './helpers.js';

const dir = path.join(path.dirname(fileURLToPath(import.meta.url)), 'fixtures', 'torch');
const TOLERANCE = 1e-5;

interface Problem {
  torch: string;
  steps: number;
  stepsPerEpoch: number;
  epochs: number;
  shapes: Record<string, number[]>;
  xs: number[][];
  ys: number[][];
  init: Record<string, number[]>;
}
interface Case {
  name: string;
  optimizer: OptimizerSettings & { noDecayForNormAndBias?: boolean };
  schedule?: ScheduleSettings;
  clipNorm?: number;
  plateauMetrics?: number[];
  lrs: number[];
  losses: number[];
  params: Record<string, Record<string, number[]>>;
}

const read = <T>(file: string): T => JSON.parse(readFileSync(path.join(dir, file), 'utf8')) as T;
const problem = read<Problem>('problem.json');
const cases = readdirSync(dir)
  .filter((f) => f.endsWith('.json') && f !== 'problem.json')
  .sort()
  .map((f) => read<Case>(f));
const PARAMS = ['w1', 'b1', 'w2', 'b2'];

/** The fixture's network as a layers model: [B,1,1,5] -> flatten -> dense 6 tanh -> dense 3 softmax. */
function network(): tfl.LayersModel {
  const [d, h] = problem.shapes.w1;
  const k = problem.shapes.w2[1];
  const model = tfl.sequential({
    layers: [
      tfl.layers.flatten({ inputShape: [1, 1, d] }),
      tfl.layers.dense({ units: h, activation: 'tanh' }),
      tfl.layers.dense({ units: k, activation: 'softmax' }),
    ],
  });
  model.setWeights(PARAMS.map((p) => tf.tensor(problem.init[p], problem.shapes[p])));
  return model;
}

/** max |a - b| / max |b|. */
function relativeDifference(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let diff = 0;
  let scale = 0;
  for (let i = 0; i < b.length; i++) {
    diff = Math.max(diff, Math.abs(a[i] - b[i]));
    scale = Math.max(scale, Math.abs(b[i]));
  }
  return diff / scale;
}

/** Runs a case through createTrainStep; returns the largest relative differences from PyTorch. */
function replay(c: Case): { params: number; lr: number; loss: number } {
  const model = network();
  const optimizer = createOptimizer(c.optimizer);
  const schedule = createSchedule({ mode: 'min', ...(c.schedule ?? { name: 'constant' }) }, { lr: c.optimizer.lr, stepsPerEpoch: problem.stepsPerEpoch, epochs: problem.epochs });
  const step = createTrainStep({ model, optimizer, schedule, clipNorm: c.clipNorm });
  const [b, d] = problem.shapes.x;
  const k = problem.shapes.y[1];
  let worst = { params: 0, lr: 0, loss: 0 };
  for (let t = 0; t < problem.steps; t++) {
    const x = tf.tensor4d(problem.xs[t % problem.xs.length], [b, 1, 1, d]);
    const y = tf.tensor2d(problem.ys[t % problem.ys.length], [b, k]);
    const result = step({ x, y });
    tf.dispose([x, y]);
    worst.lr = Math.max(worst.lr, Math.abs(result.lr! - c.lrs[t]) / c.lrs[t]);
    worst.loss = Math.max(worst.loss, Math.abs(result.loss - c.losses[t]) / Math.abs(c.losses[t]));
    if (c.plateauMetrics && (t + 1) % problem.stepsPerEpoch === 0) schedule.observe!(c.plateauMetrics[Math.floor(t / problem.stepsPerEpoch)]);
    const expected = c.params[String(t + 1)];
    if (expected) {
      model.getWeights().forEach((w, i) => {
        worst.params = Math.max(worst.params, relativeDifference(w.dataSync(), expected[PARAMS[i]]));
      });
    }
  }
  optimizer.dispose();
  model.dispose();
  return worst;
}

beforeAll(useCpu);

describe('optimizers, schedules and clipping equal PyTorch', () => {
  it('has the fixtures of scripts/torch-reference.py for every optimizer and schedule', () => {
    const names = cases.map((c) => c.name);
    for (const name of ['sgd', 'sgd-wd', 'sgd-momentum-wd', 'sgd-nesterov', 'sgd-nesterov-wd', 'adam', 'adam-wd', 'adamw', 'adamw-wd', 'rmsprop', 'rmsprop-momentum-wd', 'clip-norm']) {
      expect(names).toContain(name);
    }
    for (const schedule of ['constant', 'step', 'cosine', 'onecycle', 'exponential', 'plateau']) expect(names).toContain(`schedule-${schedule}`);
    expect(problem.torch).toMatch(/^1\.13/);
  });

  it.each(cases.map((c) => [c.name, c] as const))('%s: 100 steps to 1e-5 relative', (_name, c) => {
    const worst = replay(c);
    console.info(`${c.name}: largest relative difference from PyTorch: params ${worst.params.toExponential(2)}, lr ${worst.lr.toExponential(2)}, loss ${worst.loss.toExponential(2)}`);
    expect(worst.lr).toBeLessThan(1e-9);
    expect(worst.params).toBeLessThan(TOLERANCE);
    expect(worst.loss).toBeLessThan(TOLERANCE);
  });
});
