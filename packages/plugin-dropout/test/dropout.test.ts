import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import * as tfl from '@tensorflow/tfjs-layers';
import {
  BackboneRegistry,
  OptionsError,
  Rng,
  applyModelTransforms,
  basePlan,
  buildModel,
  createTrainStep,
  fsIOHandler,
  initializeKernels,
  silentLogger,
  type SetupContext,
} from '@fermix/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
// @fermix/backbones is not a dependency of this package (package.json is not ours to edit here), so
// it is imported from its sources; with it added as a devDependency this becomes '@fermix/backbones'.
import { smallCnn } from '../../backbones/src/index.js';
import dropoutDefault, { dropout, type DropoutOptionsInput } from '../src/index.js';

beforeAll(async () => {
  await tf.setBackend('cpu');
  await tf.ready();
});

const setup: SetupContext = { logger: silentLogger, container: undefined as never, rng: new Rng(0) };
const backbones = new BackboneRegistry().register(smallCnn);

/** A small-cnn of two stages (4 and 8 filters) on 16x16 images, with dropout when options are given. */
function build(options?: DropoutOptionsInput, seed = 1): tfl.LayersModel {
  const plan = basePlan({ backbone: 'small-cnn', imageSize: 16, numClasses: 3, backboneOptions: { widths: [4, 8], convsPerStage: 1 } });
  const model = buildModel(applyModelTransforms(plan, options ? [dropout(options)] : [], setup), backbones);
  initializeKernels(model, new Rng(seed));
  return model;
}

/** The names of the layers feeding `name`. */
function inputsOf(model: tfl.LayersModel, name: string): string[] {
  return model.getLayer(name).inboundNodes[0].inboundLayers.map((l) => l.name);
}

function dropoutLayers(model: tfl.LayersModel): tfl.layers.Layer[] {
  return model.layers.filter((l) => l.getClassName() === 'Dropout');
}

function images(n = 4, seed = 2): tf.Tensor4D {
  const rng = new Rng(seed);
  return tf.tensor4d(Float32Array.from({ length: n * 16 * 16 * 3 }, () => rng.uniform()), [n, 16, 16, 3]);
}

function values(t: tf.Tensor | tf.Tensor[]): number[] {
  return Array.from((Array.isArray(t) ? t[0] : t).dataSync());
}

/** A model without dropout with the same weights (dropout adds none, so the lists line up). */
function twinWithoutDropout(model: tfl.LayersModel): tfl.LayersModel {
  const base = build();
  base.setWeights(model.getWeights());
  return base;
}

describe('dropout plugin', () => {
  it('is a plugin factory (default and named export) for apiVersion 1 with the paper\'s defaults', () => {
    expect(dropoutDefault).toBe(dropout);
    expect(dropout()).toMatchObject({ name: 'dropout', apiVersion: 1 });
    expect(dropout.parseOptions({})).toEqual({ rate: 0.5, placement: 'head' });
  });

  it('validates rate in [0, 1) and placement: an OptionsError naming the option', () => {
    for (const rate of [1, 1.5, -0.1, 'half']) {
      let error: unknown;
      try {
        dropout.parseOptions({ rate });
      } catch (err) {
        error = err;
      }
      expect(error).toBeInstanceOf(OptionsError);
      expect((error as OptionsError).issues.map((i) => i.path)).toEqual([['rate']]);
      expect((error as OptionsError).issues[0].found).toBe(rate);
      expect(() => dropout({ rate } as never)).toThrow(OptionsError);
    }
    expect(() => dropout.parseOptions({ placement: 'tail' })).toThrow(/placement.*one of head \| spatial \| blocks/s);
    expect(() => dropout.parseOptions({ rat: 0.5 })).toThrow(/rat/);
    expect(dropout.parseOptions({ rate: 0 })).toEqual({ rate: 0, placement: 'head' });
    expect(dropout.parseOptions({ rate: 0.999, placement: 'spatial' })).toEqual({ rate: 0.999, placement: 'spatial' });
  });

  it('does not change the plan it is given', () => {
    const plan = basePlan({ backbone: 'small-cnn', imageSize: 16, numClasses: 3 });
    const before = { afterBlock: plan.afterBlock, beforePool: plan.beforePool, beforeHead: plan.beforeHead };
    const after = dropout({ placement: 'blocks' }).transformModel!(plan, setup);
    expect(after.afterBlock).toHaveLength(1);
    expect(plan).toMatchObject(before);
    expect(plan.afterBlock).toHaveLength(0);
  });
});

