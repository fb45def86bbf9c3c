import * as tf from '@tensorflow/tfjs-core';
import { createTrainStep, OptionsError, Rng, silentLogger, type PluginContext } from '@fermix/core';
import { beforeAll, describe, expect, it } from 'vitest';
import noiseDefault, { addNoise, drawNoise, noise, parseNoiseOptions } from '../src/index.js';
import { randomBatch, tinyModel, useCpu } from './helpers.js';

beforeAll(useCpu);

function context(rng: Rng, drawn: Record<string, unknown>): PluginContext {
  return { step: 0, epoch: 0, rng, logger: silentLogger, container: {} as PluginContext['container'], record: (k, v) => (drawn[k] = v) };
}

function optionsError(raw: unknown): OptionsError {
  try {
    parseNoiseOptions(raw);
  } catch (err) {
    if (err instanceof OptionsError) return err;
    throw err;
  }
  throw new Error(`no OptionsError for ${JSON.stringify(raw)}`);
}

describe('noise options', () => {
  it('defaults: sigma 0.05, p 0.5', () => {
    expect(parseNoiseOptions({})).toEqual({ sigma: 0.05, p: 0.5 });
    expect(parseNoiseOptions(undefined)).toEqual({ sigma: 0.05, p: 0.5 });
  });

  it('a bad value names its path, the value found and what was expected', () => {
    const sigma = optionsError({ sigma: 0 });
    expect(sigma.issues).toEqual([{ path: ['sigma'], expected: 'a number > 0', found: 0 }]);
    expect(sigma.message).toMatch(/sigma: expected a number > 0, found 0/);
    expect(optionsError({ p: 1.5 }).issues[0]).toMatchObject({ path: ['p'], expected: 'a number <= 1', found: 1.5 });
    expect(optionsError({ sigma: 'high' }).issues[0]).toMatchObject({ path: ['sigma'], found: 'high' });
  });

  it('an unknown key is reported as such', () => {
    const err = optionsError({ sgima: 1 });
    expect(err.issues[0].path).toEqual(['sgima']);
    expect(err.issues[0].expected).toMatch(/unknown option/);
  });

  it('the factory validates too', () => {
    expect(() => noise({ sigma: -1 })).toThrow(OptionsError);
  });
});

describe('noise plugin', () => {
  it('is the default export and declares apiVersion 1', () => {
    expect(noiseDefault).toBe(noise);
    expect(noise.parseOptions).toBe(parseNoiseOptions);
    const plugin = noise();
    expect(plugin.name).toBe('noise');
    expect(plugin.apiVersion).toBe(1);
  });

  it('noises the real view as drawn from the context generator, records the mask and seed, keeps labels and other views', () => {
    const { x, y } = randomBatch(2, 5, 8);
    const drawn: Record<string, any> = {};
    const other = { x, y, weight: 0.5 };
    const out = noise({ sigma: 0.1, p: 0.6 }).transformBatch!({ views: { real: { x, y, weight: 1 }, other } }, context(new Rng(9), drawn));
    const draw = drawNoise(5, 0.6, new Rng(9));
    expect(drawn).toEqual({ mask: draw.mask.map(Number), seed: draw.seed });
    const expected = addNoise(x, 0.1, draw.mask, draw.seed);
    expect(Array.from(out.views.real.x.dataSync())).toEqual(Array.from(expected.dataSync()));
    expect(out.views.real.y).toBe(y);
    expect(out.views.other).toBe(other);
    tf.dispose([x, y, out.views.real.x, expected]);
  });

  it('p 0 leaves the batch itself alone', () => {
    const { x, y } = randomBatch(3, 4, 6);
    const batch = { views: { real: { x, y, weight: 1 } } };
    const drawn: Record<string, unknown> = {};
    expect(noise({ p: 0 }).transformBatch!(batch, context(new Rng(1), drawn))).toBe(batch);
    expect(drawn.mask).toEqual([0, 0, 0, 0]);
    tf.dispose([x, y]);
  });

  it('through createTrainStep on a tiny model: finite loss, no tensor leak over 20 steps, and the same seed repeats', () => {
    const run = (seed: number) => {
      const model = tinyModel(1);
      const { x, y } = randomBatch(5, 6, 8);
      const step = createTrainStep({ model, optimizer: tf.train.sgd(0.05), plugins: [noise({ sigma: 0.1 })], seed });
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
    for (const r of a) expect(Number.isFinite(r.loss)).toBe(true);
    expect(new Set(a.map((r) => r.drawn.noise.seed)).size).toBe(20);
    const b = run(7);
    expect(b.map((r) => r.drawn.noise)).toEqual(a.map((r) => r.drawn.noise));
    expect(b.map((r) => r.loss)).toEqual(a.map((r) => r.loss));
  });
});
