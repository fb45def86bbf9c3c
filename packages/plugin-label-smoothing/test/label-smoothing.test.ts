import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import * as tfl from '@tensorflow/tfjs-layers';
import { createTrainStep, OptionsError, SGD, type Batch, type FermixPlugin, type StepResult } from '@fermix/core';
import mixaugment from '@fermix/plugin-mixaugment';
import mixup from '@fermix/plugin-mixup';
import { beforeAll, describe, expect, it } from 'vitest';
import labelSmoothingDefault, { labelSmoothing, parseLabelSmoothingOptions, smoothTargets } from '../src/index.js';

beforeAll(async () => {
  await tf.setBackend('cpu');
  await tf.ready();
});

const K = 3;
const LABELS = [0, 2, 1, 1, 0];

function model(): tfl.LayersModel {
  return tfl.sequential({ layers: [tfl.layers.flatten({ inputShape: [2, 2, 3] }), tfl.layers.dense({ units: K, activation: 'softmax', kernelInitializer: 'zeros' })] });
}

function batch() {
  const x = tf.tensor4d(Array.from({ length: LABELS.length * 12 }, (_, i) => (i % 7) / 7), [LABELS.length, 2, 2, 3]);
  const y = tf.tidy(() => tf.cast(tf.oneHot(tf.tensor1d(LABELS, 'int32'), K), 'float32')) as tf.Tensor2D;
  return { x, y };
}

/** timm's `mixup_target`: one-hot targets with on/off values of `smoothing`, then lam y + (1 - lam) y[perm]. */
function timmMixupTarget(labels: number[], lam: number, perm: number[], smoothing: number): number[][] {
  const off = smoothing / K;
  const on = 1 - smoothing + off;
  const oneHot = (c: number) => Array.from({ length: K }, (_, k) => (k === c ? on : off));
  return labels.map((c, i) => oneHot(c).map((v, k) => lam * v + (1 - lam) * oneHot(labels[perm[i]])[k]));
}

/** The batch after every plugin's transformBatch, and what the plugins drew, from one real step. */
function stepWith(plugins: FermixPlugin[]): { views: Record<string, number[][]>; drawn: StepResult['drawn'] } {
  const step = createTrainStep({ model: model(), optimizer: new SGD(0.1), plugins, seed: 5 });
  let seen: { views: Record<string, number[][]>; drawn: StepResult['drawn'] } | null = null;
  step.inspect = (b: Batch, drawn) => {
    seen = { views: Object.fromEntries(Object.entries(b.views).map(([name, v]) => [name, v.y.arraySync()])), drawn: structuredClone(drawn) };
  };
  const { x, y } = batch();
  step({ x, y });
  tf.dispose([x, y]);
  return seen!;
}

function expectRowsClose(actual: number[][], expected: number[][]): void {
  expect(actual.length).toBe(expected.length);
  actual.forEach((row, i) => row.forEach((v, k) => expect(v).toBeCloseTo(expected[i][k], 6)));
}

describe('label-smoothing plugin', () => {
  it('smooths one-hot targets to 1 - eps + eps/K on the class and eps/K elsewhere', () => {
    const y = tf.tensor2d([
      [1, 0, 0],
      [0, 0, 1],
    ]);
    const s = smoothTargets(y, 0.1);
    expectRowsClose(s.arraySync(), [
      [0.9 + 0.1 / 3, 0.1 / 3, 0.1 / 3],
      [0.1 / 3, 0.1 / 3, 0.9 + 0.1 / 3],
    ]);
    tf.dispose([y, s]);
  });

  it('is the default export, named label-smoothing, and smooths every view', () => {
    expect(labelSmoothingDefault).toBe(labelSmoothing);
    expect(labelSmoothing().name).toBe('label-smoothing');
    const { views } = stepWith([labelSmoothing({ epsilon: 0.2 })]);
    expectRowsClose(views.real, timmMixupTarget(LABELS, 1, LABELS.map((_, i) => i), 0.2));
  });

  it('with mixup, targets are smoothed then mixed, as timm mixup_target, whichever comes first in the list', () => {
    for (const plugins of [
      [labelSmoothing({ epsilon: 0.1 }), mixup({ alpha: 1 })],
      [mixup({ alpha: 1 }), labelSmoothing({ epsilon: 0.1 })],
    ]) {
      const { views, drawn } = stepWith(plugins);
      const { lam, perm } = drawn.mixup as { lam: number; perm: number[] };
      expect(lam).toBeGreaterThan(0.05);
      expect(lam).toBeLessThan(0.95);
      expectRowsClose(views.real, timmMixupTarget(LABELS, lam, perm, 0.1));
    }
  });

  it('with mixaugment, the real view is smoothed and the virtual view is the mix of smoothed targets', () => {
    const { views, drawn } = stepWith([labelSmoothing({ epsilon: 0.1 }), mixaugment({ alpha: 1 })]);
    const { lam, perm } = drawn.mixaugment as { lam: number; perm: number[] };
    expectRowsClose(views.real, timmMixupTarget(LABELS, 1, perm, 0.1));
    expectRowsClose(views.virtual, timmMixupTarget(LABELS, lam, perm, 0.1));
  });

  it('refuses an epsilon outside [0, 1), naming the option', () => {
    expect(() => parseLabelSmoothingOptions({ epsilon: 1 })).toThrow(OptionsError);
    expect(() => parseLabelSmoothingOptions({ epsilon: -0.1 })).toThrow(/epsilon/);
    expect(() => parseLabelSmoothingOptions({ eps: 0.1 })).toThrow(/eps: expected no such key/);
  });

  it('leaves no tensor behind in a step', () => {
    const step = createTrainStep({ model: model(), optimizer: new SGD(0.1), plugins: [labelSmoothing(), mixup()] });
    const { x, y } = batch();
    step({ x, y });
    const before = tf.memory().numTensors;
    step({ x, y });
    step({ x, y });
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([x, y]);
  });
});
