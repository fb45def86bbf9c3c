import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import '@tensorflow/tfjs-backend-cpu';
import { CheckpointStore, fsIOHandler } from '../src/checkpoint.js';
import { createMemoryLogger } from '../src/logger.js';
import { Rng } from '../src/rng.js';
import { loadPretrainedWeights } from '../src/weights.js';

let root: string;
let counter = 0;
const freshDir = (label: string) => path.join(root, `${label}-${++counter}`);

beforeAll(async () => {
  await tf.setBackend('cpu');
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'fermix-weights-'));
});

afterAll(() => {
  fs.rmSync(root, { recursive: true, force: true });
});

/** conv `conv1_conv` + batch norm `bn` + dense `predictions`, named like a keras.applications model. */
function buildModel(options: { filters?: number; classes?: number } = {}): tfl.LayersModel {
  const input = tfl.input({ shape: [6, 6, 3], name: 'input' });
  let x = tfl.layers.conv2d({ filters: options.filters ?? 4, kernelSize: 3, name: 'conv1_conv' }).apply(input) as tfl.SymbolicTensor;
  x = tfl.layers.batchNormalization({ name: 'bn' }).apply(x) as tfl.SymbolicTensor;
  x = tfl.layers.globalAveragePooling2d({ name: 'avg_pool' }).apply(x) as tfl.SymbolicTensor;
  const out = tfl.layers.dense({ units: options.classes ?? 3, activation: 'softmax', name: 'predictions' }).apply(x) as tfl.SymbolicTensor;
  return tfl.model({ inputs: input, outputs: out });
}

function values(shape: number[], seed: number): Float32Array {
  const rng = new Rng(seed);
  return Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => rng.uniform() - 0.5);
}

type Entry = { name: string; shape: number[]; data: Float32Array | Int32Array; dtype?: 'float32' | 'int32' };

/** Writes weights the way tensorflowjs_converter does: Keras topology, one group split over several shards. */
async function writeConverted(dir: string, entries: Entry[], shards = 3): Promise<string> {
  fs.mkdirSync(dir, { recursive: true });
  const tensors = entries.map((e) => ({ name: e.name, tensor: tf.tensor(e.data, e.shape, e.dtype ?? 'float32') }));
  const { data, specs } = await tf.io.encodeWeights(tensors);
  tf.dispose(tensors.map((t) => t.tensor));
  const bytes = new Uint8Array(data);
  const size = Math.ceil(bytes.length / shards);
  const paths: string[] = [];
  for (let i = 0; i < shards; i++) {
    const file = `group1-shard${i + 1}of${shards}.bin`;
    fs.writeFileSync(path.join(dir, file), bytes.subarray(i * size, Math.min(bytes.length, (i + 1) * size)));
    paths.push(file);
  }
  const modelJson = {
    format: 'layers-model',
    generatedBy: 'keras v2.15.0',
    convertedBy: 'TensorFlow.js Converter v4.22.0',
    modelTopology: { keras_version: '2.15.0', backend: 'tensorflow', model_config: { class_name: 'Functional', config: { name: 'test', layers: [] } } },
    weightsManifest: [{ paths, weights: specs }],
  };
  fs.writeFileSync(path.join(dir, 'model.json'), JSON.stringify(modelJson));
  return path.join(dir, 'model.json');
}

const snapshot = (model: tfl.LayersModel) => model.getWeights().map((w) => Array.from(w.dataSync()));

/** The converter-style file of `buildModel`'s conv and batch norm (Keras 2 names), plus a layer the model lacks. */
function kerasEntries(filters = 4): Entry[] {
  return [
    { name: 'conv1/conv/kernel', shape: [3, 3, 3, filters], data: values([3, 3, 3, filters], 1) },
    { name: 'conv1/conv/bias', shape: [filters], data: values([filters], 2) },
    { name: 'bn_1/gamma', shape: [filters], data: values([filters], 3) },
    { name: 'bn_1/beta', shape: [filters], data: values([filters], 4) },
    { name: 'bn_1/moving_mean', shape: [filters], data: values([filters], 5) },
    { name: 'bn_1/moving_variance', shape: [filters], data: Float32Array.from({ length: filters }, (_, i) => 1 + i) },
    { name: 'extra_dense/kernel', shape: [2, 2], data: values([2, 2], 6) },
    { name: 'extra_dense/bias', shape: [2], data: values([2], 7) },
  ];
}