describe('placements', () => {
  it('head: head_dropout on the pooled features, the layer right before predictions', () => {
    const model = build({ rate: 0.5 });
    expect(inputsOf(model, 'predictions')).toEqual(['head_dropout']);
    expect(inputsOf(model, 'head_dropout')).toEqual(['avg_pool']);
    expect(dropoutLayers(model).map((l) => l.name)).toEqual(['head_dropout']);
    const config = model.getLayer('head_dropout').getConfig();
    expect(config.rate).toBe(0.5);
    expect(config.seed == null).toBe(true);
    expect(config.noiseShape == null).toBe(true);
    // Exactly one layer more than the model without dropout, and the same weights.
    const base = build();
    expect(model.layers.map((l) => l.name).filter((n) => n !== 'head_dropout')).toEqual(base.layers.map((l) => l.name));
    expect(model.weights.map((w) => w.originalName)).toEqual(base.weights.map((w) => w.originalName));
  });

  it('spatial: spatial_dropout with a [B, 1, 1, C] mask on the last feature map, before the global pooling', () => {
    const model = build({ rate: 0.3, placement: 'spatial' });
    expect(inputsOf(model, 'avg_pool')).toEqual(['spatial_dropout']);
    expect(inputsOf(model, 'spatial_dropout')).toEqual(['block2_pool']);
    expect(inputsOf(model, 'predictions')).toEqual(['avg_pool']);
    expect(dropoutLayers(model).map((l) => l.name)).toEqual(['spatial_dropout']);
    const config = model.getLayer('spatial_dropout').getConfig();
    expect(config).toMatchObject({ rate: 0.3, noiseShape: [null, 1, 1, null] });
    expect(config.seed == null).toBe(true);
  });

  it('blocks: one blockN_dropout after each block of the backbone', () => {
    const model = build({ rate: 0.2, placement: 'blocks' });
    expect(dropoutLayers(model).map((l) => l.name)).toEqual(['block1_dropout', 'block2_dropout']);
    expect(inputsOf(model, 'block1_dropout')).toEqual(['block1_pool']);
    expect(inputsOf(model, 'block2_conv1')).toEqual(['block1_dropout']);
    expect(inputsOf(model, 'block2_dropout')).toEqual(['block2_pool']);
    expect(inputsOf(model, 'avg_pool')).toEqual(['block2_dropout']);
    expect(inputsOf(model, 'predictions')).toEqual(['avg_pool']);
    for (const l of dropoutLayers(model)) expect(l.getConfig()).toMatchObject({ rate: 0.2 });
  });

  it('placements combine (one entry each), and rate 0 adds nothing', () => {
    const plan = basePlan({ backbone: 'small-cnn', imageSize: 16, numClasses: 3, backboneOptions: { widths: [4, 8], convsPerStage: 1 } });
    const plugins = [dropout({ placement: 'blocks', rate: 0.1 }), dropout({ placement: 'spatial', rate: 0.2 }), dropout({ rate: 0.5 })];
    const model = buildModel(applyModelTransforms(plan, plugins, setup), backbones);
    expect(dropoutLayers(model).map((l) => l.name)).toEqual(['block1_dropout', 'block2_dropout', 'spatial_dropout', 'head_dropout']);
    for (const placement of ['head', 'spatial', 'blocks'] as const) {
      expect(dropoutLayers(build({ rate: 0, placement }))).toHaveLength(0);
    }
  });
});

