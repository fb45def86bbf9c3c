import * as tfl from '@tensorflow/tfjs-layers';
import { beforeAll, describe, expect, it } from 'vitest';
import { recalibrateBatchNorm } from '../src/train/evaluate.js';
import type { ImageSet } from '../src/data/source.js';
import { Rng } from '../src/rng.js';
import { useCpu } from './helpers.js';

beforeAll(useCpu);

function randomSet(count: number, size: number): ImageSet {
  const rng = new Rng(4);
  const images = Uint8Array.from({ length: count * size * size * 3 }, () => Math.floor(rng.uniform() * 256));
  return { images, labels: new Int32Array(count), count, size, classes: ['a', 'b'], sources: [], skipped: [] };
}

describe('recalibrateBatchNorm', () => {
  it('sets moving statistics to the plain average of the batch statistics, with dropout off, and restores momentum', () => {
    const input = tfl.input({ shape: [4, 4, 3] });
    const dropped = tfl.layers.dropout({ rate: 0.9 }).apply(input) as tfl.SymbolicTensor;
    const bn = tfl.layers.batchNormalization({ momentum: 0.99 });
    const x = bn.apply(dropped) as tfl.SymbolicTensor;
    const out = tfl.layers.dense({ units: 2, activation: 'softmax' }).apply(tfl.layers.globalAveragePooling2d({}).apply(x) as tfl.SymbolicTensor);
    const model = tfl.model({ inputs: input, outputs: out as tfl.SymbolicTensor });
    const set = randomSet(12, 4);
    expect(recalibrateBatchNorm(model, set, 6, 2)).toBe(2);
    // Two batches of equal size in file order: the average of their means is the mean of all pixels.
    const expected = [0, 1, 2].map((c) => {
      let s = 0;
      for (let i = c; i < set.images.length; i += 3) s += set.images[i] / 255;
      return s / (set.images.length / 3);
    });
    const movingMean = bn.getWeights()[2].dataSync();
    expected.forEach((v, c) => expect(movingMean[c]).toBeCloseTo(v, 4));
    expect((bn as unknown as { momentum: number }).momentum).toBe(0.99);
    expect((model.layers[1] as unknown as { rate: number }).rate).toBe(0.9);
  });

  it('does nothing to a model without batch norm', () => {
    const input = tfl.input({ shape: [4, 4, 3] });
    const out = tfl.layers.dense({ units: 2 }).apply(tfl.layers.flatten().apply(input) as tfl.SymbolicTensor) as tfl.SymbolicTensor;
    const model = tfl.model({ inputs: input, outputs: out });
    const before = model.getWeights().map((w) => Array.from(w.dataSync()));
    expect(recalibrateBatchNorm(model, randomSet(4, 4), 2, 5)).toBe(0);
    expect(model.getWeights().map((w) => Array.from(w.dataSync()))).toEqual(before);
  });
});
