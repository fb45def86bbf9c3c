import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import '@tensorflow/tfjs-backend-cpu';
import { createMemoryLogger } from '../src/logger.js';
import { Trainer } from '../src/train/trainer.js';
import { TOKENS } from '../src/container.js';
import type { BackboneDefinition, BackboneRegistry } from '../src/registry.js';
import { compareWeightLayers, loadPretrainedWeights } from '../src/weights.js';
import { memorySource, tinySetup } from './helpers.js';

/** Written by scripts/fixtures/make_h5.py: Keras 2 and Keras 3 files of the model below. */
const fixtures = path.join(import.meta.dirname, '..', '..', 'weights', 'test', 'fixtures');
const fixture = (name: string) => path.join(fixtures, name);
const expected = JSON.parse(fs.readFileSync(fixture('expected.json'), 'utf8')) as Record<string, Record<string, { values: number[] }>>;

let root: string;
beforeAll(async () => {
  await tf.setBackend('cpu');
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'fermix-keras-'));
});
afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

/** The fixtures' model: conv1_conv (3x3, 4 filters) + bn + avg_pool + predictions (3 classes). */
function buildModel(options: { classes?: number; names?: { conv: string; bn: string } } = {}): tfl.LayersModel {
  const names = options.names ?? { conv: 'conv1_conv', bn: 'bn' };
  const input = tfl.input({ shape: [6, 6, 3], name: 'input' });
  let x = tfl.layers.conv2d({ filters: 4, kernelSize: 3, name: names.conv }).apply(input) as tfl.SymbolicTensor;
  x = tfl.layers.batchNormalization({ name: names.bn }).apply(x) as tfl.SymbolicTensor;
  x = tfl.layers.globalAveragePooling2d({ name: 'avg_pool' }).apply(x) as tfl.SymbolicTensor;
  const out = tfl.layers.dense({ units: options.classes ?? 3, activation: 'softmax', name: 'predictions' }).apply(x) as tfl.SymbolicTensor;
  return tfl.model({ inputs: input, outputs: out });
}

const valuesOf = (model: tfl.LayersModel, layer: string) => model.getLayer(layer).getWeights().map((w) => Array.from(w.dataSync()));
const snapshot = (model: tfl.LayersModel) => model.getWeights().map((w) => Array.from(w.dataSync()));
const f32 = (xs: number[]) => Array.from(Float32Array.from(xs));
const expectedOf = (layer: string) => Object.values(expected[layer]).map((w) => f32(w.values));