describe('training and inference', () => {
  for (const placement of ['head', 'spatial', 'blocks'] as const) {
    it(`${placement}: identical to the model without dropout in inference, varies between calls in training`, () => {
      const model = build({ rate: 0.5, placement });
      const x = images();
      const base = twinWithoutDropout(model);
      const expected = values(base.predict(x) as tf.Tensor);
      expect(values(model.predict(x) as tf.Tensor)).toEqual(expected);
      expect(values(model.apply(x, { training: false }) as tf.Tensor)).toEqual(expected);
      // Batch norm is deterministic on a fixed batch, so any change between two calls is dropout's.
      const a = values(model.apply(x, { training: true }) as tf.Tensor);
      const b = values(model.apply(x, { training: true }) as tf.Tensor);
      const c = values(base.apply(x, { training: true }) as tf.Tensor);
      const d = values(base.apply(x, { training: true }) as tf.Tensor);
      expect(c).toEqual(d);
      expect(a).not.toEqual(b);
      expect(a).not.toEqual(c);
      x.dispose();
    });
  }

  it('draws its masks from the run\'s generator: the same seed gives the same masks call after call, a new one each call', () => {
    const withSeed = (seed: number) => {
      const plan = basePlan({ backbone: 'small-cnn', imageSize: 16, numClasses: 3, backboneOptions: { widths: [4, 8], convsPerStage: 1 } });
      const model = buildModel(applyModelTransforms(plan, [dropout({ rate: 0.5, placement: 'blocks' }), dropout({ rate: 0.5 })], { ...setup, rng: new Rng(seed) }), backbones);
      initializeKernels(model, new Rng(1));
      return model;
    };
    const x = images();
    const [a, b, c] = [withSeed(7), withSeed(7), withSeed(8)];
    const calls = (m: tfl.LayersModel) => [0, 1, 2].map(() => values(m.apply(x, { training: true }) as tf.Tensor));
    const [ra, rb, rc] = [calls(a), calls(b), calls(c)];
    expect(ra).toEqual(rb);
    expect(ra[0]).not.toEqual(ra[1]);
    expect(ra[1]).not.toEqual(ra[2]);
    expect(ra[0]).not.toEqual(rc[0]);
    // Inference draws nothing: the generator's sequence is unchanged by predict.
    const d = withSeed(7);
    d.predict(x);
    expect(calls(d)).toEqual(ra);
    // The saved config has no seed: a loaded model is a plain Dropout.
    expect(a.getLayer('head_dropout').getConfig()).not.toHaveProperty('seed');
    x.dispose();
  });

  it('head_dropout zeroes about `rate` of its inputs and scales the rest by 1 / (1 - rate), a new mask per call', () => {
    for (const rate of [0.5, 0.2]) {
      const layer = build({ rate }).getLayer('head_dropout');
      const ones = tf.ones([200, 64]);
      const first = values(layer.apply(ones, { training: true }) as tf.Tensor);
      const second = values(layer.apply(ones, { training: true }) as tf.Tensor);
      for (const out of [first, second]) {
        const zeroed = out.filter((v) => v === 0).length / out.length;
        // 12800 units: the binomial sd of the rate is <= 0.0045; 0.03 is over 6 sd.
        expect(Math.abs(zeroed - rate)).toBeLessThan(0.03);
        for (const v of out) if (v !== 0) expect(v).toBeCloseTo(1 / (1 - rate), 5);
      }
      expect(first).not.toEqual(second);
      // Inference: the identity.
      expect(values(layer.apply(ones, { training: false }) as tf.Tensor)).toEqual(values(ones));
      expect(values(layer.apply(ones) as tf.Tensor)).toEqual(values(ones));
      ones.dispose();
    }
  });

  it('spatial_dropout zeroes whole channels, independently per sample, about `rate` of them', () => {
    const rate = 0.4;
    const layer = build({ rate, placement: 'spatial' }).getLayer('spatial_dropout');
    const [n, h, w, c] = [16, 5, 5, 32];
    const ones = tf.ones([n, h, w, c]);
    const out = values(layer.apply(ones, { training: true }) as tf.Tensor);
    const masks: number[][] = [];
    let dropped = 0;
    for (let i = 0; i < n; i++) {
      const mask: number[] = [];
      for (let ch = 0; ch < c; ch++) {
        const channel = Array.from({ length: h * w }, (_, p) => out[(i * h * w + p) * c + ch]);
        const kept = channel[0] !== 0;
        // The whole h x w map of a channel is either dropped or kept (and scaled).
        for (const v of channel) expect(v).toBeCloseTo(kept ? 1 / (1 - rate) : 0, 5);
        mask.push(kept ? 1 : 0);
        if (!kept) dropped++;
      }
      masks.push(mask);
    }
    // 512 channel draws: sd 0.022; 0.1 is over 4 sd.
    expect(Math.abs(dropped / (n * c) - rate)).toBeLessThan(0.1);
    expect(new Set(masks.map((m) => m.join(''))).size).toBeGreaterThan(1);
    expect(values(layer.apply(ones, { training: false }) as tf.Tensor)).toEqual(values(ones));
    ones.dispose();
  });

  it('trains through createTrainStep (dropout active there) without leaking tensors', () => {
    const model = build({ rate: 0.5 });
    const x = images(6);
    const y = tf.cast(tf.oneHot(tf.tensor1d([0, 1, 2, 0, 1, 2], 'int32'), 3), 'float32') as tf.Tensor2D;
    const step = createTrainStep({ model, optimizer: tf.train.sgd(0), seed: 1 });
    // A zero learning rate keeps the weights: the two losses differ only through dropout.
    const first = step({ x, y });
    const second = step({ x, y });
    expect(Number.isFinite(first.loss)).toBe(true);
    expect(first.loss).not.toBe(second.loss);
    const count = tf.memory().numTensors;
    for (let i = 0; i < 10; i++) step({ x, y });
    expect(tf.memory().numTensors).toBe(count);
    tf.dispose([x, y]);
  });
});

