import * as tf from '@tensorflow/tfjs-core';
import { createTrainStep, OptionsError, PluginRegistry, resolvePlugins, Rng } from '@fermix/core';
import { beforeAll, describe, expect, it } from 'vitest';
import colorDefault, { adjustBrightness, applyColor, color, drawColor, parseColorOptions } from '../src/index.js';
import { context, randomBatch, rows, tinyModel, useCpu } from '../../../test-support/plugin-helpers.js';

beforeAll(useCpu);

function optionsError(raw: unknown): OptionsError {
  try {
    parseColorOptions(raw);
  } catch (err) {
    if (err instanceof OptionsError) return err;
    throw err;
  }
  throw new Error(`no OptionsError for ${JSON.stringify(raw)}`);
}

describe('color options', () => {
  it("torchvision's ranges: b -> [max(0, 1 - b), 1 + b], h -> [-h, h]; off by default", () => {
    expect(parseColorOptions({ brightness: 0.4, contrast: [0.5, 2], saturation: 1.5, hue: 0.1, grayscale: 0.2 })).toEqual({
      brightness: [0.6, 1.4],
      contrast: [0.5, 2],
      saturation: [0, 2.5],
      hue: [-0.1, 0.1],
      p: 1,
      grayscale: 0.2,
    });
    expect(color.parseOptions).toBe(parseColorOptions);
  });

  it('refuses a hue past 0.5, negative factors, reversed ranges and nothing to do, each at its path', () => {
    expect(optionsError({ hue: 0.6 }).issues.map((i) => i.path)).toEqual([['hue']]);
    expect(optionsError({ hue: [-0.7, 0.1] }).issues.map((i) => i.path)).toEqual([['hue', 0]]);
    expect(optionsError({ brightness: -0.2 }).issues.map((i) => i.path)).toEqual([['brightness']]);
    expect(optionsError({ contrast: [1.5, 0.5] }).issues.map((i) => i.path)).toEqual([['contrast']]);
    expect(optionsError({ grayscale: 2 }).issues.map((i) => i.path)).toEqual([['grayscale']]);
    expect(optionsError({}).message).toMatch(/at least one of brightness, contrast, saturation, hue or grayscale/);
  });

  it('through the config loader: plugins[i].color.hue', async () => {
    const registry = new PluginRegistry().register('color', color);
    await expect(resolvePlugins({ plugins: [{ color: { hue: 0.9 } }] as never, baseDir: process.cwd() }, registry, () => undefined)).rejects.toThrow(/plugins\[0\]\.color\.hue/);
  });
});

describe('drawColor and applyColor', () => {
  it('draws a permutation of the ops, then per sample p and the factors of the ops that are on, then grayscale', () => {
    const opts = parseColorOptions({ brightness: 0.4, hue: 0.1, p: 0.5, grayscale: 0.5 });
    const draw = drawColor(3, opts, new Rng(5));
    const check = new Rng(5);
    expect(draw.order).toEqual(Array.from(check.permutation(4), (k) => ['brightness', 'contrast', 'saturation', 'hue'][k]));
    for (let i = 0; i < 3; i++) {
      const on = check.uniform() < 0.5;
      expect(draw.jittered[i]).toBe(on);
      expect(draw.brightness[i]).toBe(on ? 0.6 + (1.4 - 0.6) * check.uniform() : 1);
      expect(draw.contrast[i]).toBe(1);
      expect(draw.saturation[i]).toBe(1);
      expect(draw.hue[i]).toBe(on ? -0.1 + 0.2 * check.uniform() : 0);
    }
    expect(draw.grayscale).toEqual([0, 1, 2].map(() => check.uniform() < 0.5));
  });

  it('identity factors leave the images bit for bit; grayscale makes three equal channels', () => {
    const { x } = randomBatch(1, 2, 6, 3);
    const same = applyColor(x, { order: ['hue', 'brightness', 'contrast', 'saturation'], jittered: [false, false], brightness: [1, 1], contrast: [1, 1], saturation: [1, 1], hue: [0, 0], grayscale: [false, false] });
    expect(rows(same)).toEqual(rows(x));
    const gray = applyColor(x, { order: ['brightness'], jittered: [false, false], brightness: [1, 1], contrast: [1, 1], saturation: [1, 1], hue: [0, 0], grayscale: [true, false] });
    const g = rows(gray);
    for (let k = 0; k < g[0].length; k += 3) expect(g[0][k]).toBe(g[0][k + 2]);
    expect(g[1]).toEqual(rows(x)[1]);
    tf.dispose([x, same, gray]);
  });

  it('per-sample factors act per sample', () => {
    const { x } = randomBatch(2, 2, 4, 3);
    const out = adjustBrightness(x, [0.5, 1]);
    const [a, b] = rows(out);
    const [xa, xb] = rows(x);
    a.forEach((v, k) => expect(v).toBeCloseTo(xa[k] * 0.5, 6));
    expect(b).toEqual(xb);
    tf.dispose([x, out]);
  });
});

describe('color plugin', () => {
  it('is the default export, records its draw and applies it', () => {
    expect(colorDefault).toBe(color);
    const { x, y } = randomBatch(2, 4, 8, 3);
    const drawn: Record<string, unknown> = {};
    const opts = { brightness: 0.3, contrast: 0.3, saturation: 0.3, hue: 0.05, grayscale: 0.3 };
    const out = color(opts).transformBatch!({ views: { real: { x, y, weight: 1 } } }, context(new Rng(8), drawn));
    const draw = drawColor(4, parseColorOptions(opts), new Rng(8));
    expect(drawn).toEqual(draw);
    const expected = applyColor(x, draw);
    expect(rows(out.views.real.x)).toEqual(rows(expected));
    tf.dispose([x, y, out.views.real.x, expected]);
  });

  it('through createTrainStep: a seeded run repeats itself; no tensor leaks over 10 steps', () => {
    const run = () => {
      const model = tinyModel(1, 8, 3);
      const { x, y } = randomBatch(5, 6, 8, 3);
      const step = createTrainStep({ model, optimizer: tf.train.sgd(0.1), plugins: [color({ brightness: 0.4, contrast: 0.4, saturation: 0.4, hue: 0.1, grayscale: 0.2 })], seed: 3 });
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
  });
});
