import * as tf from '@tensorflow/tfjs-core';
import { ConfigError, createTrainStep, OptionsError, PluginRegistry, resolvePlugins, Rng } from '@fermix/core';
import { mixup, sampleBeta } from '@fermix/plugin-mixup';
import { beforeAll, describe, expect, it } from 'vitest';
import mixaugmentDefault, { DEFAULT_FORWARD, mixaugment, mixAugmentLoss, parseMixAugmentOptions } from '../src/index.js';
import { cce, context, randomBatch, tinyModel, useCpu } from './helpers.js';

beforeAll(useCpu);

function optionsError(raw: unknown): OptionsError {
  try {
    parseMixAugmentOptions(raw);
  } catch (err) {
    if (err instanceof OptionsError) return err;
    throw err;
  }
  throw new Error(`no OptionsError for ${JSON.stringify(raw)}`);
}

describe('mixaugment plugin', () => {
  it('is the default export, declares apiVersion 1 and its conflict with mixup', () => {
    expect(mixaugmentDefault).toBe(mixaugment);
    const plugin = mixaugment();
    expect(plugin.name).toBe('mixaugment');
    expect(plugin.apiVersion).toBe(1);
    expect(plugin.conflicts).toEqual([{ name: 'mixup', reason: expect.stringMatching(/^MixAugment already contains mixup's virtual samples; /) }]);
  });

  it('keeps the real view (weight 2) and adds the virtual one (its mixup, weight 1); records lam and perm', () => {
    const { x, y } = randomBatch(1, 5);
    const drawn: Record<string, unknown> = {};
    const out = mixaugment({ alpha: 0.5, forward: 'joint' }).transformBatch!({ views: { real: { x, y, weight: 1 } } }, context(new Rng(3), drawn));
    expect(Object.keys(out.views)).toEqual(['real', 'virtual']);
    const { real, virtual } = out.views;
    expect(real.x).toBe(x);
    expect(real.y).toBe(y);
    expect(real.weight).toBe(2);
    expect(virtual.weight).toBe(1);
    // joint: no group on either, so both go through the model in one pass.
    expect(real.group).toBeUndefined();
    expect(virtual.group).toBeUndefined();
    const { lam, perm } = drawn as { lam: number; perm: number[] };
    const check = new Rng(3);
    expect(lam).toBe(sampleBeta(0.5, check));
    expect(perm).toEqual(Array.from(check.permutation(5)));
    const xs = x.arraySync();
    const vx = virtual.x.arraySync();
    vx.forEach((img, i) => img.forEach((row, h) => row.forEach((px, w) => px.forEach((v, c) => expect(v).toBeCloseTo(lam * xs[i][h][w][c] + (1 - lam) * xs[perm[i]][h][w][c], 6)))));
    const ys = y.arraySync();
    virtual.y.arraySync().forEach((r, i) => r.forEach((v, k) => expect(v).toBeCloseTo(lam * ys[i][k] + (1 - lam) * ys[perm[i]][k], 6)));
    tf.dispose([x, y, virtual.x, virtual.y]);
  });

  it("separate: real in group 'real', virtual in group 'virtual'; weights scale with realWeight and virtualWeight", () => {
    const { x, y } = randomBatch(1, 4);
    const out = mixaugment({ forward: 'separate', realWeight: 0.25, virtualWeight: 3 }).transformBatch!({ views: { real: { x, y, weight: 1 } } }, context(new Rng(1)));
    expect(out.views.real.group).toBe('real');
    expect(out.views.virtual.group).toBe('virtual');
    expect(out.views.real.weight).toBe(0.5);
    expect(out.views.virtual.weight).toBe(3);
    tf.dispose([x, y, out.views.virtual.x, out.views.virtual.y]);
  });

  it('per-sample weights: real gets 2w, virtual the mixed weights; a weight of 0 drops its view; other views stay in place', () => {
    const { x, y } = randomBatch(1, 4);
    const w = tf.tensor1d([1, 2, 3, 4]);
    const drawn: Record<string, unknown> = {};
    const other = { x, y, weight: 1 };
    const out = mixaugment({ pairing: 'reverse' }).transformBatch!({ views: { before: other, real: { x, y, weight: w }, after: other } }, context(new Rng(1), drawn));
    expect(Object.keys(out.views)).toEqual(['before', 'real', 'virtual', 'after']);
    expect(Array.from((out.views.real.weight as tf.Tensor).dataSync())).toEqual([2, 4, 6, 8]);
    const lam = drawn.lam as number;
    const mixed = Array.from((out.views.virtual.weight as tf.Tensor).dataSync());
    [4, 3, 2, 1].forEach((wj, i) => expect(mixed[i]).toBeCloseTo(lam * (i + 1) + (1 - lam) * wj, 5));

    const onlyVirtual = mixaugment({ realWeight: 0 }).transformBatch!({ views: { real: { x, y, weight: 1 } } }, context(new Rng(1)));
    expect(Object.keys(onlyVirtual.views)).toEqual(['virtual']);
    const onlyReal = mixaugment({ virtualWeight: 0 }).transformBatch!({ views: { real: { x, y, weight: 1 } } }, context(new Rng(1)));
    expect(Object.keys(onlyReal.views)).toEqual(['real']);
    tf.dispose([x, y, w]);
  });

  it('refuses a batch without a real view or with a virtual view already', () => {
    const { x, y } = randomBatch(1, 4);
    expect(() => mixaugment().transformBatch!({ views: { other: { x, y, weight: 1 } } }, context(new Rng(1)))).toThrow(/no "real" view/);
    expect(() => mixaugment().transformBatch!({ views: { real: { x, y, weight: 1 }, virtual: { x, y, weight: 1 } } }, context(new Rng(1)))).toThrow(/already has a "virtual" view/);
    tf.dispose([x, y]);
  });

  it('no tensor leaks over 20 steps (batch norm, training mode, both forward modes)', () => {
    for (const forward of ['joint', 'separate'] as const) {
      const model = tinyModel({ seed: 1, batchNorm: true });
      const step = createTrainStep({ model, optimizer: tf.train.adam(0.01), plugins: [mixaugment({ forward, lambda: 'sample' })], seed: 2 });
      const { x, y } = randomBatch(2, 6);
      step({ x, y });
      const afterFirst = tf.memory().numTensors;
      for (let i = 0; i < 19; i++) step({ x, y });
      expect(tf.memory().numTensors).toBe(afterFirst);
      tf.dispose([x, y]);
    }
  });

  it('joint and separate give the same losses step after step on a model without batch norm', () => {
    const { x, y } = randomBatch(3, 6);
    const run = (forward: 'joint' | 'separate') => {
      const step = createTrainStep({ model: tinyModel({ seed: 4 }), optimizer: tf.train.adam(0.05), plugins: [mixaugment({ alpha: 0.4, forward })], seed: 8 });
      return Array.from({ length: 5 }, () => step({ x, y }));
    };
    const joint = run('joint');
    const separate = run('separate');
    joint.forEach((r, i) => {
      expect(separate[i].drawn).toEqual(r.drawn);
      expect(Math.abs(separate[i].loss - r.loss)).toBeLessThan(1e-5);
      expect(Math.abs(separate[i].terms.real - r.terms.real)).toBeLessThan(1e-5);
      expect(Math.abs(separate[i].terms.virtual - r.terms.virtual)).toBeLessThan(1e-5);
    });
    // Training moved: the losses are not all the same.
    expect(new Set(joint.map((r) => r.loss.toFixed(4))).size).toBeGreaterThan(1);
    tf.dispose([x, y]);
  });

  it(`defaults to forward ${DEFAULT_FORWARD}`, () => {
    expect(parseMixAugmentOptions({}).forward).toBe(DEFAULT_FORWARD);
  });
});

describe('mixAugmentLoss', () => {
  it("is the paper's three-term loss of the two forward outputs: CCE(y~,p~) + CCE(y_i,p_i) + CCE(y_j,p_j)", () => {
    const rng = new Rng(5);
    const n = 5;
    const perm = Array.from(rng.permutation(n));
    const lam = 0.3;
    tf.tidy(() => {
      const logits = tf.tensor2d(Array.from({ length: n * 3 }, () => rng.normal()), [n, 3]);
      const pReal = tf.softmax(logits) as tf.Tensor2D;
      const pVirtual = tf.softmax(tf.mul(logits, -0.5)) as tf.Tensor2D;
      const y = tf.cast(tf.oneHot(tf.tensor1d([0, 1, 2, 0, 1], 'int32'), 3), 'float32') as tf.Tensor2D;
      const yj = tf.gather(y, tf.tensor1d(perm, 'int32'));
      const yVirtual = tf.add(tf.mul(lam, y), tf.mul(1 - lam, yj)) as tf.Tensor2D;
      const pj = tf.gather(pReal, tf.tensor1d(perm, 'int32'));
      const byHand = tf.addN([cce(yVirtual, pVirtual), cce(y, pReal), cce(yj, pj)]).dataSync()[0];
      expect(mixAugmentLoss(pReal, pVirtual, y, yVirtual).dataSync()[0]).toBeCloseTo(byHand, 5);
      const weighted = tf.addN([tf.mul(0.5, cce(yVirtual, pVirtual)), tf.mul(3, tf.add(cce(y, pReal), cce(yj, pj)))]).dataSync()[0];
      expect(mixAugmentLoss(pReal, pVirtual, y, yVirtual, { realWeight: 3, virtualWeight: 0.5 }).dataSync()[0]).toBeCloseTo(weighted, 5);
      expect(() => mixAugmentLoss(pReal, pVirtual, y, yVirtual, { realWeight: -1 })).toThrow(/>= 0/);
    });
  });
});

describe('mixaugment options', () => {
  it('defaults: alpha 0.1 (the paper best), one lam per batch, a permutation, weights 1 and 1', () => {
    expect(parseMixAugmentOptions({})).toEqual({ mix: 'mixup', alpha: 0.1, lambda: 'batch', pairing: 'permutation', realWeight: 1, virtualWeight: 1, forward: DEFAULT_FORWARD });
    expect(mixaugment.parseOptions).toBe(parseMixAugmentOptions);
  });

  it('alpha <= 0, negative weights, an unknown forward mode and an unknown key each name their path', () => {
    expect(optionsError({ alpha: 0 }).issues.map((i) => i.path)).toEqual([['alpha']]);
    expect(optionsError({ alpha: -1 }).message).toMatch(/alpha: expected a number > 0, found -1/);
    expect(optionsError({ realWeight: -0.5 }).issues.map((i) => i.path)).toEqual([['realWeight']]);
    expect(optionsError({ virtualWeight: -1 }).issues.map((i) => i.path)).toEqual([['virtualWeight']]);
    const forward = optionsError({ forward: 'parallel' });
    expect(forward.issues.map((i) => i.path)).toEqual([['forward']]);
    expect(forward.issues[0].expected).toMatch(/separate \| joint/);
    expect(optionsError({ alhpa: 0.1 }).issues.map((i) => i.path)).toEqual([['alhpa']]);
    expect(optionsError({ pairing: 'random' }).issues.map((i) => i.path)).toEqual([['pairing']]);
    expect(optionsError({ realWeight: 0, virtualWeight: 0 }).issues.map((i) => i.path)).toEqual([['virtualWeight']]);
    expect(() => mixaugment({ alpha: 0 })).toThrow(OptionsError);
  });

  it('mix: cutmix without an alpha, mixup-cutmix without cutmixAlpha, and switch options without the switch are refused at their path', () => {
    const noAlpha = optionsError({ mix: 'cutmix' });
    expect(noAlpha.issues.map((i) => i.path)).toEqual([['alpha']]);
    expect(noAlpha.message).toMatch(/alpha: expected an alpha with mix: cutmix/);
    expect(optionsError({ mix: 'mixup-cutmix' }).issues.map((i) => i.path)).toEqual([['alpha'], ['cutmixAlpha']]);
    expect(optionsError({ mix: 'mixup-cutmix', alpha: 0.8 }).issues.map((i) => i.path)).toEqual([['cutmixAlpha']]);
    expect(optionsError({ mix: 'cutmix', alpha: 1, switchProb: 0.5 }).issues.map((i) => i.path)).toEqual([['switchProb']]);
    expect(optionsError({ alpha: 0.2, cutmixAlpha: 1 }).issues.map((i) => i.path)).toEqual([['cutmixAlpha']]);
    expect(optionsError({ mix: 'cutmix', alpha: 0 }).issues.map((i) => i.path)).toEqual([['alpha']]);
    expect(optionsError({ mix: 'fmix', alpha: 1 }).issues.map((i) => i.path)).toEqual([['mix']]);
    expect(parseMixAugmentOptions({ mix: 'cutmix', alpha: 1 })).toMatchObject({ mix: 'cutmix', alpha: 1 });
    expect(parseMixAugmentOptions({ mix: 'mixup-cutmix', alpha: 0.8, cutmixAlpha: 1, switchProb: 0.3 })).toMatchObject({ alpha: 0.8, cutmixAlpha: 1, switchProb: 0.3 });
  });

  it('through the config loader: a bad option is reported at plugins[i].mixaugment.<key>; mixup with mixaugment is refused', async () => {
    const registry = new PluginRegistry().register('mixup', mixup).register('mixaugment', mixaugment);
    const config = (plugins: unknown[]) => ({ plugins: plugins as never, baseDir: process.cwd() });
    const none = () => undefined;
    await expect(resolvePlugins(config([{ mixaugment: { alpha: 0 } }]), registry, none)).rejects.toThrow(/plugins\[0\]\.mixaugment\.alpha: expected a number > 0/);
    await expect(resolvePlugins(config([{ mixaugment: { mix: 'cutmix' } }]), registry, none)).rejects.toThrow(/plugins\[0\]\.mixaugment\.alpha: expected an alpha with mix: cutmix/);
    const both = resolvePlugins(config([{ mixup: { alpha: 0.2 } }, 'mixaugment']), registry, none);
    await expect(both).rejects.toThrow(ConfigError);
    await expect(resolvePlugins(config([{ mixup: { alpha: 0.2 } }, 'mixaugment']), registry, none)).rejects.toThrow(/at most one of mixup and mixaugment/);
    const ok = await resolvePlugins(config([{ mixaugment: { alpha: 0.2, forward: 'joint' } }]), registry, none);
    expect(ok.map((p) => p.name)).toEqual(['mixaugment']);
  });
});

describe('the README plain-loop example', () => {
  it('runs: sampleBeta + samplePairing + mixBatch + mixAugmentLoss under optimizer.minimize, without leaks', async () => {
    const { mixBatch, samplePairing } = await import('@fermix/plugin-mixup');
    const model = tinyModel({ seed: 3, batchNorm: true });
    const { x, y } = randomBatch(4, 6);
    const rng = new Rng(1);
    const optimizer = tf.train.adam(1e-2);
    const losses: number[] = [];
    const loop = () => {
      const lam = sampleBeta(0.1, rng);
      const perm = samplePairing(x.shape[0], 'permutation', rng);
      tf.tidy(() => {
        const virtual = mixBatch(x, y, lam, perm);
        const loss = optimizer.minimize(
          () => mixAugmentLoss(model.apply(x, { training: true }) as tf.Tensor2D, model.apply(virtual.x, { training: true }) as tf.Tensor2D, y, virtual.y),
          true,
        );
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