describe('serialization', () => {
  const dirs: string[] = [];
  afterAll(() => dirs.forEach((d) => fs.rmSync(d, { recursive: true, force: true })));

  async function roundTrip(model: tfl.LayersModel): Promise<tfl.LayersModel> {
    let artifacts: tf.io.ModelArtifacts | undefined;
    await model.save(
      tf.io.withSaveHandler(async (a) => {
        artifacts = a;
        return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
      }),
    );
    return tfl.loadLayersModel(tf.io.fromMemory(artifacts!));
  }

  for (const placement of ['head', 'spatial', 'blocks'] as const) {
    it(`${placement}: saves and loads with tfjs layers serialization, dropout included`, async () => {
      const model = build({ rate: 0.25, placement });
      const loaded = await roundTrip(model);
      expect(loaded.layers.map((l) => l.name)).toEqual(model.layers.map((l) => l.name));
      for (const l of dropoutLayers(model)) {
        const copy = loaded.getLayer(l.name);
        expect(copy.getClassName()).toBe('Dropout');
        const [saved, original] = [copy.getConfig(), l.getConfig()];
        expect(saved.rate).toBe(original.rate);
        expect(saved.noiseShape ?? null).toEqual(original.noiseShape ?? null);
        expect(saved.seed == null).toBe(true);
      }
      const x = images();
      expect(values(loaded.predict(x) as tf.Tensor)).toEqual(values(model.predict(x) as tf.Tensor));
      const a = values(loaded.apply(x, { training: true }) as tf.Tensor);
      const b = values(loaded.apply(x, { training: true }) as tf.Tensor);
      expect(a).not.toEqual(b);
      x.dispose();
    });
  }

  it('a loaded spatial dropout still drops whole channels; the model also loads from disk with fsIOHandler', async () => {
    const model = build({ rate: 0.5, placement: 'spatial' });
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fermix-dropout-'));
    dirs.push(dir);
    await model.save(fsIOHandler(dir));
    const loaded = await tfl.loadLayersModel(fsIOHandler(dir));
    expect(inputsOf(loaded, 'avg_pool')).toEqual(['spatial_dropout']);
    const ones = tf.ones([4, 3, 3, 8]);
    const out = values(loaded.getLayer('spatial_dropout').apply(ones, { training: true }) as tf.Tensor);
    for (let i = 0; i < 4; i++)
      for (let ch = 0; ch < 8; ch++) {
        const channel = Array.from({ length: 9 }, (_, p) => out[(i * 9 + p) * 8 + ch]);
        expect(new Set(channel).size).toBe(1);
      }
    const x = images();
    expect(values(loaded.predict(x) as tf.Tensor)).toEqual(values(model.predict(x) as tf.Tensor));
    tf.dispose([ones, x]);
  });
});
