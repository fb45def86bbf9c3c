import * as tf from '@tensorflow/tfjs-core';
import { createTrainStep, OptionsError, PluginRegistry, resolvePlugins, Rng, silentLogger, type PluginContext } from '@fermix/core';
import mixup from '@fermix/plugin-mixup';
import { beforeAll, describe, expect, it } from 'vitest';
import cutmixDefault, { cutmix, cutmixBatch, drawCutmix, parseCutmixOptions, sampleBox } from '../src/index.js';
import { randomBatch, tinyModel, useCpu } from './helpers.js';

beforeAll(useCpu);

function context(rng: Rng, drawn: Record<string, unknown>): PluginContext {
  return { step: 0, epoch: 0, rng, logger: silentLogger, container: {} as PluginContext['container'], record: (k, v) => (drawn[k] = v) };
}

function optionsError(raw: unknown): OptionsError {
  try {
    parseCutmixOptions(raw);
  } catch (err) {
    if (err instanceof OptionsError) return err;
    throw err;
  }
  throw new Error(`no OptionsError for ${JSON.stringify(raw)}`);
}

describe('cutmix options', () => {
  it('defaults: alpha 1, p 1', () => {
    expect(parseCutmixOptions({})).toEqual({ alpha: 1, p: 1 });
    expect(parseCutmixOptions(undefined)).toEqual({ alpha: 1, p: 1 });
  });

  it('a bad value names its path, the value found and what was expected', () => {
    const alpha = optionsError({ alpha: 0 });
    expect(alpha.issues).toEqual([{ path: ['alpha'], expected: 'a number > 0', found: 0 }]);
    expect(alpha.message).toMatch(/alpha: expected a number > 0, found 0/);
    expect(optionsError({ p: 1.5 }).issues[0]).toMatchObject({ path: ['p'], expected: 'a number <= 1', found: 1.5 });
    expect(optionsError({ alpha: 'one' }).issues[0]).toMatchObject({ path: ['alpha'], found: 'one' });
  });

  it('an unknown key is reported as such', () => {
    const err = optionsError({ aplha: 1 });
    expect(err.issues[0].path).toEqual(['aplha']);
    expect(err.issues[0].expected).toMatch(/unknown option/);
  });

  it('the factory validates too', () => {
    expect(() => cutmix({ alpha: -1 })).toThrow(OptionsError);
  });
});

describe('cutmix plugin', () => {
  it('is the default export, declares apiVersion 1 and its conflicts with mixup and mixaugment', () => {
    expect(cutmixDefault).toBe(cutmix);
    expect(cutmix.parseOptions).toBe(parseCutmixOptions);
    const plugin = cutmix();
    expect(plugin.name).toBe('cutmix');
    expect(plugin.apiVersion).toBe(1);
    expect(plugin.conflicts?.map((c) => c.name)).toEqual(['mixup', 'mixaugment']);
  });

  it('replaces the real view with its CutMix, drawn from the context generator, and records what it drew', () => {
    const { x, y } = randomBatch(2, 5, 8);
    const drawn: Record<string, any> = {};
    const out = cutmix({ alpha: 0.5 }).transformBatch!({ views: { real: { x, y, weight: 1 } } }, context(new Rng(9), drawn));
    // The draws, in order, from the same seed: the p uniform, lam, the pairing, the box centre.
    const check = new Rng(9);
    check.uniform();
    const lam = check.beta(0.5, 0.5);
    const perm = Array.from(check.permutation(5));
    const box = sampleBox(8, 8, lam, check);
    expect(drawn).toEqual({ applied: true, lam: 1 - ((box.y1 - box.y0) * (box.x1 - box.x0)) / 64, box, perm });
    const expected = cutmixBatch(x, y, box, perm);
    expect(Array.from(out.views.real.x.dataSync())).toEqual(Array.from(expected.x.dataSync()));
    expect(Array.from(out.views.real.y.dataSync())).toEqual(Array.from(expected.y.dataSync()));
    expect(out.views.real.weight).toBe(1);
    tf.dispose([x, y, out.views.real.x, out.views.real.y, expected.x, expected.y]);
  });

  it('p 0 leaves the batch alone (and says so); p applies per batch', () => {
    const { x, y } = randomBatch(3, 4, 6);
    const batch = { views: { real: { x, y, weight: 1 } } };
    const drawn: Record<string, unknown> = {};
    expect(cutmix({ p: 0 }).transformBatch!(batch, context(new Rng(1), drawn))).toBe(batch);
    expect(drawn.applied).toBe(false);
    expect(drawn.lam).toBe(1);
    const rng = new Rng(2);
    let applied = 0;
    for (let k = 0; k < 400; k++) applied += drawCutmix(4, 6, 6, { alpha: 1, p: 0.3 }, rng).applied ? 1 : 0;
    expect(applied / 400).toBeGreaterThan(0.22);
    expect(applied / 400).toBeLessThan(0.38);
    tf.dispose([x, y]);
  });

  it('mixes per-sample weights like the labels and keeps other views', () => {
    const { x, y } = randomBatch(3, 3, 6);
    const w = tf.tensor1d([1, 2, 4]);
    const drawn: Record<string, any> = {};
    const other = { x, y, weight: 0.5 };
    const out = cutmix({ alpha: 1 }).transformBatch!({ views: { real: { x, y, weight: w }, other } }, context(new Rng(4), drawn));
    expect(out.views.other).toBe(other);
    const { lam, perm } = drawn as { lam: number; perm: number[] };
    const weights = Array.from((out.views.real.weight as tf.Tensor).dataSync());
    const base = [1, 2, 4];
    weights.forEach((v, i) => expect(v).toBeCloseTo(lam * base[i] + (1 - lam) * base[perm[i]], 5));
    tf.dispose([x, y, w, out.views.real.x, out.views.real.y, out.views.real.weight as tf.Tensor]);
  });

  it('through createTrainStep on a tiny model: finite loss, one term, no tensor leak over 20 steps, and the same seed repeats', () => {
    const run = (seed: number) => {
      const model = tinyModel(1);
      const { x, y } = randomBatch(5, 6, 8);
      const step = createTrainStep({ model, optimizer: tf.train.sgd(0.05), plugins: [cutmix({ alpha: 1 })], seed });
      const first = step({ x, y });
      const before = tf.memory().numTensors;
      const results = [first];
      for (let k = 0; k < 19; k++) results.push(step({ x, y }, { epoch: 0 }));
      expect(tf.memory().numTensors).toBe(before);
      tf.dispose([x, y]);
      model.dispose();
      return results;
    };
    const a = run(7);
    for (const r of a) {
      expect(Number.isFinite(r.loss)).toBe(true);
      expect(Object.keys(r.terms)).toEqual(['real']);
      expect(r.drawn.cutmix.applied).toBe(true);
    }
    expect(new Set(a.map((r) => r.drawn.cutmix.lam)).size).toBeGreaterThan(1);
    const b = run(7);
    expect(b.map((r) => r.drawn.cutmix)).toEqual(a.map((r) => r.drawn.cutmix));
    expect(b.map((r) => r.loss)).toEqual(a.map((r) => r.loss));
  });

  it('resolvePlugins rejects it next to mixup, with the reason', async () => {
    const registry = new PluginRegistry().register('mixup', mixup).register('cutmix', cutmix);
    const err = await resolvePlugins({ plugins: ['mixup', 'cutmix'], baseDir: process.cwd() }, registry, () => undefined).catch((e: Error) => e);
    expect((err as Error).message).toMatch(/at most one of cutmix and mixup: both replace the real batch/);
  });
});
