import * as tf from '@tensorflow/tfjs-core';
import { createTrainStep, OptionsError, PluginRegistry, resolvePlugins, Rng } from '@fermix/core';
import { beforeAll, describe, expect, it } from 'vitest';
import randaugmentDefault, { DEFAULT_MAGNITUDE, DEFAULT_OPS, applyOps, applyRandAugment, augmentationSpace, drawRandAugment, fromUint8Scale, OP_NAMES, parseRandAugmentOptions, randaugment, toUint8Scale } from '../src/index.js';
import { context, randomBatch, rows, tinyModel, useCpu } from '../../../test-support/plugin-helpers.js';

beforeAll(useCpu);

function optionsError(raw: unknown): OptionsError {
  try {
    parseRandAugmentOptions(raw);
  } catch (err) {
    if (err instanceof OptionsError) return err;
    throw err;
  }
  throw new Error(`no OptionsError for ${JSON.stringify(raw)}`);
}

describe('randaugment options', () => {
  it("torchvision's defaults: N 2, M 9, 31 bins; TrivialAugmentWide one op", () => {
    expect(parseRandAugmentOptions({})).toEqual({ policy: 'randaugment', bins: 31, p: 1 });
    expect(DEFAULT_OPS).toBe(2);
    expect(DEFAULT_MAGNITUDE).toBe(9);
    // Parsing its own output again changes nothing (the config loader validates twice).
    const trivial = parseRandAugmentOptions({ policy: 'trivialaugment' });
    expect(parseRandAugmentOptions(trivial)).toEqual(trivial);
    expect(drawRandAugment(2, augmentationSpace('trivialaugment', 8, 8), trivial, new Rng(1)).ops).toHaveLength(1);
    expect(drawRandAugment(2, augmentationSpace('randaugment', 8, 8), parseRandAugmentOptions({}), new Rng(1)).ops).toHaveLength(2);
    expect(randaugment.parseOptions).toBe(parseRandAugmentOptions);
  });

  it('refuses a magnitude past the bins, N or M with trivialaugment, an unknown policy, at their paths', () => {
    const past = optionsError({ magnitude: 31 });
    expect(past.issues.map((i) => i.path)).toEqual([['magnitude']]);
    expect(past.message).toMatch(/magnitude: expected a magnitude bin from 0 to 30/);
    expect(optionsError({ magnitude: 10, bins: 10 }).issues.map((i) => i.path)).toEqual([['magnitude']]);
    expect(optionsError({ policy: 'trivialaugment', ops: 2 }).issues.map((i) => i.path)).toEqual([['ops']]);
    expect(optionsError({ policy: 'autoaugment' }).issues.map((i) => i.path)).toEqual([['policy']]);
    expect(optionsError({ ops: 0 }).issues.map((i) => i.path)).toEqual([['ops']]);
  });

  it('through the config loader: plugins[i].randaugment.magnitude', async () => {
    const registry = new PluginRegistry().register('randaugment', randaugment);
    await expect(resolvePlugins({ plugins: [{ randaugment: { magnitude: 40 } }] as never, baseDir: process.cwd() }, registry, () => undefined)).rejects.toThrow(
      /plugins\[0\]\.randaugment\.magnitude: expected a magnitude bin from 0 to 30 \(bins: 31\), found 40/,
    );
  });
});

