import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import * as tfl from '@tensorflow/tfjs-layers';
import { BackboneRegistry, OptionsError, Rng, basePlan, buildModel, createTrainStep, initializeKernels, type BackboneDefinition, type Batch, type FermixPlugin, type PluginContext } from '@fermix/core';
import { beforeAll, describe, expect, it } from 'vitest';
import flipDefault, { flip, flipBatch, sampleFlipMask } from '../src/index.js';

beforeAll(async () => {
  await tf.setBackend('cpu');
  await tf.ready();
});

/** A random batch [n, h, w, c] with distinct values, and its host copy. */
function randomImages(n: number, h: number, w: number, c: number, seed = 1) {
  const rng = new Rng(seed);
  const values = Float32Array.from({ length: n * h * w * c }, () => rng.uniform());
  return { values, x: tf.tensor4d(values, [n, h, w, c]) };
}

/** The JS reference: sample i mirrored left-right when mask[i] is set. */
function referenceFlip(values: Float32Array, [n, h, w, c]: number[], mask: ArrayLike<unknown>): Float32Array {
  const out = new Float32Array(values.length);
  for (let i = 0; i < n; i++)
    for (let r = 0; r < h; r++)
      for (let k = 0; k < w; k++)
        for (let ch = 0; ch < c; ch++) {
          const src = mask[i] ? w - 1 - k : k;
          out[((i * h + r) * w + k) * c + ch] = values[((i * h + r) * w + src) * c + ch];
        }
  return out;
}

/** A context like createTrainStep's, recording into `drawn`. */
function context(rng: Rng, drawn: Record<string, unknown> = {}): PluginContext {
  return { step: 0, epoch: 0, rng, logger: undefined as never, container: undefined as never, record: (k, v) => (drawn[k] = v) };
}

function viewOf(x: tf.Tensor4D, n = x.shape[0]) {
  return { x, y: tf.cast(tf.oneHot(tf.tensor1d(Array.from({ length: n }, (_, i) => i % 3), 'int32'), 3), 'float32') as tf.Tensor2D, weight: 1 };
}

describe('flipBatch', () => {
  it('mirrors exactly the masked samples (bit-exact) and leaves the others untouched', () => {
    const shape = [5, 3, 4, 2];
    const { values, x } = randomImages(5, 3, 4, 2);
    const mask = [true, false, true, true, false];
    const expected = referenceFlip(values, shape, mask);
    const masks = [mask, Uint8Array.from(mask.map(Number)), tf.tensor1d(mask.map(Number), 'bool'), tf.tensor1d(mask.map(Number), 'float32')];
    for (const m of masks) {
      const out = flipBatch(x, m as never);
      expect(out.shape).toEqual(shape);
      expect(Array.from(out.dataSync())).toEqual(Array.from(expected));
      out.dispose();
    }
    // Unmasked samples are the input itself, value for value.
    expect(Array.from(expected.subarray(3 * 4 * 2, 2 * 3 * 4 * 2))).toEqual(Array.from(values.subarray(3 * 4 * 2, 2 * 3 * 4 * 2)));
    tf.dispose([x, ...(masks.filter((m) => m instanceof tf.Tensor) as tf.Tensor[])]);
  });

  it('flipping twice gives the input back; an all-false mask copies; an all-true mask reverses the width', () => {
    const { values, x } = randomImages(3, 2, 5, 3, 2);
    const twice = tf.tidy(() => flipBatch(flipBatch(x, [true, false, true]), [true, false, true]));
    expect(Array.from(twice.dataSync())).toEqual(Array.from(values));
    const none = flipBatch(x, [false, false, false]);
    expect(none).not.toBe(x);
    expect(Array.from(none.dataSync())).toEqual(Array.from(values));
    const all = flipBatch(x, [true, true, true]);
    const reversed = tf.reverse(x, 2);
    expect(Array.from(all.dataSync())).toEqual(Array.from(reversed.dataSync()));
    tf.dispose([x, twice, none, all, reversed]);
  });

  it('leaves nothing behind but its output', () => {
    const { x } = randomImages(4, 3, 3, 1);
    const mask = tf.tensor1d([1, 0, 0, 1], 'bool');
    const before = tf.memory().numTensors;
    const out = flipBatch(x, mask);
    expect(tf.memory().numTensors).toBe(before + 1);
    tf.dispose([x, mask, out]);
  });

  it('rejects a mask of the wrong length', () => {
    const { x } = randomImages(2, 2, 2, 1);
    expect(() => flipBatch(x, [true])).toThrow(/1 entries for a batch of 2/);
    x.dispose();
  });
});

