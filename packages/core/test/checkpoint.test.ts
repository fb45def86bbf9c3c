import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import '@tensorflow/tfjs-backend-cpu';
import { CheckpointStore, fsIOHandler, type CheckpointState, type SaveStage } from '../src/checkpoint.js';
import { Rng } from '../src/rng.js';
import { createMemoryLogger } from '../src/logger.js';

let root: string;
let counter = 0;
/** A fresh, not yet existing checkpoint path under the test's temp root. */
const freshDir = (label: string) => path.join(root, `${label}-${++counter}`, 'ckpt');

beforeAll(async () => {
  await tf.setBackend('cpu');
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'fermix-checkpoint-'));
});

afterAll(() => {
  fs.rmSync(root, { recursive: true, force: true });
});

/** conv2d + batchNorm + dense: trainable weights plus the non-trainable moving mean/variance. */
function buildModel(filters = 4): tfl.LayersModel {
  const model = tfl.sequential();
  model.add(tfl.layers.conv2d({ inputShape: [6, 6, 1], filters, kernelSize: 3, activation: 'relu' }));
  model.add(tfl.layers.batchNormalization());
  model.add(tfl.layers.flatten());
  model.add(tfl.layers.dense({ units: 3 }));
  return model;
}

function makeBatch(seed: number): { x: tf.Tensor; y: tf.Tensor } {
  const x = tf.randomUniform([8, 6, 6, 1], 0, 1, 'float32', seed);
  const labels = tf.tensor1d([0, 1, 2, 0, 1, 2, 0, 1], 'int32');
  const y = tf.oneHot(labels, 3);
  labels.dispose();
  return { x, y };
}

/** One optimizer step over the trainable weights in model order, the way LayersModel.fit calls minimize. */
function trainStep(model: tfl.LayersModel, optimizer: tf.Optimizer, x: tf.Tensor, y: tf.Tensor): void {
  const vars = model.trainableWeights.map((w) => w.read() as tf.Variable);
  optimizer.minimize(() => tf.losses.softmaxCrossEntropy(y, model.apply(x, { training: true }) as tf.Tensor) as tf.Scalar, false, vars);
}

function weightValues(model: tfl.LayersModel): Float32Array[] {
  return model.weights.map((w) => w.read().dataSync() as Float32Array);
}

function maxAbsDiff(a: Float32Array[], b: Float32Array[]): number {
  expect(a.length).toBe(b.length);
  let max = 0;
  a.forEach((arr, i) => {
    expect(arr.length).toBe(b[i].length);
    arr.forEach((v, j) => (max = Math.max(max, Math.abs(v - b[i][j]))));
  });
  return max;
}

function predict(model: tfl.LayersModel, x: tf.Tensor): Float32Array {
  return tf.tidy(() => (model.predict(x) as tf.Tensor).dataSync() as Float32Array);
}

function makeState(epoch: number): CheckpointState {
  const shuffle = new Rng(42);
  shuffle.uniform();
  return {
    epoch,
    step: epoch * 10,
    bestMetric: 0.25 + epoch,
    bestEpoch: epoch,
    monitor: 'val_loss',
    rng: { shuffle: shuffle.getState(), augment: new Rng(7).fork('augment').getState() },
    extra: { note: `epoch ${epoch}`, nested: { list: [1, 2, 3], flag: true } },
  };
}

function siblingsOf(dir: string): string[] {
  const base = path.basename(dir);
  return fs.readdirSync(path.dirname(dir)).filter((n) => n !== base && n.startsWith(`${base}.`));
}

async function trainedPair(steps: number, batch: { x: tf.Tensor; y: tf.Tensor }) {
  const model = buildModel();
  const optimizer = tf.train.adam(0.01);
  for (let i = 0; i < steps; i++) trainStep(model, optimizer, batch.x, batch.y);
  return { model, optimizer };
}

