import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { readKerasWeights, WeightsFileError, type KerasWeightsFile } from '../src/index.js';

const fixtures = path.join(import.meta.dirname, 'fixtures');
const read = (name: string) => readKerasWeights(fs.readFileSync(path.join(fixtures, name)), name);
/** The arrays scripts/fixtures/make_h5.py wrote, by layer and weight. */
const expected = JSON.parse(fs.readFileSync(path.join(fixtures, 'expected.json'), 'utf8')) as Record<string, Record<string, { shape: number[]; values: number[] }>>;
const KERAS3_ORDER: Record<string, string[]> = {
  conv1_conv: ['kernel', 'bias'],
  bn: ['gamma', 'beta', 'moving_mean', 'moving_variance'],
  predictions: ['kernel', 'bias'],
};

/** Every weight of the file, by layer and weight name, as the reader gives it. */
function byName(file: KerasWeightsFile, names: (layer: string, i: number, name: string) => string = (_l, _i, n) => n) {
  return Object.fromEntries(file.layers.map((l) => [l.name, Object.fromEntries(l.weights.map((w, i) => [names(l.name, i, w.name), { shape: w.shape, values: Array.from(w.values) }]))]));
}

describe('readKerasWeights', () => {
  it('reads the Keras 2 save_weights layout by name, every value equal to what was written', () => {
    const file = read('keras2.h5');
    expect(file.layout).toBe('keras2');
    expect(file.kerasVersion).toBe('2.15.0');
    // Layers without weights (input_1, avg_pool) are left out; conv1/conv keeps its Keras 2 name.
    expect(file.layers.map((l) => l.name)).toEqual(['conv1/conv', 'bn', 'predictions']);
    expect(file.layers[0].weights.map((w) => [w.name, w.path])).toEqual([
      ['kernel', 'conv1/conv/kernel:0'],
      ['bias', 'conv1/conv/bias:0'],
    ]);
    const { extra_dense: _, ...model } = expected;
    expect(byName(file)).toEqual({ 'conv1/conv': model.conv1_conv, bn: model.bn, predictions: model.predictions });
    expect(file.layers.every((l) => l.weights.every((w) => w.values instanceof Float32Array))).toBe(true);
  });

  it('reads a whole-model file (model_weights) whose layer_names Keras split over several attributes, with a layer the model lacks', () => {
    const file = read('keras2-extra.h5');
    expect(file.layers.map((l) => l.name)).toEqual(['conv1/conv', 'bn', 'predictions', 'extra_dense']);
    expect(byName(file).extra_dense).toEqual(expected.extra_dense);
  });

  it('reads the Keras 3 .weights.h5 layout: names from the vars groups, weights by position, optimizer state ignored', () => {
    const file = read('keras3.weights.h5');
    expect(file.layout).toBe('keras3');
    expect(file.layers.map((l) => l.name)).toEqual(['bn', 'conv1_conv', 'predictions']);
    expect(file.layers.find((l) => l.name === 'bn')!.weights.map((w) => w.path)).toEqual(['0', '1', '2', '3']);
    const named = byName(file, (layer, i) => KERAS3_ORDER[layer][i]);
    expect(named).toEqual({ conv1_conv: expected.conv1_conv, bn: expected.bn, predictions: expected.predictions });
  });

  it('refuses an HDF5 file in neither layout, naming the file and what it has', () => {
    expect(() => read('wrong-layout.h5')).toThrow(WeightsFileError);
    expect(() => read('wrong-layout.h5')).toThrow(/^wrong-layout\.h5: an HDF5 file, but not Keras weights: expected the Keras 2 layout .*found top-level data$/);
  });

  it('refuses a truncated file (even one cut after the bytes a reader would look at) and a file that is not HDF5', () => {
    const bytes = fs.readFileSync(path.join(fixtures, 'keras2.h5'));
    expect(() => readKerasWeights(bytes.subarray(0, 4), 'cut.h5')).toThrow(/^cut\.h5: not an HDF5 file/);
    for (const cut of [30, 2000, bytes.length - 50, bytes.length - 1]) {
      expect(() => readKerasWeights(bytes.subarray(0, cut), 'cut.h5')).toThrow(/^cut\.h5: truncated: /);
    }
    expect(() => readKerasWeights(bytes.subarray(0, bytes.length - 1), 'cut.h5')).toThrow(`cut.h5: truncated: ${bytes.length - 1} bytes, its HDF5 header says ${bytes.length}`);
    expect(() => readKerasWeights(new TextEncoder().encode('{"format": "layers-model"}'), 'model.h5')).toThrow(/^model\.h5: not an HDF5 file \(no HDF5 signature\)/);
    expect(() => readKerasWeights(Uint8Array.from([0x50, 0x4b, 3, 4, 0, 0]), 'model.keras')).toThrow('model.keras: a zip archive, not an HDF5 file: for a Keras 3 .keras file, give the model.weights.h5 it contains (unzip it)');
  });

  it('turns damage inside a complete-sized file into an error naming the file', () => {
    const bytes = Uint8Array.from(fs.readFileSync(path.join(fixtures, 'keras2.h5')));
    // Overwrite everything after the superblock: the root group's object header is gone.
    bytes.fill(0xff, 100);
    const error = (() => {
      try {
        readKerasWeights(bytes, 'damaged.h5');
      } catch (err) {
        return err as Error;
      }
    })();
    expect(error).toBeInstanceOf(WeightsFileError);
    expect(error!.message).toMatch(/^damaged\.h5: /);
  });
});