describe('sampleFlipMask', () => {
  it('flips at rate p over many draws, none at p = 0 and all at p = 1', () => {
    const rng = new Rng(7);
    for (const p of [0.1, 0.5, 0.8]) {
      const mask = sampleFlipMask(20000, p, rng);
      const rate = mask.filter(Boolean).length / mask.length;
      // Binomial sd at n = 20000 is <= 0.0036: 0.015 is over 4 sd.
      expect(Math.abs(rate - p)).toBeLessThan(0.015);
    }
    expect(sampleFlipMask(1000, 0, rng).some(Boolean)).toBe(false);
    expect(sampleFlipMask(1000, 1, rng).every(Boolean)).toBe(true);
  });

  it('gives the same masks for the same seed and takes n draws whatever p is', () => {
    expect(sampleFlipMask(64, 0.5, new Rng(3))).toEqual(sampleFlipMask(64, 0.5, new Rng(3)));
    expect(sampleFlipMask(64, 0.5, new Rng(3))).not.toEqual(sampleFlipMask(64, 0.5, new Rng(4)));
    const a = new Rng(5);
    const b = new Rng(5);
    sampleFlipMask(10, 0, a);
    sampleFlipMask(10, 0.9, b);
    expect(a.getState()).toEqual(b.getState());
  });
});

describe('flip plugin', () => {
  it('is a plugin factory (default and named export) for apiVersion 1', () => {
    expect(flipDefault).toBe(flip);
    const plugin = flip();
    expect(plugin).toMatchObject({ name: 'flip', apiVersion: 1 });
    expect(typeof plugin.transformBatch).toBe('function');
    expect(flip.parseOptions({})).toEqual({ p: 0.5 });
  });

  it('flips the samples of the recorded mask and records the count', () => {
    const { values, x } = randomImages(8, 3, 4, 3);
    const drawn: Record<string, unknown> = {};
    const view = viewOf(x);
    const out = flip({ p: 0.5 }).transformBatch!({ views: { real: view } }, context(new Rng(11), drawn));
    const mask = drawn.mask as number[];
    expect(mask).toEqual(sampleFlipMask(8, 0.5, new Rng(11)).map(Number));
    expect(drawn.flipped).toBe(mask.reduce((a, b) => a + b, 0));
    expect(drawn.flipped).toBeGreaterThan(0);
    expect(drawn.flipped).toBeLessThan(8);
    expect(Array.from(out.views.real.x.dataSync())).toEqual(Array.from(referenceFlip(values, [8, 3, 4, 3], mask)));
    expect(out.views.real.y).toBe(view.y);
    expect(out.views.real.weight).toBe(1);
    tf.dispose([x, view.y, out.views.real.x]);
  });

  it('flips none at p = 0 (same tensor back) and all at p = 1', () => {
    const { values, x } = randomImages(6, 2, 3, 1);
    const view = viewOf(x);
    const drawn: Record<string, unknown> = {};
    const none = flip({ p: 0 }).transformBatch!({ views: { real: view } }, context(new Rng(1), drawn));
    expect(none.views.real.x).toBe(x);
    expect(drawn).toEqual({ flipped: 0, mask: [0, 0, 0, 0, 0, 0] });
    const all = flip({ p: 1 }).transformBatch!({ views: { real: view } }, context(new Rng(1), drawn));
    expect(drawn.flipped).toBe(6);
    expect(Array.from(all.views.real.x.dataSync())).toEqual(Array.from(referenceFlip(values, [6, 2, 3, 1], [1, 1, 1, 1, 1, 1])));
    tf.dispose([x, view.y, all.views.real.x]);
  });

  it('flips at rate p over many steps, with the same masks for the same seed', () => {
    const { x } = randomImages(16, 2, 2, 1);
    const view = viewOf(x);
    const run = (seed: number) => {
      const plugin = flip({ p: 0.3 });
      const rng = new Rng(seed);
      const masks: number[][] = [];
      for (let s = 0; s < 250; s++) {
        const drawn: Record<string, unknown> = {};
        const out = plugin.transformBatch!({ views: { real: view } }, context(rng, drawn));
        if (out.views.real.x !== x) out.views.real.x.dispose();
        masks.push(drawn.mask as number[]);
      }
      return masks;
    };
    const masks = run(21);
    const rate = masks.flat().reduce((a, b) => a + b, 0) / (250 * 16);
    expect(Math.abs(rate - 0.3)).toBeLessThan(0.03);
    expect(run(21)).toEqual(masks);
    expect(run(22)).not.toEqual(masks);
    tf.dispose([x, view.y]);
  });

  it('flips every view: views of the batch size share the mask, another size gets its own', () => {
    const { values, x } = randomImages(4, 2, 3, 2, 3);
    const small = randomImages(2, 2, 3, 2, 4);
    const real = viewOf(x);
    const twin = { ...viewOf(x), group: 'other', weight: 0.5 };
    const extra = viewOf(small.x);
    const drawn: Record<string, unknown> = {};
    const rng = new Rng(9);
    const out = flip({ p: 0.5 }).transformBatch!({ views: { real, twin, extra } }, context(rng, drawn));
    const replay = new Rng(9);
    const main = sampleFlipMask(4, 0.5, replay);
    const other = sampleFlipMask(2, 0.5, replay);
    expect(drawn.mask).toEqual(main.map(Number));
    expect(Array.from(out.views.real.x.dataSync())).toEqual(Array.from(referenceFlip(values, [4, 2, 3, 2], main)));
    expect(Array.from(out.views.twin.x.dataSync())).toEqual(Array.from(referenceFlip(values, [4, 2, 3, 2], main)));
    expect(out.views.twin).toMatchObject({ group: 'other', weight: 0.5, y: twin.y });
    expect(Array.from(out.views.extra.x.dataSync())).toEqual(Array.from(referenceFlip(small.values, [2, 2, 3, 2], other)));
    expect(Object.keys(out.views)).toEqual(['real', 'twin', 'extra']);
    tf.dispose([x, small.x, real.y, twin.y, extra.y, out.views.real.x, out.views.twin.x, out.views.extra.x]);
  });

  it('validates p with zod: outside [0, 1] is an OptionsError naming p', () => {
    for (const p of [-0.1, 1.5, 'half']) {
      let error: unknown;
      try {
        flip.parseOptions({ p });
      } catch (err) {
        error = err;
      }
      expect(error).toBeInstanceOf(OptionsError);
      expect((error as OptionsError).issues.map((i) => i.path)).toEqual([['p']]);
      expect((error as OptionsError).issues[0].found).toBe(p);
      expect(() => flip({ p } as never)).toThrow(OptionsError);
    }
    expect(() => flip.parseOptions({ prob: 0.5 })).toThrow(/prob/);
    expect(flip.parseOptions({ p: 0 })).toEqual({ p: 0 });
    expect(flip.parseOptions({ p: 1 })).toEqual({ p: 1 });
  });
});

