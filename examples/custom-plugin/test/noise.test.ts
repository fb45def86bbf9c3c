import * as tf from '@tensorflow/tfjs-core';
import { Rng } from '@fermix/core';
import { beforeAll, describe, expect, it } from 'vitest';
import { addNoise, drawNoise } from '../src/index.js';
import { randomBatch, useCpu } from './helpers.js';

beforeAll(useCpu);

describe('addNoise', () => {
  it('adds zero-mean noise of standard deviation sigma to the masked samples; the others are copied bit for bit', () => {
    const x = tf.fill([3, 32, 32, 3], 0.5) as tf.Tensor4D;
    const out = addNoise(x, 0.05, [true, false, true], 7);
    const values = out.dataSync();
    const per = 32 * 32 * 3;
    for (const i of [0, 2]) {
      const d = Array.from(values.subarray(i * per, (i + 1) * per), (v) => v - 0.5);
      const mean = d.reduce((a, b) => a + b, 0) / per;
      const sd = Math.sqrt(d.reduce((a, b) => a + (b - mean) ** 2, 0) / per);
      // 3072 values: the standard error of the mean is 0.0009, of the deviation about 0.0007.
      expect(Math.abs(mean)).toBeLessThan(0.004);
      expect(Math.abs(sd - 0.05)).toBeLessThan(0.003);
    }
    expect(Array.from(values.subarray(per, 2 * per)).every((v) => v === 0.5)).toBe(true);
    // Two noised samples get different noise.
    expect(Array.from(values.subarray(0, per))).not.toEqual(Array.from(values.subarray(2 * per)));
    tf.dispose([x, out]);
  });

  it('clips to [0, 1]', () => {
    const { x } = randomBatch(1, 2, 8);
    const out = addNoise(x, 1, [true, true], 3);
    const v = out.dataSync();
    expect(Math.min(...v)).toBe(0);
    expect(Math.max(...v)).toBe(1);
    tf.dispose([x, out]);
  });

  it('the same seed gives the same noise, another seed other noise', () => {
    const { x } = randomBatch(2, 2, 8);
    const a = addNoise(x, 0.1, [true, true], 11);
    const b = addNoise(x, 0.1, [true, true], 11);
    const c = addNoise(x, 0.1, [true, true], 12);
    expect(Array.from(a.dataSync())).toEqual(Array.from(b.dataSync()));
    expect(Array.from(a.dataSync())).not.toEqual(Array.from(c.dataSync()));
    tf.dispose([x, a, b, c]);
  });

  it('refuses a negative sigma, a wrong mask length and a tensor of another rank', () => {
    const { x } = randomBatch(3, 2, 4);
    expect(() => addNoise(x, -1, [true, true], 1)).toThrow(/sigma/);
    expect(() => addNoise(x, 0.1, [true], 1)).toThrow(/1 entries for a batch of 2/);
    expect(() => addNoise(tf.zeros([2, 4]) as never, 0.1, [true, true], 1)).toThrow(/rank 4/);
    tf.dispose(x);
  });
});

describe('drawNoise', () => {
  it('draws one uniform per sample, then the seed, from the generator', () => {
    const draw = drawNoise(5, 0.5, new Rng(4));
    const check = new Rng(4);
    expect(draw.mask).toEqual(Array.from({ length: 5 }, () => check.uniform() < 0.5));
    expect(draw.seed).toBe(1 + check.int(0x7fffffff));
  });

  it('p 0 never, p 1 always; 0.3 about 30% of 4000 samples', () => {
    expect(drawNoise(20, 0, new Rng(1)).mask.some(Boolean)).toBe(false);
    expect(drawNoise(20, 1, new Rng(1)).mask.every(Boolean)).toBe(true);
    const share = drawNoise(4000, 0.3, new Rng(2)).mask.filter(Boolean).length / 4000;
    expect(Math.abs(share - 0.3)).toBeLessThan(0.03);
  });
});
