import * as tf from '@tensorflow/tfjs-core';
import { createTrainStep, OptionsError, Rng, silentLogger, type Batch, type PluginContext } from '@fermix/core';
import { beforeAll, describe, expect, it } from 'vitest';
import mixupDefault, { mixup, mixupBatch, parseMixupOptions, sampleBeta } from '../src/index.js';
import { expectRowsClose, mixRowsByHand, randomBatch, rows, tinyModel, useCpu } from '../../../test-support/plugin-helpers.js';

beforeAll(useCpu);

function context(rng: Rng, drawn: Record<string, unknown>): PluginContext {
  return { step: 0, epoch: 0, rng, logger: silentLogger, container: {} as PluginContext['container'], record: (k, v) => (drawn[k] = v) };
}

function optionsError(raw: unknown): OptionsError {
  try {
    parseMixupOptions(raw);
  } catch (err) {
    if (err instanceof OptionsError) return err;
    throw err;
  }
  throw new Error(`no OptionsError for ${JSON.stringify(raw)}`);
}

describe('mixup plugin', () => {
  it('is the default export, declares apiVersion 1 and its conflict with mixaugment', () => {
    expect(mixupDefault).toBe(mixup);
    const plugin = mixup();
    expect(plugin.name).toBe('mixup');
    expect(plugin.apiVersion).toBe(1);
    expect(plugin.conflicts?.map((c) => c.name)).toEqual(['mixaugment']);
    expect(plugin.conflicts?.[0].reason).toMatch(/virtual/);
  });

  it('replaces the real view with its mixup and records lam and perm (plain values)', () => {
    const { x, y } = randomBatch(2, 5);
    const drawn: Record<string, unknown> = {};
    const plugin = mixup({ alpha: 0.6 });
    const out = plugin.transformBatch!({ views: { real: { x, y, weight: 1 } } }, context(new Rng(9), drawn));
    expect(Object.keys(out.views)).toEqual(['real']);
    const { lam, perm } = drawn as { lam: number; perm: number[] };
    expect(typeof lam).toBe('number');
    expect(Array.isArray(perm)).toBe(true);
    // Drawn from the context's generator: lam first, then the permutation.
    const check = new Rng(9);
    expect(lam).toBe(sampleBeta(0.6, check));
    expect(perm).toEqual(Array.from(check.permutation(5)));
    expectRowsClose(rows(out.views.real.x), mixRowsByHand(rows(x), lam, perm), 1e-6);
    expectRowsClose(rows(out.views.real.y), mixRowsByHand(rows(y), lam, perm), 1e-6);
    expect(out.views.real.weight).toBe(1);
    tf.dispose([x, y, out.views.real.x, out.views.real.y]);
  });

  it("lambda 'sample' draws a different lam per sample; 'reverse' pairs i with n-1-i", () => {
    const { x, y } = randomBatch(3, 5);
    const drawn: Record<string, unknown> = {};
    const out = mixup({ alpha: 1, lambda: 'sample', pairing: 'reverse' }).transformBatch!({ views: { real: { x, y, weight: 1 } } }, context(new Rng(4), drawn));
    const { lam, perm } = drawn as { lam: number[]; perm: number[] };
    expect(lam).toHaveLength(5);
    expect(new Set(lam).size).toBe(5);
    expect(perm).toEqual([4, 3, 2, 1, 0]);
    expectRowsClose(rows(out.views.real.x), mixRowsByHand(rows(x), lam, perm), 1e-6);
    expectRowsClose(rows(out.views.real.y), mixRowsByHand(rows(y), lam, perm), 1e-6);
    tf.dispose([x, y, out.views.real.x, out.views.real.y]);
  });

  it('mixes per-sample weights and keeps other views and the group', () => {
    const { x, y } = randomBatch(3, 4);
    const w = tf.tensor1d([1, 2, 3, 4]);
    const drawn: Record<string, unknown> = {};
    const batch: Batch = { views: { real: { x, y, weight: w, group: 'g' }, other: { x, y, weight: 0.5 } } };
    const out = mixup({ alpha: 1 }).transformBatch!(batch, context(new Rng(4), drawn));
    const { lam, perm } = drawn as { lam: number; perm: number[] };
    expect(out.views.other).toBe(batch.views.other);
    expect(out.views.real.group).toBe('g');
    expectRowsClose([Array.from((out.views.real.weight as tf.Tensor).dataSync())], [perm.map((j, i) => lam * (i + 1) + (1 - lam) * (j + 1))], 1e-5);
    tf.dispose([x, y, w, out.views.real.x, out.views.real.y, out.views.real.weight as tf.Tensor]);
  });

  it('through createTrainStep: the network sees only the mixed batch; loss = CCE(y~, p(x~)); no tensor leaks over 20 steps', () => {
    const model = tinyModel(1);
    const { x, y } = randomBatch(5, 6);
    const step = createTrainStep({ model, optimizer: tf.train.sgd(0), plugins: [mixup({ alpha: 0.4 })], seed: 3 });
    const first = step({ x, y });
    expect(Object.keys(first.terms)).toEqual(['real']);
    const { lam, perm } = first.drawn.mixup as { lam: number; perm: number[] };
    expect(typeof lam).toBe('number');
    expect([...perm].sort()).toEqual([0, 1, 2, 3, 4, 5]);
    // The loss by hand: mean over the batch of -sum y~ log p(x~) (lr 0: the weights did not move).
    const expected = tf.tidy(() => {
      const xt = tf.tensor4d(mixRowsByHand(rows(x), lam, perm).flat(), x.shape);
      const yt = tf.tensor2d(mixRowsByHand(rows(y), lam, perm).flat(), y.shape);
      const p = tf.clipByValue(model.apply(xt, { training: true }) as tf.Tensor, 1e-7, 1 - 1e-7);
      return tf.mean(tf.neg(tf.sum(tf.mul(yt, tf.log(p)), 1))).dataSync()[0];
    });
    expect(first.loss).toBeCloseTo(expected, 5);

    const trained = createTrainStep({ model, optimizer: tf.train.adam(0.01), plugins: [mixup({ alpha: 0.4, lambda: 'sample' })], seed: 3 });
    trained({ x, y });
    const afterFirst = tf.memory().numTensors;
    const lams = new Set<number>();
    for (let i = 0; i < 19; i++) lams.add((trained({ x, y }).drawn.mixup.lam as number[])[0]);
    expect(tf.memory().numTensors).toBe(afterFirst);
    expect(lams.size).toBe(19);
    tf.dispose([x, y]);
  });

  it('the same seed gives the same draws and the same loss', () => {
    const { x, y } = randomBatch(5, 6);
    const run = () => createTrainStep({ model: tinyModel(2), optimizer: tf.train.sgd(0.1), plugins: [mixup({ alpha: 0.2 })], seed: 11 });
    const a = run();
    const b = run();
    for (let i = 0; i < 3; i++) {
      const ra = a({ x, y });
      const rb = b({ x, y });
      expect(ra.drawn).toEqual(rb.drawn);
      expect(ra.loss).toBe(rb.loss);
    }
    tf.dispose([x, y]);
  });

  it('mixupBatch mixes a batch for a plain loop and reports what it drew', () => {
    const { x, y } = randomBatch(6, 4);
    const out = mixupBatch(x, y, new Rng(2), { alpha: 0.3 });
    expectRowsClose(rows(out.x), mixRowsByHand(rows(x), out.lam, out.perm), 1e-6);
    tf.dispose([x, y, out.x, out.y]);
  });
});