describe('loadPretrainedWeights', () => {
  it('loads a multi-shard converted Keras file by layer name, reports skipped and missing layers, and logs them', async () => {
    const file = await writeConverted(freshDir('keras'), kerasEntries());
    const model = buildModel();
    const predictionsBefore = model.getLayer('predictions').getWeights().map((w) => Array.from(w.dataSync()));
    const logger = createMemoryLogger();
    const report = await loadPretrainedWeights(model, file, { logger });

    // conv1/conv (Keras 2) is conv1_conv; bn_1 is bn with the counter tfjs/Keras add to reused names.
    expect(report.loaded.sort()).toEqual(['bn', 'conv1_conv']);
    expect(report.skipped).toEqual([{ layer: 'extra_dense', reason: 'no layer of that name in the model' }]);
    expect(report.missing).toEqual(['predictions']);
    const entries = kerasEntries();
    const [kernel, bias] = model.getLayer('conv1_conv').getWeights();
    expect(Array.from(kernel.dataSync())).toEqual(Array.from(entries[0].data));
    expect(Array.from(bias.dataSync())).toEqual(Array.from(entries[1].data));
    const bn = model.getLayer('bn').getWeights();
    expect(bn.map((w) => Array.from(w.dataSync()))).toEqual(entries.slice(2, 6).map((e) => Array.from(e.data)));
    // Layers the file lacks keep their weights.
    expect(model.getLayer('predictions').getWeights().map((w) => Array.from(w.dataSync()))).toEqual(predictionsBefore);

    const info = logger.lines.find((l) => l.level === 'info' && /loaded 2 of 3 layers/.test(l.message));
    expect(info).toBeDefined();
    const warn = logger.lines.find((l) => l.level === 'warn' && /skipped 1 layers/.test(l.message));
    expect(JSON.stringify(warn?.fields)).toContain('extra_dense');
  });

  it('accepts the folder instead of the model.json path', async () => {
    const dir = freshDir('folder');
    await writeConverted(dir, kerasEntries(), 1);
    const report = await loadPretrainedWeights(buildModel(), dir);
    expect(report.loaded.sort()).toEqual(['bn', 'conv1_conv']);
  });

  it('refuses a shape mismatch with an error naming the layer, the weight and both shapes, and changes nothing', async () => {
    // The file's conv has 5 filters, the model's 4; the batch norm would match on its own.
    const entries = kerasEntries(4);
    entries[0] = { name: 'conv1_conv/kernel', shape: [3, 3, 3, 5], data: values([3, 3, 3, 5], 9) };
    entries[1] = { name: 'conv1_conv/bias', shape: [4], data: values([4], 2) };
    const file = await writeConverted(freshDir('mismatch'), entries);
    const model = buildModel();
    const before = snapshot(model);
    const numTensors = tf.memory().numTensors;
    const error = await loadPretrainedWeights(model, file).catch((e: Error) => e);
    expect(error).toBeInstanceOf(Error);
    expect((error as Error).message).toMatch(/shape mismatch in layer 'conv1_conv', weight 'kernel': the model has \[3,3,3,4\], the file has \[3,3,3,5\]/);
    expect(snapshot(model)).toEqual(before);
    expect(tf.memory().numTensors).toBe(numTensors);
  });

  it('refuses a matched layer whose weights differ by name (e.g. a conv without bias)', async () => {
    const entries = kerasEntries().filter((e) => e.name !== 'conv1/conv/bias');
    const file = await writeConverted(freshDir('nobias'), entries);
    const model = buildModel();
    const before = snapshot(model);
    await expect(loadPretrainedWeights(model, file)).rejects.toThrow(/layer 'conv1_conv' \(in the file: 'conv1\/conv'\) does not have the same weights.*kernel, bias.*kernel\)/);
    expect(snapshot(model)).toEqual(before);
  });

  it('leaves excluded layers alone and reports them as skipped', async () => {
    const dir = freshDir('exclude');
    const source = buildModel({ classes: 5 });
    await source.save(fsIOHandler(dir));
    const model = buildModel({ classes: 3 });
    // Without exclude, predictions [4,5] vs [4,3] is a mismatch.
    await expect(loadPretrainedWeights(model, dir)).rejects.toThrow(/'predictions', weight 'kernel'.*\[4,3\].*\[4,5\]/);
    const report = await loadPretrainedWeights(model, dir, { exclude: ['predictions'] });
    expect(report.loaded.sort()).toEqual(['bn', 'conv1_conv']);
    expect(report.skipped).toEqual([{ layer: 'predictions', reason: 'excluded by options' }]);
    expect(report.missing).toEqual(['predictions']);
  });

  it('loads a fermix checkpoint folder into a freshly built model (tfjs-suffixed variable names) with identical outputs', async () => {
    const dir = freshDir('checkpoint');
    const trained = buildModel();
    // Move the batch-norm statistics away from their initial values.
    tf.tidy(() => {
      trained.apply(tf.randomUniform([4, 6, 6, 3], 0, 1, 'float32', 3), { training: true });
    });
    await new CheckpointStore().save(dir, {
      model: trained,
      optimizer: tf.train.adam(0.01),
      state: { epoch: 0, step: 1, bestMetric: null, bestEpoch: -1, monitor: 'macroF1', rng: {} },
    });
    const fresh = buildModel();
    // Same layer names, but the second model's variables are named conv1_conv/kernel_1 and so on.
    expect(fresh.weights.some((w) => w.name !== w.originalName)).toBe(true);
    const report = await loadPretrainedWeights(fresh, path.join(dir, 'model.json'));
    expect(report.loaded.sort()).toEqual(['bn', 'conv1_conv', 'predictions']);
    expect(report.skipped).toEqual([]);
    expect(report.missing).toEqual([]);
    const x = tf.randomUniform([2, 6, 6, 3], 0, 1, 'float32', 4);
    const a = trained.predict(x) as tf.Tensor;
    const b = fresh.predict(x) as tf.Tensor;
    expect(Array.from(b.dataSync())).toEqual(Array.from(a.dataSync()));
    tf.dispose([x, a, b]);
  });

  it('casts a weight stored with another numeric dtype (the converter stores int64 as int32)', async () => {
    const entries = kerasEntries();
    entries[5] = { name: 'bn_1/moving_variance', shape: [4], data: Int32Array.from([1, 2, 3, 4]), dtype: 'int32' };
    const file = await writeConverted(freshDir('cast'), entries);
    const model = buildModel();
    await loadPretrainedWeights(model, file);
    const variance = model.getLayer('bn').getWeights()[3];
    expect(variance.dtype).toBe('float32');
    expect(Array.from(variance.dataSync())).toEqual([1, 2, 3, 4]);
  });

  it('explains a weights-only conversion (no topology) and a wrong path', async () => {
    const dir = freshDir('weights-only');
    const file = await writeConverted(dir, kerasEntries());
    const json = JSON.parse(fs.readFileSync(file, 'utf8'));
    json.modelTopology = null;
    fs.writeFileSync(file, JSON.stringify(json));
    await expect(loadPretrainedWeights(buildModel(), file)).rejects.toThrow(/model\.save\("model\.h5"\), not save_weights/);
    await expect(loadPretrainedWeights(buildModel(), path.join(dir, 'nope'))).rejects.toThrow(/does not exist/);
    fs.writeFileSync(path.join(dir, 'other.json'), '{}');
    await expect(loadPretrainedWeights(buildModel(), path.join(dir, 'other.json'))).rejects.toThrow(/expected a file named model\.json/);
  });
});
