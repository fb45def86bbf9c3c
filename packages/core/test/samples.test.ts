import * as tf from '@tensorflow/tfjs-core';
import pngjs from 'pngjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { Rng } from '../src/rng.js';
import { sampleGallery } from '../src/train/samples.js';
import type { Batch, FermixPlugin } from '../src/types.js';
import { useCpu } from './helpers.js';

beforeAll(useCpu);

/** A mixing plugin in miniature: adds a `mixed` view, sample i mixed with sample n-1-i at lam drawn from ctx.rng. */
const mixer: FermixPlugin = {
  name: 'mixer',
  apiVersion: 1,
  transformBatch(batch, ctx) {
    const real = batch.views.real;
    const lam = 0.5 + 0.5 * ctx.rng.uniform();
    ctx.record('lam', lam);
    const x = tf.add(tf.mul(real.x, lam), tf.mul(tf.reverse(real.x, 0), 1 - lam)) as tf.Tensor4D;
    const y = tf.add(tf.mul(real.y, lam), tf.mul(tf.reverse(real.y, 0), 1 - lam)) as tf.Tensor2D;
    return { views: { ...batch.views, mixed: { x, y, weight: 2, group: 'mixed' } } };
  },
};

function decodePng(b64: string): Uint8Array {
  return pngjs.PNG.sync.read(Buffer.from(b64, 'base64')).data;
}

describe('sample gallery (samples.json)', () => {
  it('keeps what the network sees after the plugins: mixed images and soft labels, view by view, and leaks no tensor', () => {
    const n = 4;
    const size = 6;
    const rng = new Rng(3);
    const pixels = Float32Array.from({ length: n * size * size * 3 }, () => Math.round(rng.uniform() * 255) / 255);
    const before = tf.memory().numTensors;
    const x = tf.tensor4d(pixels, [n, size, size, 3]);
    const y = tf.tidy(() => tf.cast(tf.oneHot(tf.tensor1d([0, 1, 2, 1], 'int32'), 3), 'float32')) as tf.Tensor2D;
    const batch: Batch = { views: { real: { x, y, weight: 1 } } };
    const gallery = sampleGallery(batch, { plugins: [mixer], classes: ['a', 'b', 'c'], rng: new Rng(9), count: 3 });
    tf.dispose([x, y]);
    expect(tf.memory().numTensors).toBe(before);

    expect(gallery.imageSize).toBe(size);
    expect(Object.keys(gallery.views)).toEqual(['real', 'mixed']);
    expect(gallery.views.real.samples).toHaveLength(3);
    expect(gallery.views.mixed.weight).toBe(2);
    expect(gallery.views.mixed.group).toBe('mixed');
    const lam = gallery.drawn.mixer.lam as number;
    expect(lam).toBeGreaterThan(0.5);
    // The lam comes from the generator the gallery was given.
    expect(lam).toBe(0.5 + 0.5 * new Rng(9).uniform());

    // Sample 0 mixes image 0 (class a) with image 3 (class b).
    expect(gallery.views.mixed.samples[0].label).toEqual([+lam.toFixed(4), +(1 - lam).toFixed(4), 0]);
    expect(gallery.views.real.samples[1].label).toEqual([0, 1, 0]);
    const img = decodePng(gallery.views.mixed.samples[0].png);
    const px = size * size * 3;
    for (let p = 0; p < size * size; p++) {
      for (let c = 0; c < 3; c++) {
        const expected = (lam * pixels[p * 3 + c] + (1 - lam) * pixels[3 * px + p * 3 + c]) * 255;
        expect(Math.abs(img[p * 4 + c] - expected)).toBeLessThanOrEqual(0.5 + 1e-3);
      }
    }
    const real = decodePng(gallery.views.real.samples[2].png);
    expect(real[0]).toBe(Math.round(pixels[2 * px] * 255));
  });
});