describe('fsIOHandler', () => {
  it('round-trips a model through model.save / tf.loadLayersModel with identical predictions', async () => {
    const dir = freshDir('io');
    const model = buildModel();
    const { x, y } = makeBatch(1);
    const result = await model.save(fsIOHandler(dir));
    expect(result.modelArtifactsInfo.weightDataBytes).toBeGreaterThan(0);

    const json = JSON.parse(fs.readFileSync(path.join(dir, 'model.json'), 'utf8'));
    expect(json.format).toBe('layers-model');
    expect(json.convertedBy).toBeNull();
    expect(json.generatedBy).toMatch(/tfjs-layers/);
    expect(json.modelTopology).toBeTruthy();
    expect(json.weightsManifest).toHaveLength(1);
    expect(json.weightsManifest[0].paths).toEqual(['weights.bin']);
    expect(json.weightsManifest[0].weights).toHaveLength(model.weights.length);
    expect(fs.statSync(path.join(dir, 'weights.bin')).size).toBe(result.modelArtifactsInfo.weightDataBytes);

    const loaded = await tfl.loadLayersModel(fsIOHandler(dir));
    expect(Array.from(predict(loaded, x))).toEqual(Array.from(predict(model, x)));
    tf.dispose([x, y]);
    model.dispose();
    loaded.dispose();
  });

  it('loads a multi-shard model.json, concatenating shards in manifest order', async () => {
    const single = freshDir('shards-src');
    const model = buildModel();
    const { x, y } = makeBatch(2);
    await model.save(fsIOHandler(single));
    const json = JSON.parse(fs.readFileSync(path.join(single, 'model.json'), 'utf8'));
    const bytes = fs.readFileSync(path.join(single, 'weights.bin'));
    const specs: tf.io.WeightsManifestEntry[] = json.weightsManifest[0].weights;

    // Converter layout: group 1 holds the first three weights split across three shards at byte
    // boundaries that cut through weights; group 2 holds the rest in one shard.
    const sizeOf = (s: tf.io.WeightsManifestEntry) => s.shape.reduce((n, d) => n * d, 1) * 4;
    const group1Bytes = specs.slice(0, 3).reduce((n, s) => n + sizeOf(s), 0);
    const cuts = [0, 7, Math.floor(group1Bytes / 2) + 1, group1Bytes];
    const sharded = freshDir('shards');
    fs.mkdirSync(sharded, { recursive: true });
    const group1Paths = [0, 1, 2].map((i) => `group1-shard${i + 1}of3.bin`);
    group1Paths.forEach((p, i) => fs.writeFileSync(path.join(sharded, p), bytes.subarray(cuts[i], cuts[i + 1])));
    fs.writeFileSync(path.join(sharded, 'group2-shard1of1.bin'), bytes.subarray(group1Bytes));
    json.weightsManifest = [
      { paths: group1Paths, weights: specs.slice(0, 3) },
      { paths: ['group2-shard1of1.bin'], weights: specs.slice(3) },
    ];
    json.convertedBy = 'TensorFlow.js Converter v4.22.0';
    fs.writeFileSync(path.join(sharded, 'model.json'), JSON.stringify(json));

    const loaded = await tfl.loadLayersModel(fsIOHandler(sharded));
    expect(Array.from(predict(loaded, x))).toEqual(Array.from(predict(model, x)));

    // A missing shard is a clear error, not a garbled model.
    fs.rmSync(path.join(sharded, 'group1-shard2of3.bin'));
    await expect(tfl.loadLayersModel(fsIOHandler(sharded))).rejects.toThrow(/group1-shard2of3\.bin/);
    tf.dispose([x, y]);
    model.dispose();
    loaded.dispose();
  });
});