describe('draws', () => {
  it('RandAugment: per sample p, then per slot the op and (for a signed op) a sign coin; the magnitude is bin M', () => {
    const space = augmentationSpace('randaugment', 16, 16);
    const draw = drawRandAugment(4, space, parseRandAugmentOptions({ ops: 2, magnitude: 12 }), new Rng(3));
    const check = new Rng(3);
    for (let i = 0; i < 4; i++) {
      expect(check.uniform() < 1).toBe(true);
      for (let k = 0; k < 2; k++) {
        const op = OP_NAMES[check.int(14)];
        expect(draw.ops[k][i]).toBe(op);
        const { magnitudes, signed } = space[op];
        const sign = signed && check.int(2) === 1 ? -1 : 1;
        expect(draw.magnitudes[k][i]).toBe(magnitudes.length > 1 ? sign * magnitudes[12] : sign * 0);
      }
    }
  });

  it('TrivialAugmentWide: one slot, random bins; every op is drawn over many samples', () => {
    const space = augmentationSpace('trivialaugment', 16, 16);
    const draw = drawRandAugment(2000, space, parseRandAugmentOptions({ policy: 'trivialaugment' }), new Rng(4));
    expect(draw.ops).toHaveLength(1);
    expect(new Set(draw.ops[0]).size).toBe(14);
    const rotations = draw.magnitudes[0].filter((m, i) => draw.ops[0][i] === 'Rotate');
    expect(Math.max(...rotations.map(Math.abs))).toBeLessThanOrEqual(135);
    expect(new Set(rotations.map(Math.abs)).size).toBeGreaterThan(20);
  });

  it('p 0: nothing applied, and the images come back bit for bit', () => {
    const { x } = randomBatch(1, 3, 8, 3);
    const draw = drawRandAugment(3, augmentationSpace('randaugment', 8, 8), parseRandAugmentOptions({ p: 0 }), new Rng(1));
    expect(draw.applied).toEqual([false, false, false]);
    const out = applyRandAugment(x, draw);
    expect(rows(out)).toEqual(rows(x));
    tf.dispose([x, out]);
  });
});

describe('applyOps', () => {
  it('different ops per sample land on their own samples', () => {
    const { x } = randomBatch(2, 3, 8, 3);
    const u = toUint8Scale(x);
    const mixed = applyOps(u, ['Solarize', 'Identity', 'Rotate'], [0, 0, 30]);
    const alone = [applyOps(u, ['Solarize', 'Solarize', 'Solarize'], [0, 0, 0]), u, applyOps(u, ['Rotate', 'Rotate', 'Rotate'], [30, 30, 30])];
    const got = rows(mixed);
    alone.forEach((t, i) => expect(got[i]).toEqual(rows(t)[i]));
    // Solarize at threshold 0 inverts every pixel.
    expect(got[0]).toEqual(rows(u)[0].map((v) => 255 - v));
    tf.dispose([x, u, mixed, ...alone.filter((t) => t !== u)]);
  });

  it('the uint8 scale round-trips images that are multiples of 1/255', () => {
    const x = tf.div(tf.tensor4d([0, 1, 128, 254, 255, 7], [1, 1, 2, 3]), 255) as tf.Tensor4D;
    const back = fromUint8Scale(toUint8Scale(x));
    expect(Array.from(back.dataSync())).toEqual(Array.from(x.dataSync()));
    tf.dispose([x, back]);
  });
});

describe('randaugment plugin', () => {
  it('is the default export, records its draw and applies it', () => {
    expect(randaugmentDefault).toBe(randaugment);
    const { x, y } = randomBatch(2, 6, 12, 3);
    const drawn: Record<string, unknown> = {};
    const out = randaugment({ ops: 2, magnitude: 15 }).transformBatch!({ views: { real: { x, y, weight: 1 } } }, context(new Rng(8), drawn));
    const draw = drawRandAugment(6, augmentationSpace('randaugment', 12, 12), parseRandAugmentOptions({ ops: 2, magnitude: 15 }), new Rng(8));
    expect(drawn).toEqual(draw);
    const expected = applyRandAugment(x, draw);
    expect(rows(out.views.real.x)).toEqual(rows(expected));
    tf.dispose([x, y, out.views.real.x, expected]);
  });

  it('through createTrainStep: a seeded run repeats itself; no tensor leaks over 10 steps (both policies)', () => {
    for (const policy of ['randaugment', 'trivialaugment'] as const) {
      const run = () => {
        const model = tinyModel(1, 8, 3);
        const { x, y } = randomBatch(5, 6, 8, 3);
        const step = createTrainStep({ model, optimizer: tf.train.sgd(0.1), plugins: [randaugment({ policy })], seed: 3 });
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
    }
  });
});