describe('loadPretrainedWeights from Keras .h5 files', () => {
  for (const name of ['keras2.h5', 'keras3.weights.h5']) {
    it(`loads ${name} by layer name, every weight equal to the source arrays`, async () => {
      const model = buildModel();
      const logger = createMemoryLogger();
      const report = await loadPretrainedWeights(model, fixture(name), { logger });
      expect(report.loaded.sort()).toEqual(['bn', 'conv1_conv', 'predictions']);
      expect(report.skipped).toEqual([]);
      expect(report.missing).toEqual([]);
      for (const layer of ['conv1_conv', 'bn', 'predictions']) expect(valuesOf(model, layer)).toEqual(expectedOf(layer));
      expect(logger.lines.some((l) => l.message === `pretrained weights: loaded 3 of 3 layers with weights from ${fixture(name)}`)).toBe(true);
    });
  }

  it('reports the layers of a file the model lacks (whole-model layout, extra layer)', async () => {
    const logger = createMemoryLogger();
    const report = await loadPretrainedWeights(buildModel(), fixture('keras2-extra.h5'), { logger });
    expect(report.skipped).toEqual([{ layer: 'extra_dense', reason: 'no layer of that name in the model' }]);
    expect(JSON.stringify(logger.lines.find((l) => l.level === 'warn')?.fields)).toContain('extra_dense');
  });

  it('weightsExclude leaves a layer of the .h5 file out', async () => {
    const model = buildModel();
    const before = valuesOf(model, 'predictions');
    const report = await loadPretrainedWeights(model, fixture('keras2.h5'), { exclude: ['predictions'] });
    expect(report.skipped).toEqual([{ layer: 'predictions', reason: 'excluded by options' }]);
    expect(valuesOf(model, 'predictions')).toEqual(before);
    expect(valuesOf(model, 'conv1_conv')).toEqual(expectedOf('conv1_conv'));
  });

  it('refuses a shape mismatch in a Keras 3 file, naming the layer and where the weight is saved, and changes nothing', async () => {
    const model = buildModel({ classes: 5 });
    const before = snapshot(model);
    await expect(loadPretrainedWeights(model, fixture('keras3.weights.h5'))).rejects.toThrow(
      /shape mismatch in layer 'predictions', weight 'kernel': the model has \[4,5\], the file has \[4,3\] \(saved as '0'\)\. Nothing was loaded/,
    );
    expect(snapshot(model)).toEqual(before);
  });

  it('skips only the classifier head when its class count differs, with a log line, and loads the rest', async () => {
    const model = buildModel({ classes: 5 });
    const logger = createMemoryLogger();
    const report = await loadPretrainedWeights(model, fixture('keras2.h5'), { logger, head: 'predictions' });
    expect(report.loaded.sort()).toEqual(['bn', 'conv1_conv']);
    expect(report.skipped).toEqual([{ layer: 'predictions', reason: 'the classifier head, of another class count' }]);
    expect(report.missing).toEqual(['predictions']);
    expect(logger.lines.map((l) => l.message)).toContain(
      "pretrained weights: the classifier head 'predictions' is skipped: the file's has shapes [4,3] [3], the model's [4,5] [5] (another class count); it starts from its initialization",
    );
  });

  it('refuses a file whose layers match nothing in the model instead of training from random weights', async () => {
    const model = buildModel({ names: { conv: 'stem', bn: 'stem_bn' } });
    const other = tfl.sequential({ layers: [tfl.layers.dense({ units: 2, inputShape: [3], name: 'fc' })] });
    const before = snapshot(other);
    await expect(loadPretrainedWeights(other, fixture('keras2.h5'))).rejects.toThrow(
      /keras2\.h5: none of the file's 3 layers with weights matches a layer of the model \(the file has conv1\/conv, bn, predictions; the model fc\): weights for another architecture\? Nothing was loaded/,
    );
    expect(snapshot(other)).toEqual(before);
    model.dispose();
  });

  it('names a path that does not exist, a folder without model.json and a file that is not HDF5', async () => {
    await expect(loadPretrainedWeights(buildModel(), path.join(root, 'nope.h5'))).rejects.toThrow(/nope\.h5 does not exist \(expected a Keras \.h5 file, a tfjs model\.json/);
    await expect(loadPretrainedWeights(buildModel(), root)).rejects.toThrow(`pretrained weights: ${root} has no model.json (expected a fermix checkpoint folder`);
    const text = path.join(root, 'weights.h5');
    fs.writeFileSync(text, 'not weights');
    await expect(loadPretrainedWeights(buildModel(), text)).rejects.toThrow(`${text}: not an HDF5 file (no HDF5 signature)`);
    const truncated = path.join(root, 'cut.h5');
    fs.writeFileSync(truncated, fs.readFileSync(fixture('keras2.h5')).subarray(0, 5000));
    await expect(loadPretrainedWeights(buildModel(), truncated)).rejects.toThrow(`${truncated}: truncated: 5000 bytes`);
  });

  it('compareWeightLayers lists layers only in the file, only in the model, and shape differences, without values', () => {
    const model = buildModel({ classes: 5 });
    const c = compareWeightLayers(model, [
      { name: 'conv1/conv', weights: [{ name: 'kernel', shape: [3, 3, 3, 4] }, { name: 'bias', shape: [4] }] },
      { name: 'predictions', weights: [{ name: 'kernel', shape: [4, 3] }, { name: 'bias', shape: [3] }] },
      { name: 'fc1', weights: [{ name: 'kernel', shape: [4, 4] }] },
    ]);
    expect(c.matched).toEqual([{ model: 'conv1_conv', file: 'conv1/conv' }]);
    expect(c.onlyInFile).toEqual([{ layer: 'fc1', reason: 'no layer of that name in the model' }]);
    expect(c.onlyInModel).toEqual(['bn']);
    expect(c.mismatched.map((m) => m.model)).toEqual(['predictions']);
    expect(c.mismatched[0].problem).toMatch(/the model has \[4,5\], the file has \[4,3\]/);
  });
});

/** A backbone shaped like the fixtures' model: conv1_conv + bn (avg_pool and predictions come from fermix). */
const fixtureBackbone: BackboneDefinition = {
  name: 'fixture-net',
  description: 'the .h5 fixtures model',
  minInputSize: 6,
  build(input) {
    const x = tfl.layers.conv2d({ filters: 4, kernelSize: 3, name: 'conv1_conv' }).apply(input) as tfl.SymbolicTensor;
    return tfl.layers.batchNormalization({ name: 'bn' }).apply(x) as tfl.SymbolicTensor;
  },
};

function setup(model: Record<string, unknown>, classes: number, logger = createMemoryLogger()) {
  const { config, container } = tinySetup({ model: { backbone: 'fixture-net', ...model } as never, train: { epochs: 1, earlyStopping: false } }, logger, memorySource({ classes }));
  container.get<BackboneRegistry>(TOKENS.BackboneRegistry).register(fixtureBackbone);
  return { config, container, logger };
}

describe('model.weights in training', () => {
  it('trains from a Keras .h5 file with freezeBackbone: the frozen backbone ends the epoch with the file\'s weights', async () => {
    const { config, container, logger } = setup({ weights: fixture('keras2.h5'), freezeBackbone: 1 }, 3);
    const { model } = await new Trainer({ config, container }).run();
    expect(valuesOf(model, 'conv1_conv')).toEqual(expectedOf('conv1_conv'));
    expect(valuesOf(model, 'predictions')).not.toEqual(expectedOf('predictions')); // the head trained
    expect(logger.lines.some((l) => /loaded 3 of 3 layers/.test(l.message))).toBe(true);
  });

  it("fine-tunes from another run's checkpoint folder with another class count: the head is skipped and the log says so", async () => {
    const first = setup({}, 4);
    const firstDir = path.join(root, 'affectnet');
    // One epoch without early stopping: the best checkpoint holds the weights the run ends with.
    const pretrained = (await new Trainer({ config: first.config, container: first.container, runDir: firstDir }).run()).model;
    const best = path.join(firstDir, 'checkpoints', 'best');

    const second = setup({ weights: best, freezeBackbone: 1 }, 3);
    const { model } = await new Trainer({ config: second.config, container: second.container }).run();
    expect(second.logger.lines.map((l) => l.message)).toContain(
      "pretrained weights: the classifier head 'predictions' is skipped: the file's has shapes [4,4] [4], the model's [4,3] [3] (another class count); it starts from its initialization",
    );
    expect(second.logger.lines.some((l) => l.message.startsWith(`pretrained weights: loaded 2 of 3 layers with weights from ${path.join(best, 'model.json')}`))).toBe(true);
    // The backbone, frozen for the epoch, still holds the first run's weights.
    expect(valuesOf(model, 'conv1_conv')).toEqual(valuesOf(pretrained, 'conv1_conv'));
  });
});

describe('model.weights in the config', () => {
  it('refuses imagenet for a backbone without ImageNet weights, and a path that does not exist, at model.weights before anything loads', async () => {
    const { validateModelConfig } = await import('../src/registry.js');
    const { validateConfig } = await import('../src/config/load.js');
    const registry = setup({}, 3).container.get<BackboneRegistry>(TOKENS.BackboneRegistry);
    const check = (model: Record<string, unknown>) => () => validateModelConfig(validateConfig({ model: { backbone: 'tiny', ...model } }, { baseDir: root }), registry);
    expect(check({ weights: 'imagenet' })).toThrow(
      /model\.weights: expected a weights file: keras\.applications publishes ImageNet weights for resnet50, vgg16, densenet121, efficientnetb0, mobilenetv2, not for backbone 'tiny', found "imagenet"/,
    );
    expect(check({ weights: 'runs/affectnet/checkpoints/best' })).toThrow(
      new RegExp(`model\\.weights: expected imagenet, or an existing Keras \\.h5 file, .*nothing is at that path, found "${root}/runs/affectnet/checkpoints/best"`),
    );
    expect(check({ weights: fixture('keras2.h5') })).not.toThrow();
  });
});

describe('model.weights: imagenet', () => {
  it("fetches the backbone's Keras file by name from model.weightsBaseUrl into $FERMIX_HOME/weights, then uses the cache", async () => {
    const { createServer } = await import('node:http');
    const { resolvePretrainedWeights } = await import('../src/pretrained.js');
    const { validateConfig } = await import('../src/config/load.js');
    const requested: string[] = [];
    const body = fs.readFileSync(fixture('keras2.h5'));
    const server = createServer((req, res) => {
      requested.push(req.url!);
      res.writeHead(200, { 'content-length': body.length, connection: 'close' }).end(body);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const home = path.join(root, 'fermix-home');
    const saved = process.env.FERMIX_HOME;
    process.env.FERMIX_HOME = home;
    try {
      const base = `http://127.0.0.1:${(server.address() as { port: number }).port}/keras`;
      // MobileNetV2: Keras publishes no hash, so any bytes stand in for its file here.
      const config = validateConfig({ data: { format: 'synthetic', imageSize: 96 }, model: { backbone: 'mobilenetv2', options: { alpha: 0.35 }, weights: 'imagenet', weightsBaseUrl: base } }, { baseDir: root });
      const logger = createMemoryLogger();
      const name = 'mobilenet_v2_weights_tf_dim_ordering_tf_kernels_0.35_96_no_top.h5';
      expect(await resolvePretrainedWeights(config, { logger })).toBe(path.join(home, 'weights', name));
      expect(await resolvePretrainedWeights(config, { logger })).toBe(path.join(home, 'weights', name));
      expect(requested).toEqual([`/keras/${name}`]);
      expect(logger.lines.map((l) => l.message)).toContain(`weights: using ${path.join(home, 'weights', name)} (cached, no download)`);
    } finally {
      if (saved === undefined) delete process.env.FERMIX_HOME;
      else process.env.FERMIX_HOME = saved;
      await new Promise((resolve) => server.close(resolve));
    }
  });
});