describe('flip in createTrainStep', () => {
  const tiny: BackboneDefinition = {
    name: 'tiny',
    description: 'one conv, for tests',
    minInputSize: 4,
    build(input) {
      return tfl.layers.conv2d({ filters: 4, kernelSize: 3, strides: 2, padding: 'same', activation: 'relu', name: 'conv' }).apply(input) as tfl.SymbolicTensor;
    },
  };

  function tinyModel() {
    const model = buildModel(basePlan({ backbone: 'tiny', imageSize: 8, numClasses: 3 }), new BackboneRegistry().register(tiny));
    initializeKernels(model, new Rng(1));
    return model;
  }

  it('feeds the flipped images to the model, records the mask, and leaks no tensor', () => {
    const { values, x } = randomImages(6, 8, 8, 3);
    const { y } = viewOf(x);
    let seen: Float32Array | undefined;
    const probe: FermixPlugin = {
      name: 'probe',
      apiVersion: 1,
      transformBatch(batch: Batch) {
        seen ??= batch.views.real.x.dataSync() as Float32Array;
        return batch;
      },
    };
    const step = createTrainStep({ model: tinyModel(), optimizer: tf.train.sgd(0.01), plugins: [flip({ p: 0.5 }), probe], seed: 4 });
    const first = step({ x, y });
    const mask = first.drawn.flip.mask as number[];
    expect(first.drawn.flip.flipped).toBe(mask.reduce((a, b) => a + b, 0));
    expect(Array.from(seen!)).toEqual(Array.from(referenceFlip(values, [6, 8, 8, 3], mask)));
    expect(Number.isFinite(first.loss)).toBe(true);
    const afterFirst = tf.memory().numTensors;
    for (let i = 0; i < 19; i++) step({ x, y });
    expect(tf.memory().numTensors).toBe(afterFirst);
    // The caller's batch is untouched.
    expect(Array.from(x.dataSync())).toEqual(Array.from(values));
    tf.dispose([x, y]);
  });
});
