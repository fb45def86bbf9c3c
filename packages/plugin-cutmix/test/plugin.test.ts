import * as tf from '@tensorflow/tfjs-core';
import { createTrainStep, OptionsError, PluginRegistry, resolvePlugins, Rng } from '@fermix/core';
import { mixup } from '@fermix/plugin-mixup';
import { beforeAll, describe, expect, it } from 'vitest';
import cutmixDefault, { cutmix, cutmixBatchDrawn, drawMixCut, mixupCutmix, parseCutmixOptions, parseMixupCutmixOptions } from '../src/index.js';
import { context, expectRowsClose, mixRowsByHand, randomBatch, rows, tinyModel, useCpu } from '../../../test-support/plugin-helpers.js';

beforeAll(useCpu);

function optionsError(parse: (raw: unknown) => unknown, raw: unknown): OptionsError {
  try {
    parse(raw);
  } catch (err) {
    if (err instanceof OptionsError) return err;
    throw err;
  }
  throw new Error(`no OptionsError for ${JSON.stringify(raw)}`);
}

describe('cutmix and mixup-cutmix plugins', () => {
  it('cutmix is the default export; both declare apiVersion 1 and their conflicts', () => {
    expect(cutmixDefault).toBe(cutmix);
    expect(cutmix().name).toBe('cutmix');
    expect(cutmix().conflicts?.map((c) => c.name)).toEqual(['mixup', 'mixup-cutmix', 'mixaugment']);
    expect(mixupCutmix().name).toBe('mixup-cutmix');
    expect(mixupCutmix().apiVersion).toBe(1);
    expect(mixupCutmix().conflicts?.map((c) => c.name)).toEqual(['mixup', 'mixaugment']);
  });

  it('cutmix replaces the real view and records lam, cut, box and perm drawn from the context generator', () => {
    const { x, y } = randomBatch(2, 5, 8, 3);
    const drawn: Record<string, unknown> = {};
    const out = cutmix({ alpha: 1 }).transformBatch!({ views: { real: { x, y, weight: 1 } } }, context(new Rng(9), drawn));
    const expected = drawMixCut(5, 8, 8, { cutmixAlpha: 1 }, new Rng(9));
    expect(drawn).toEqual({ lam: expected.lam[0], cut: true, box: expected.boxes[0], perm: Array.from(expected.perm) });
    expectRowsClose(rows(out.views.real.y), mixRowsByHand(rows(y), expected.lam[0], expected.perm), 1e-6);
    tf.dispose([x, y, out.views.real.x, out.views.real.y]);
  });

  it('mixup-cutmix records which samples were cut (per sample) and mixes each accordingly', () => {
    const { x, y } = randomBatch(3, 6, 8, 3);
    const drawn: Record<string, unknown> = {};
    const plugin = mixupCutmix({ mode: 'sample', switchProb: 0.5 });
    const out = plugin.transformBatch!({ views: { real: { x, y, weight: 1 } } }, context(new Rng(4), drawn));
    const expected = drawMixCut(6, 8, 8, { mixupAlpha: 0.8, cutmixAlpha: 1, switchProb: 0.5, mode: 'sample' }, new Rng(4));
    expect(drawn.cut).toEqual(expected.cut);
    expect(drawn.lam).toEqual(expected.lam);
    tf.dispose([x, y, out.views.real.x, out.views.real.y]);
  });

  it('through createTrainStep: a seeded run repeats its draws and losses; no tensor leaks over 10 steps', () => {
    const run = () => {
      const model = tinyModel(1, 8, 3);
      const { x, y } = randomBatch(5, 6, 8, 3);
      const step = createTrainStep({ model, optimizer: tf.train.sgd(0.1), plugins: [mixupCutmix({ mode: 'sample' })], seed: 3 });
      step({ x, y });
      const before = tf.memory().numTensors;
      const results = Array.from({ length: 10 }, () => step({ x, y }));
      expect(tf.memory().numTensors).toBe(before);
      tf.dispose([x, y]);
      model.dispose();
      return results;
    };
    const a = run();
    const b = run();
    expect(a.map((r) => r.drawn)).toEqual(b.map((r) => r.drawn));
    expect(a.map((r) => r.loss)).toEqual(b.map((r) => r.loss));
    expect(new Set(a.map((r) => JSON.stringify(r.drawn['mixup-cutmix'].box))).size).toBe(10);
    expect(a.every((r) => Number.isFinite(r.loss))).toBe(true);
  });

  it('cutmixBatchDrawn (plain loops) draws what the plugin draws', () => {
    const { x, y } = randomBatch(6, 4, 8, 3);
    const mine = cutmixBatchDrawn(x, y, new Rng(2), { cutmixAlpha: 1 });
    const drawn: Record<string, unknown> = {};
    const out = cutmix().transformBatch!({ views: { real: { x, y, weight: 1 } } }, context(new Rng(2), drawn));
    expect(rows(mine.x)).toEqual(rows(out.views.real.x));
    expect(drawn.box).toEqual(mine.draw.boxes[0]);
    tf.dispose([x, y, mine.x, mine.y, out.views.real.x, out.views.real.y]);
  });
});

