import * as tf from '@tensorflow/tfjs-core';
import { createTrainStep, OptionsError, PluginRegistry, resolvePlugins, Rng } from '@fermix/core';
import { beforeAll, describe, expect, it } from 'vitest';
import erasingDefault, { applyErasing, drawErasing, eraseBatch, erasing, parseErasingOptions, sampleEraseBox } from '../src/index.js';
import { context, randomBatch, rows, tinyModel, useCpu } from '../../../test-support/plugin-helpers.js';

beforeAll(useCpu);

function optionsError(raw: unknown): OptionsError {
  try {
    parseErasingOptions(raw);
  } catch (err) {
    if (err instanceof OptionsError) return err;
    throw err;
  }
  throw new Error(`no OptionsError for ${JSON.stringify(raw)}`);
}

describe('erasing options', () => {
  it("torchvision's defaults", () => {
    expect(parseErasingOptions({})).toEqual({ p: 0.5, scale: [0.02, 0.33], ratio: [0.3, 3.3], value: 0 });
    expect(erasing.parseOptions).toBe(parseErasingOptions);
  });

  it('refuses a scale outside (0, 1), reversed ranges, an unknown value and p past 1, at their paths', () => {
    expect(optionsError({ scale: [0, 0.3] }).issues.map((i) => i.path)).toEqual([['scale', 0]]);
    expect(optionsError({ scale: [0.1, 1] }).issues.map((i) => i.path)).toEqual([['scale', 1]]);
    expect(optionsError({ ratio: [3, 0.3] }).issues.map((i) => i.path)).toEqual([['ratio']]);
    expect(optionsError({ value: 'noise' }).issues.map((i) => i.path)).toEqual([['value']]);
    expect(optionsError({ p: 1.2 }).issues.map((i) => i.path)).toEqual([['p']]);
  });

  it('through the config loader: plugins[i].erasing.scale[1]', async () => {
    const registry = new PluginRegistry().register('erasing', erasing);
    await expect(resolvePlugins({ plugins: [{ erasing: { scale: [0.1, 2] } }] as never, baseDir: process.cwd() }, registry, () => undefined)).rejects.toThrow(
      /plugins\[0\]\.erasing\.scale\[1\]/,
    );
  });
});

describe('boxes and erasing', () => {
  it('boxes: area within scale (up to rounding), aspect within ratio, strictly smaller than the image', () => {
    const rng = new Rng(1);
    let found = 0;
    for (let k = 0; k < 400; k++) {
      const b = sampleEraseBox(48, 48, [0.02, 0.33], [0.3, 3.3], rng);
      if (!b) continue;
      found++;
      expect(b.height < 48 && b.width < 48 && b.top + b.height <= 48 && b.left + b.width <= 48).toBe(true);
      const share = (b.height * b.width) / (48 * 48);
      expect(share).toBeGreaterThan(0.01);
      expect(share).toBeLessThan(0.36);
    }
    expect(found).toBeGreaterThan(390);
  });

  it('null after ten misses (a box that cannot fit), as torchvision returns the image', () => {
    expect(sampleEraseBox(4, 4, [0.9, 0.99], [1, 1], new Rng(1))).toBeNull();
  });

  it('erases exactly the box with a per-channel value and leaves every other pixel', () => {
    const x = tf.fill([1, 3, 3, 3], 0.5) as tf.Tensor4D;
    const out = eraseBatch(x, [{ top: 1, left: 0, height: 1, width: 2 }], [0.1, 0.2, 0.3]);
    const v = Array.from(out.dataSync(), (a) => Math.round(a * 1e6) / 1e6);
    expect(v.slice(9, 15)).toEqual([0.1, 0.2, 0.3, 0.1, 0.2, 0.3]);
    expect([...v.slice(0, 9), ...v.slice(15)].every((a) => a === 0.5)).toBe(true);
    tf.dispose([x, out]);
  });

  it("value 'random': N(0, 1) inside the box, seeded; untouched outside", () => {
    const x = tf.fill([1, 40, 40, 3], 0.5) as tf.Tensor4D;
    const box = { top: 0, left: 0, height: 30, width: 30 };
    const a = eraseBatch(x, [box], 'random', 7);
    const b = eraseBatch(x, [box], 'random', 7);
    expect(Array.from(a.dataSync())).toEqual(Array.from(b.dataSync()));
    const inside: number[] = [];
    const values = a.dataSync();
    for (let r = 0; r < 40; r++) for (let c = 0; c < 40; c++) for (let ch = 0; ch < 3; ch++) {
      const v = values[(r * 40 + c) * 3 + ch];
      if (r < 30 && c < 30) inside.push(v);
      else expect(v).toBe(0.5);
    }
    const mean = inside.reduce((s, v) => s + v, 0) / inside.length;
    const sd = Math.sqrt(inside.reduce((s, v) => s + (v - mean) ** 2, 0) / inside.length);
    // 2700 values: standard errors 0.02 (mean) and 0.014 (deviation).
    expect(Math.abs(mean)).toBeLessThan(0.08);
    expect(Math.abs(sd - 1)).toBeLessThan(0.06);
    tf.dispose([x, a, b]);
  });
});

describe('erasing plugin', () => {
  it('is the default export, draws per sample from the context generator, records and applies the boxes', () => {
    expect(erasingDefault).toBe(erasing);
    const { x, y } = randomBatch(2, 6, 12, 3);
    const drawn: Record<string, unknown> = {};
    const out = erasing({ p: 0.7, value: 'random' }).transformBatch!({ views: { real: { x, y, weight: 1 } } }, context(new Rng(4), drawn));
    const draw = drawErasing(6, 12, 12, parseErasingOptions({ p: 0.7, value: 'random' }), new Rng(4));
    expect(drawn).toEqual(draw);
    expect(draw.boxes.some(Boolean) && !draw.boxes.every(Boolean)).toBe(true);
    const expected = applyErasing(x, draw, 'random');
    expect(rows(out.views.real.x)).toEqual(rows(expected));
    tf.dispose([x, y, out.views.real.x, expected]);
  });

  it('p 0 keeps the view itself', () => {
    const { x, y } = randomBatch(3, 3, 8, 3);
    const batch = { views: { real: { x, y, weight: 1 } } };
    expect(erasing({ p: 0 }).transformBatch!(batch, context(new Rng(1))).views.real).toBe(batch.views.real);
    tf.dispose([x, y]);
  });

  it('through createTrainStep: a seeded run repeats itself; no tensor leaks over 10 steps', () => {
    const run = () => {
      const model = tinyModel(1, 8, 3);
      const { x, y } = randomBatch(5, 6, 8, 3);
      const step = createTrainStep({ model, optimizer: tf.train.sgd(0.1), plugins: [erasing({ p: 0.8 })], seed: 3 });
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
