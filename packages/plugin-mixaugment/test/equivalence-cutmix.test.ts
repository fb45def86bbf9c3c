/**
 * MixAugment with CutMix trains on the paper's three-term loss with the virtual sample made by
 * CutMix: one createTrainStep step with `mix: cutmix` (or `mix: mixup-cutmix`) has the loss and every
 * gradient of L = CCE(y~, p(x~)) + CCE(y_i, p(x_i)) + CCE(y_j, p(x_j)) computed with three separate
 * forward passes, x~ built here on the host from the box, lam and pairing the step reports in
 * `drawn`. Same models and modes as equivalence.test.ts (see there why batch norm runs in inference
 * mode, and in training mode only with `separate`).
 */
import * as tf from '@tensorflow/tfjs-core';
import { createTrainStep } from '@fermix/core';
import { beforeAll, describe, expect, it } from 'vitest';
import { mixaugment, type MixAugmentOptionsInput } from '../src/index.js';
import { CaptureGradients, cutmixVirtualByHand, maxAbsDiff, randomBatch, threePassLoss, tinyModel, useCpu } from './helpers.js';

beforeAll(useCpu);

const TOL = 1e-5;

type Drawn = { lam: number | number[]; cut: boolean | boolean[]; box: { y0: number; x0: number; y1: number; x1: number } | { y0: number; x0: number; y1: number; x1: number }[]; perm: number[] };

function runCase(options: MixAugmentOptionsInput, model: 'no batch norm' | 'batch norm, inference mode' | 'batch norm, training mode', seed: number, n = 6) {
  const training = model !== 'batch norm, inference mode';
  const net = tinyModel({ seed, batchNorm: model !== 'no batch norm' });
  const { x, y } = randomBatch(seed + 100, n);
  const optimizer = new CaptureGradients();
  const result = createTrainStep({ model: net, optimizer, plugins: [mixaugment(options)], seed, training })({ x, y });
  const drawn = result.drawn.mixaugment as Drawn;
  const { xt, yt, lam } = cutmixVirtualByHand(x, y, drawn);
  const reference = threePassLoss(net, x, y, xt, yt, drawn.perm, training);
  tf.dispose([x, y, xt, yt]);
  expect(Math.abs(result.loss - reference.loss)).toBeLessThan(TOL);
  const names = net.trainableWeights.map((w) => (w.read() as tf.Variable).name);
  expect(Object.keys(optimizer.grads).sort()).toEqual([...names].sort());
  for (const name of names) {
    const diff = maxAbsDiff(optimizer.grads[name], reference.grads[name]);
    if (!(diff < TOL)) throw new Error(`gradient of ${name} differs by ${diff}`);
  }
  const moving = names.filter((name) => Math.max(...Array.from(optimizer.grads[name], Math.abs)) > 1e-4);
  expect(moving.length).toBeGreaterThanOrEqual(names.length - 1);
  // The step's lam is the area-corrected one.
  const recorded = Array.isArray(drawn.lam) ? drawn.lam : Array(n).fill(drawn.lam);
  recorded.forEach((l, i) => expect(Math.abs(l - lam[i])).toBeLessThan(1e-12));
  return { result, drawn };
}

describe('mixaugment with mix: cutmix = the paper three-pass loss and gradients, x~ made by CutMix (1e-5)', () => {
  for (const model of ['no batch norm', 'batch norm, inference mode'] as const) {
    for (const forward of ['joint', 'separate'] as const) {
      for (const pairing of ['permutation', 'reverse'] as const) {
        it(`${model}, forward ${forward}, pairing ${pairing}`, () => {
          // On 6x6 images a small 1 - lam rounds to an empty box: keep going until two seeds cut a real box.
          let real = 0;
          for (let seed = 1; real < 2 && seed <= 10; seed++) {
            const { result, drawn } = runCase({ mix: 'cutmix', alpha: 1, forward, pairing }, model, seed);
            expect(drawn.cut).toBe(true);
            expect(Object.keys(result.terms)).toEqual(['real', 'virtual']);
            if ((drawn.lam as number) > 0 && (drawn.lam as number) < 1) real++;
          }
          expect(real).toBe(2);
        });
      }
    }
  }

  it("lambda 'sample': one box per sample", () => {
    for (const forward of ['joint', 'separate'] as const) {
      const { drawn } = runCase({ mix: 'cutmix', alpha: 1, forward, lambda: 'sample' }, 'batch norm, inference mode', 3);
      expect(new Set((drawn.box as object[]).map((b) => JSON.stringify(b))).size).toBeGreaterThan(2);
    }
  });

  it('mix: mixup-cutmix per sample, some samples boxed and some blended', () => {
    const { drawn } = runCase({ mix: 'mixup-cutmix', alpha: 0.8, cutmixAlpha: 1, switchProb: 0.5, lambda: 'sample', forward: 'separate' }, 'batch norm, inference mode', 5, 8);
    const cut = drawn.cut as boolean[];
    expect(cut.some(Boolean) && !cut.every(Boolean)).toBe(true);
  });

  it('mix: mixup-cutmix per batch, with each method (switchProb 1 and 0)', () => {
    expect(runCase({ mix: 'mixup-cutmix', alpha: 0.8, cutmixAlpha: 1, switchProb: 1 }, 'no batch norm', 6).drawn.cut).toBe(true);
    expect(runCase({ mix: 'mixup-cutmix', alpha: 0.8, cutmixAlpha: 1, switchProb: 0 }, 'no batch norm', 6).drawn.cut).toBe(false);
  });

  it('batch norm in TRAINING mode: separate forwarding is still exactly the three-pass loss', () => {
    for (const pairing of ['permutation', 'reverse'] as const) runCase({ mix: 'cutmix', alpha: 1, forward: 'separate', pairing }, 'batch norm, training mode', 4);
  });
});
