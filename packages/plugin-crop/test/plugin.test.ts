import * as tf from '@tensorflow/tfjs-core';
import { createTrainStep, OptionsError, PluginRegistry, resolvePlugins, Rng } from '@fermix/core';
import { beforeAll, describe, expect, it } from 'vitest';
import cropDefault, { affine, applyCrop, crop, drawCrop, paddedCrop, parseCropOptions, resizedCrop, roundHalfEven, sampleAffine, sampleResizedCrop } from '../src/index.js';
import { context, randomBatch, rows, tinyModel, useCpu } from '../../../test-support/plugin-helpers.js';

beforeAll(useCpu);

function optionsError(raw: unknown): OptionsError {
  try {
    parseCropOptions(raw);
  } catch (err) {
    if (err instanceof OptionsError) return err;
    throw err;
  }
  throw new Error(`no OptionsError for ${JSON.stringify(raw)}`);
}

describe('crop options', () => {
  it("torchvision's defaults for each op given as {}; fill 0", () => {
    expect(parseCropOptions({ resized: {}, padded: {}, affine: {} })).toEqual({
      resized: { scale: [0.08, 1], ratio: [3 / 4, 4 / 3], p: 1 },
      padded: { padding: 4, p: 1 },
      affine: { degrees: [-10, 10], p: 1 },
      fill: 0,
    });
    expect(parseCropOptions({ affine: { degrees: 5, shear: 3, translate: [0.1, 0.2], scale: [0.9, 1.1] } }).affine).toMatchObject({ degrees: [-5, 5], shear: [-3, 3] });
    expect(crop.parseOptions).toBe(parseCropOptions);
  });

  it('refuses a crop scale outside (0, 1], reversed ranges, a fractional padding, three shear values and a fill past 1, each at its path', () => {
    expect(optionsError({ resized: { scale: [0, 1] } }).issues.map((i) => i.path)).toEqual([['resized', 'scale', 0]]);
    expect(optionsError({ resized: { scale: [0.5, 1.5] } }).issues.map((i) => i.path)).toEqual([['resized', 'scale', 1]]);
    expect(optionsError({ resized: { scale: [0.9, 0.5] } }).issues.map((i) => i.path)).toEqual([['resized', 'scale']]);
    expect(optionsError({ resized: { ratio: [2, 1] } }).issues.map((i) => i.path)).toEqual([['resized', 'ratio']]);
    expect(optionsError({ padded: { padding: 2.5 } }).issues.map((i) => i.path)).toEqual([['padded', 'padding']]);
    expect(optionsError({ affine: { shear: [1, 2, 3] } }).issues.map((i) => i.path)).toEqual([['affine', 'shear']]);
    expect(optionsError({ affine: { degrees: [10, -10] } }).issues.map((i) => i.path)).toEqual([['affine', 'degrees']]);
    expect(optionsError({ resized: {}, fill: 2 }).issues.map((i) => i.path)).toEqual([['fill']]);
    expect(optionsError({ resized: {}, flip: true }).issues.map((i) => i.path)).toEqual([['flip']]);
    expect(optionsError({}).message).toMatch(/at least one of resized, padded and affine/);
  });

  it('through the config loader: plugins[i].crop.resized.scale[1]', async () => {
    const registry = new PluginRegistry().register('crop', crop);
    await expect(resolvePlugins({ plugins: [{ crop: { resized: { scale: [0.5, 2] } } }] as never, baseDir: process.cwd() }, registry, () => undefined)).rejects.toThrow(
      /plugins\[0\]\.crop\.resized\.scale\[1\]: expected a number <= 1, found 2/,
    );
  });
});

describe('the draws (torchvision get_params)', () => {
  it('roundHalfEven is Python round', () => {
    expect([0.5, 1.5, 2.5, -0.5, -1.5, -2.5, 2.4, 2.6].map(roundHalfEven)).toEqual([0, 2, 2, -0, -2, -2, 2, 3]);
  });

  it('resized crops: area within scale and aspect within ratio (up to rounding), inside the image', () => {
    const rng = new Rng(1);
    for (let k = 0; k < 500; k++) {
      const b = sampleResizedCrop(48, 40, [0.25, 0.8], [0.75, 1.25], rng);
      expect(b.top >= 0 && b.left >= 0 && b.top + b.height <= 48 && b.left + b.width <= 40).toBe(true);
      const share = (b.height * b.width) / (48 * 40);
      expect(share).toBeGreaterThan(0.2);
      expect(share).toBeLessThan(0.86);
      expect(b.width / b.height).toBeGreaterThan(0.65);
      expect(b.width / b.height).toBeLessThan(1.4);
    }
  });

  it('after ten misses, the centred fallback of torchvision', () => {
    // Aspect 3 to 4 cannot fit 99% of a square: width = 10, height = round(10 / 3) = 3, centred.
    expect(sampleResizedCrop(10, 10, [0.99, 1], [3, 4], new Rng(2))).toEqual({ top: 3, left: 0, height: 3, width: 10 });
    // A ratio range that contains the image's: the whole image.
    expect(sampleResizedCrop(10, 10, [2, 3], [0.5, 2], new Rng(2))).toEqual({ top: 0, left: 0, height: 10, width: 10 });
  });

  it('affine: angle, then whole-pixel translation within the share, then scale, then shear x and y', () => {
    const rng = new Rng(3);
    const p = sampleAffine(40, 50, { degrees: [-10, 10], translate: [0.1, 0.2], scale: [0.9, 1.1], shear: [-5, 5, -2, 2] }, rng);
    const check = new Rng(3);
    const u = () => check.uniform();
    expect(p.angle).toBe(-10 + 20 * u());
    expect(p.translate).toEqual([roundHalfEven(-5 + 10 * u()), roundHalfEven(-8 + 16 * u())]);
    expect(p.scale).toBe(0.9 + 0.2 * u());
    expect(p.shear).toEqual([-5 + 10 * u(), -2 + 4 * u()]);
  });

  it('drawCrop: one uniform per sample and op against p; null where skipped', () => {
    const opts = parseCropOptions({ resized: { p: 0.5 }, affine: { p: 0 } });
    const draw = drawCrop(40, 12, 12, opts, new Rng(4));
    expect(draw.affine).toEqual(Array(40).fill(null));
    const applied = draw.resized!.filter(Boolean).length;
    expect(applied).toBeGreaterThan(10);
    expect(applied).toBeLessThan(30);
  });
});