describe('cutmix options', () => {
  it('defaults', () => {
    expect(parseCutmixOptions({})).toEqual({ alpha: 1, prob: 1, mode: 'batch', pairing: 'permutation' });
    expect(parseMixupCutmixOptions({})).toEqual({ mixupAlpha: 0.8, cutmixAlpha: 1, switchProb: 0.5, prob: 1, mode: 'batch', pairing: 'permutation' });
    expect(cutmix.parseOptions).toBe(parseCutmixOptions);
    expect(mixupCutmix.parseOptions).toBe(parseMixupCutmixOptions);
  });

  it('bad values and unknown keys name their path', () => {
    expect(optionsError(parseCutmixOptions, { alpha: 0 }).message).toMatch(/alpha: expected a number > 0, found 0/);
    expect(optionsError(parseCutmixOptions, { prob: 1.5 }).issues.map((i) => i.path)).toEqual([['prob']]);
    expect(optionsError(parseCutmixOptions, { mode: 'elem' }).issues.map((i) => i.path)).toEqual([['mode']]);
    expect(optionsError(parseMixupCutmixOptions, { switchProb: -0.1 }).issues.map((i) => i.path)).toEqual([['switchProb']]);
    expect(optionsError(parseMixupCutmixOptions, { switch_prob: 0.5 }).issues.map((i) => i.path)).toEqual([['switch_prob']]);
    expect(optionsError(parseMixupCutmixOptions, { cutmixAlpha: -1 }).issues.map((i) => i.path)).toEqual([['cutmixAlpha']]);
  });

  it('through the config loader: a bad option at plugins[i].cutmix.<key>; cutmix next to mixup is refused', async () => {
    const registry = new PluginRegistry().register('mixup', mixup).register('cutmix', cutmix).register('mixup-cutmix', mixupCutmix);
    const config = (plugins: unknown[]) => ({ plugins: plugins as never, baseDir: process.cwd() });
    const none = () => undefined;
    await expect(resolvePlugins(config([{ cutmix: { alpha: 0 } }]), registry, none)).rejects.toThrow(/plugins\[0\]\.cutmix\.alpha: expected a number > 0/);
    await expect(resolvePlugins(config([{ 'mixup-cutmix': { switchProb: 2 } }]), registry, none)).rejects.toThrow(/plugins\[0\]\.mixup-cutmix\.switchProb/);
    await expect(resolvePlugins(config(['mixup', 'cutmix']), registry, none)).rejects.toThrow(/at most one of cutmix and mixup/);
    await expect(resolvePlugins(config(['cutmix', 'mixup-cutmix']), registry, none)).rejects.toThrow(/at most one of cutmix and mixup-cutmix/);
  });
});