describe('mixup options', () => {
  it('defaults: alpha 0.2, one lam per batch, a random permutation', () => {
    expect(parseMixupOptions({})).toEqual({ alpha: 0.2, lambda: 'batch', pairing: 'permutation' });
    expect(parseMixupOptions(undefined)).toEqual({ alpha: 0.2, lambda: 'batch', pairing: 'permutation' });
    expect(mixup.parseOptions).toBe(parseMixupOptions);
  });

  it('alpha <= 0 is an error at path alpha', () => {
    for (const alpha of [0, -0.5]) {
      const err = optionsError({ alpha });
      expect(err.issues).toHaveLength(1);
      expect(err.issues[0].path).toEqual(['alpha']);
      expect(err.issues[0].found).toBe(alpha);
      expect(err.message).toMatch(/alpha: expected a number > 0/);
    }
    expect(optionsError({ alpha: '0.2' }).issues[0].path).toEqual(['alpha']);
    expect(() => mixup({ alpha: 0 })).toThrow(OptionsError);
  });

  it('an unknown key or value names its path', () => {
    const unknown = optionsError({ alpah: 0.2 });
    expect(unknown.issues[0].path).toEqual(['alpah']);
    expect(unknown.issues[0].expected).toMatch(/unknown option/);
    expect(optionsError({ lambda: 'pixel' }).issues[0].path).toEqual(['lambda']);
    expect(optionsError({ pairing: 'random' }).issues[0].path).toEqual(['pairing']);
  });
});

describe('the README plain-loop example', () => {
  it('runs: sampleBeta + samplePairing + mixBatch under optimizer.minimize, without leaks', async () => {
    const { mixBatch, samplePairing } = await import('../src/index.js');
    const { weightedCrossEntropy } = await import('@fermix/core');
    const model = tinyModel(3);
    const { x, y } = randomBatch(4, 6);
    const rng = new Rng(1);
    const optimizer = tf.train.adam(1e-2);
    const losses: number[] = [];
    const loop = () => {
      const lam = sampleBeta(0.2, rng);
      const perm = samplePairing(x.shape[0], 'permutation', rng);
      tf.tidy(() => {
        const mixed = mixBatch(x, y, lam, perm);
        const loss = optimizer.minimize(() => weightedCrossEntropy(mixed.y, model.apply(mixed.x, { training: true }) as tf.Tensor2D, 1), true);
        losses.push(loss!.dataSync()[0]);
      });
    };
    loop();
    const after = tf.memory().numTensors;
    for (let i = 0; i < 5; i++) loop();
    expect(tf.memory().numTensors).toBe(after);
    expect(losses.every(Number.isFinite)).toBe(true);
    tf.dispose([x, y]);
  });
});