describe('identities and simple cases', () => {
  it('the whole-image crop, zero padding offset and the identity affine return the image bit for bit', () => {
    const { x } = randomBatch(1, 2, 9, 3);
    const same = [
      resizedCrop(x, [
        { top: 0, left: 0, height: 9, width: 9 },
        { top: 0, left: 0, height: 9, width: 9 },
      ]),
      paddedCrop(x, [{ top: 3, left: 3 }, { top: 3, left: 3 }], 3),
      affine(x, [
        { angle: 0, translate: [0, 0], scale: 1, shear: [0, 0] },
        { angle: 0, translate: [0, 0], scale: 1, shear: [0, 0] },
      ]),
    ];
    for (const t of same) expect(rows(t)).toEqual(rows(x));
    tf.dispose([x, ...same]);
  });

  it('a padded crop moves whole pixels and fills per channel', () => {
    const x = tf.tensor4d([1, 2, 3, 4], [1, 2, 2, 1]);
    // Padded by 1: [[f f f f] [f 1 2 f] [f 3 4 f] [f f f f]]; the 2x2 crop at (0, 1).
    const out = paddedCrop(x, [{ top: 0, left: 1 }], 1, [0.5]);
    expect(Array.from(out.dataSync())).toEqual([0.5, 0.5, 1, 2]);
    tf.dispose([x, out]);
  });

  it('rotating by 90 degrees turns the image clockwise', () => {
    const x = tf.tensor4d([1, 2, 3, 4, 5, 6, 7, 8, 9], [1, 3, 3, 1]);
    const out = affine(x, [{ angle: 90, translate: [0, 0], scale: 1, shear: [0, 0] }]);
    expect(Array.from(out.dataSync(), (v) => Math.round(v * 1e5) / 1e5)).toEqual([7, 4, 1, 8, 5, 2, 9, 6, 3]);
    tf.dispose([x, out]);
  });

  it('refuses a box off the image and a batch-size mismatch', () => {
    const { x } = randomBatch(1, 1, 6, 3);
    expect(() => resizedCrop(x, [{ top: 2, left: 0, height: 5, width: 3 }])).toThrow(/not inside a 6x6 image/);
    expect(() => affine(x, [])).toThrow(/0 affine parameter sets for a batch of 1/);
    tf.dispose(x);
  });
});

describe('crop plugin', () => {
  it('is the default export and records per-sample parameters drawn from the context generator', () => {
    expect(cropDefault).toBe(crop);
    const { x, y } = randomBatch(2, 4, 10, 3);
    const drawn: Record<string, unknown> = {};
    const options = { resized: { scale: [0.5, 1] as [number, number] }, padded: { padding: 2 }, affine: { degrees: 15, translate: [0.1, 0.1] as [number, number] }, fill: 0.5 };
    const out = crop(options).transformBatch!({ views: { real: { x, y, weight: 1 } } }, context(new Rng(6), drawn));
    const draw = drawCrop(4, 10, 10, parseCropOptions(options), new Rng(6));
    expect(drawn).toEqual(draw);
    const expected = applyCrop(x, draw, parseCropOptions(options));
    expect(rows(out.views.real.x)).toEqual(rows(expected));
    expect(out.views.real.y).toBe(y);
    tf.dispose([x, y, out.views.real.x, expected]);
  });

  it('p 0 everywhere: the images come back unchanged (a copy)', () => {
    const { x, y } = randomBatch(3, 3, 8, 3);
    const out = crop({ resized: { p: 0 }, affine: { p: 0 } }).transformBatch!({ views: { real: { x, y, weight: 1 } } }, context(new Rng(1)));
    expect(out.views.real.x).not.toBe(x);
    expect(rows(out.views.real.x)).toEqual(rows(x));
    tf.dispose([x, y, out.views.real.x]);
  });

  it('views of the main batch size share the parameters', () => {
    const { x, y } = randomBatch(4, 3, 8, 3);
    const out = crop({ affine: { degrees: 30 } }).transformBatch!({ views: { real: { x, y, weight: 1 }, copy: { x, y, weight: 1 } } }, context(new Rng(2)));
    expect(rows(out.views.copy.x)).toEqual(rows(out.views.real.x));
    tf.dispose([x, y, out.views.real.x, out.views.copy.x]);
  });

  it('through createTrainStep: a seeded run repeats itself; no tensor leaks over 10 steps', () => {
    const run = () => {
      const model = tinyModel(1, 8, 3);
      const { x, y } = randomBatch(5, 6, 8, 3);
      const step = createTrainStep({ model, optimizer: tf.train.sgd(0.1), plugins: [crop({ resized: { scale: [0.5, 1] }, affine: { degrees: 10 } })], seed: 3 });
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
    expect(a.every((r) => Number.isFinite(r.loss))).toBe(true);
  });
});