describe('CheckpointStore', () => {
  it('restores weights, batch-norm statistics and Adam state so training continues exactly', async () => {
    const dir = freshDir('roundtrip');
    const batch = makeBatch(3);
    const store = new CheckpointStore();
    const original = await trainedPair(3, batch);
    const state = makeState(3);
    await store.save(dir, { ...original, state });
    for (const f of ['model.json', 'weights.bin', 'optimizer.json', 'optimizer.bin', 'state.json', 'COMPLETE']) {
      expect(fs.existsSync(path.join(dir, f))).toBe(true);
    }
    expect(store.exists(dir)).toBe(true);

    // A fresh model gets new variable names (conv2d_Conv2D2/... instead of ...1): matching is by position.
    const restored = { model: buildModel(), optimizer: tf.train.adam(0.01) };
    expect(restored.model.weights[0].originalName).not.toBe(original.model.weights[0].originalName);
    const loadedState = await store.load(dir, restored);
    expect(loadedState).toEqual(state);
    expect(restored.optimizer.iterations).toBe(3);
    expect(maxAbsDiff(weightValues(restored.model), weightValues(original.model))).toBe(0);

    // Batch-norm moving statistics are non-trainable weights; they moved during training and came back.
    const movingNames = (m: tfl.LayersModel) => m.nonTrainableWeights.map((w) => w.originalName);
    expect(movingNames(original.model).some((n) => n.endsWith('moving_mean'))).toBe(true);
    expect(movingNames(original.model).some((n) => n.endsWith('moving_variance'))).toBe(true);
    original.model.nonTrainableWeights.forEach((w, i) => {
      const values = Array.from(w.read().dataSync());
      const initial = w.originalName.endsWith('moving_mean') ? 0 : 1;
      expect(values.some((v) => Math.abs(v - initial) > 1e-4)).toBe(true);
      expect(Array.from(restored.model.nonTrainableWeights[i].read().dataSync())).toEqual(values);
    });

    // The optimizer slots were renamed after the new model's variables.
    const slotNames = (await restored.optimizer.getWeights()).map((w) => w.name);
    expect(slotNames).toContain(`${(restored.model.trainableWeights[0].read() as tf.Variable).name}/m`);

    // Control: same weights but a fresh Adam drifts away, so the comparison below is sensitive to optimizer state.
    const control = { model: buildModel(), optimizer: tf.train.adam(0.01) };
    await store.loadWeights(dir, control.model);

    for (let i = 0; i < 2; i++) {
      trainStep(original.model, original.optimizer, batch.x, batch.y);
      trainStep(restored.model, restored.optimizer, batch.x, batch.y);
      trainStep(control.model, control.optimizer, batch.x, batch.y);
    }
    expect(maxAbsDiff(weightValues(restored.model), weightValues(original.model))).toBeLessThan(1e-6);
    expect(maxAbsDiff(weightValues(control.model), weightValues(original.model))).toBeGreaterThan(1e-4);
    expect(restored.optimizer.iterations).toBe(5);

    // The restored pair checkpoints again with correct slot names.
    await store.save(freshDir('roundtrip-again'), { ...restored, state: makeState(5) });
    tf.dispose([batch.x, batch.y]);
  });

  it('loads back into the model it came from, matching weights by name', async () => {
    const dir = freshDir('same-model');
    const batch = makeBatch(11);
    const pair = await trainedPair(1, batch);
    const store = new CheckpointStore();
    await store.save(dir, { ...pair, state: makeState(1) });
    const saved = weightValues(pair.model);
    trainStep(pair.model, pair.optimizer, batch.x, batch.y);
    expect(maxAbsDiff(weightValues(pair.model), saved)).toBeGreaterThan(0);
    await store.load(dir, pair);
    expect(maxAbsDiff(weightValues(pair.model), saved)).toBe(0);
    expect(pair.optimizer.iterations).toBe(1);
    tf.dispose([batch.x, batch.y]);
  });

  it('round-trips state.json including rng states, and rejects states JSON cannot hold', async () => {
    const dir = freshDir('state');
    const batch = makeBatch(4);
    const pair = await trainedPair(1, batch);
    const store = new CheckpointStore();
    const state: CheckpointState = { ...makeState(1), bestMetric: null, rng: { a: [0, 1, 0xffffffff, 12345] } };
    delete state.extra;
    await store.save(dir, { ...pair, state });
    const onDisk = JSON.parse(fs.readFileSync(path.join(dir, 'state.json'), 'utf8'));
    expect(onDisk).toEqual(state);
    const back = await store.load(dir, { model: buildModel(), optimizer: tf.train.adam(0.01) });
    expect(back).toEqual(state);
    const rng = new Rng(back.rng.a);
    expect(rng.getState()).toEqual(state.rng.a);

    await expect(store.save(dir, { ...pair, state: { ...state, bestMetric: Infinity } })).rejects.toThrow(/bestMetric/);
    await expect(
      store.save(dir, { ...pair, state: { ...state, rng: { a: [1, 2, 3] as unknown as [number, number, number, number] } } }),
    ).rejects.toThrow(/rng\.a/);
    // The rejected saves did not touch the checkpoint.
    expect((await store.load(dir, { model: buildModel(), optimizer: tf.train.adam(0.01) })).epoch).toBe(1);
    tf.dispose([batch.x, batch.y]);
  });

  const stages: SaveStage[] = ['model', 'optimizer', 'state', 'complete', 'moved-old', 'swapped'];
  it.each(stages)('a crash after stage %s leaves a loadable checkpoint', async (stage) => {
    const dir = freshDir(`crash-${stage}`);
    const batch = makeBatch(5);
    const pair = await trainedPair(1, batch);
    await new CheckpointStore().save(dir, { ...pair, state: makeState(1) });

    trainStep(pair.model, pair.optimizer, batch.x, batch.y);
    const crashing = new CheckpointStore({ crashAfter: stage });
    await expect(crashing.save(dir, { ...pair, state: makeState(2) })).rejects.toThrow(/simulated crash/);
    expect(siblingsOf(dir).length).toBeGreaterThan(0); // the "killed" save left its debris

    // A new run ("startup") finds a complete checkpoint: the previous one, or the new one if the swap happened.
    const logger = createMemoryLogger();
    const store = new CheckpointStore({ logger });
    expect(store.exists(dir)).toBe(true);
    const state = await store.load(dir, { model: buildModel(), optimizer: tf.train.adam(0.01) });
    expect(state.epoch).toBe(stage === 'swapped' ? 2 : 1);
    if (stage === 'moved-old') expect(logger.lines.some((l) => l.level === 'warn' && /recovered/.test(l.message))).toBe(true);

    // The next successful save cleans the debris up.
    await store.save(dir, { ...pair, state: makeState(3) });
    expect(siblingsOf(dir)).toEqual([]);
    expect((await store.load(dir, { model: buildModel(), optimizer: tf.train.adam(0.01) })).epoch).toBe(3);
    tf.dispose([batch.x, batch.y]);
  });

  it('ignores a half-written temp folder and cleans up after a failed save', async () => {
    const dir = freshDir('halfwritten');
    const batch = makeBatch(6);
    const pair = await trainedPair(1, batch);
    const store = new CheckpointStore();
    await store.save(dir, { ...pair, state: makeState(1) });

    // Debris of a killed process (that pid is not alive): a temp folder with only part of the files.
    const debris = `${dir}.tmp-99999999-deadbeef`;
    fs.mkdirSync(debris);
    fs.writeFileSync(path.join(debris, 'model.json'), '{"modelTop');
    expect(store.exists(dir)).toBe(true);
    expect((await store.load(dir, { model: buildModel(), optimizer: tf.train.adam(0.01) })).epoch).toBe(1);
    // Reading the complete checkpoint removes the dead process's debris (a resumed run with nothing
    // left to train saves nothing that would).
    expect(siblingsOf(dir)).toEqual([]);

    // A real failure halfway (Adamax cannot export its state) removes its own temp folder, keeps the old checkpoint.
    await expect(store.save(dir, { model: pair.model, optimizer: tf.train.adamax(0.01), state: makeState(2) })).rejects.toThrow(
      /cannot read the state of optimizer Adamax/,
    );
    expect(siblingsOf(dir)).toEqual([]);
    expect((await store.load(dir, { model: buildModel(), optimizer: tf.train.adam(0.01) })).epoch).toBe(1);

    await store.save(dir, { ...pair, state: makeState(2) });
    expect(siblingsOf(dir)).toEqual([]);
    tf.dispose([batch.x, batch.y]);
  });

  it('recovers from <dir>.old-* when the main folder is missing or incomplete', async () => {
    const batch = makeBatch(7);
    const pair = await trainedPair(2, batch);
    const store = new CheckpointStore();

    const missing = freshDir('recover-missing');
    await store.save(missing, { ...pair, state: makeState(4) });
    fs.renameSync(missing, `${missing}.old-123-abcd`);
    expect(store.exists(missing)).toBe(true);
    expect(fs.existsSync(path.join(missing, 'COMPLETE'))).toBe(true);
    expect((await store.load(missing, { model: buildModel(), optimizer: tf.train.adam(0.01) })).epoch).toBe(4);

    // Main folder present but without its COMPLETE marker (or with a truncated file): the .old one wins.
    const incomplete = freshDir('recover-incomplete');
    await store.save(incomplete, { ...pair, state: makeState(5) });
    fs.cpSync(incomplete, `${incomplete}.old-456-ef01`, { recursive: true });
    fs.truncateSync(path.join(incomplete, 'weights.bin'), 10);
    const state = await store.load(incomplete, { model: buildModel(), optimizer: tf.train.adam(0.01) });
    expect(state.epoch).toBe(5);

    // Only an .old copy left, and the next save is killed early: the .old copy is not lost.
    const fragile = freshDir('recover-fragile');
    await store.save(fragile, { ...pair, state: makeState(6) });
    fs.renameSync(fragile, `${fragile}.old-789-2345`);
    await expect(new CheckpointStore({ crashAfter: 'model' }).save(fragile, { ...pair, state: makeState(7) })).rejects.toThrow(
      /simulated crash/,
    );
    expect((await store.load(fragile, { model: buildModel(), optimizer: tf.train.adam(0.01) })).epoch).toBe(6);

    // Nothing there at all.
    const nothing = freshDir('recover-nothing');
    expect(store.exists(nothing)).toBe(false);
    await expect(store.loadWeights(nothing, buildModel())).rejects.toThrow(/no complete checkpoint/);
    tf.dispose([batch.x, batch.y]);
  });

  it('refuses to replace a folder that holds files a checkpoint never writes', async () => {
    const dir = freshDir('foreign');
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(path.join(dir, 'notes.txt'), 'mine');
    const batch = makeBatch(8);
    const pair = await trainedPair(1, batch);
    await expect(new CheckpointStore().save(dir, { ...pair, state: makeState(1) })).rejects.toThrow(/refusing to replace/);
    expect(fs.readFileSync(path.join(dir, 'notes.txt'), 'utf8')).toBe('mine');
    tf.dispose([batch.x, batch.y]);
  });

  it('rejects a shape mismatch naming the weight and both shapes, without changing the model', async () => {
    const dir = freshDir('mismatch');
    const batch = makeBatch(9);
    const pair = await trainedPair(1, batch);
    const store = new CheckpointStore();
    await store.save(dir, { ...pair, state: makeState(1) });

    const wider = buildModel(5);
    const before = weightValues(wider);
    const name = wider.weights[0].originalName;
    const attempt = store.load(dir, { model: wider, optimizer: tf.train.adam(0.01) });
    await expect(attempt).rejects.toThrow(new RegExp(`'${name}'.*\\[3,3,1,5\\].*\\[3,3,1,4\\]`));
    await expect(store.loadWeights(dir, wider)).rejects.toThrow(/shape mismatch/);
    expect(maxAbsDiff(weightValues(wider), before)).toBe(0);
    tf.dispose([batch.x, batch.y]);
  });

  it('does not leak tensors across save and load', async () => {
    const dir = freshDir('memory');
    const batch = makeBatch(10);
    const source = await trainedPair(2, batch);
    const target = { model: buildModel(), optimizer: tf.train.adam(0.01) };
    const store = new CheckpointStore();

    let before = tf.memory().numTensors;
    await store.save(dir, { ...source, state: makeState(1) });
    expect(tf.memory().numTensors).toBe(before);

    // The first load into a fresh Adam creates its m and v slots: exactly two per trainable weight.
    before = tf.memory().numTensors;
    await store.load(dir, target);
    expect(tf.memory().numTensors - before).toBe(2 * target.model.trainableWeights.length);

    before = tf.memory().numTensors;
    for (let i = 0; i < 3; i++) {
      await store.save(dir, { ...source, state: makeState(i) });
      await store.load(dir, target);
      await store.loadWeights(dir, target.model);
      await store.save(dir, { ...target, state: makeState(i) });
    }
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([batch.x, batch.y]);
  });
});
