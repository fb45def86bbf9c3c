/**
 * Forward passes and training steps of the backbones on the wasm backend (the one fermix trains
 * on without tfjs-node). The training steps take a few seconds each; FERMIX_SKIP_SLOW=1 skips them.
 */
import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import { createTrainStep, initWasmBackend } from '@fermix/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { classifier, images, oneHot, rowSums } from './helpers.js';

const BIG = ['resnet50', 'vgg16', 'densenet121', 'efficientnetb0'];

/** Each big classifier is built once (100x100, 7 classes) and shared by the forward and training tests. */
const built = new Map<string, tfl.LayersModel>();
function model(name: string): tfl.LayersModel {
  let m = built.get(name);
  if (!m) {
    m = classifier(name, 100);
    built.set(name, m);
  }
  return m;
}

beforeAll(async () => {
  await initWasmBackend();
});

afterAll(() => {
  for (const m of built.values()) m.dispose();
});

describe('forward pass on wasm', () => {
  it.each(BIG)('%s at 100x100 gives [1, 7] probabilities that sum to 1', (name) => {
    const x = images(1, 100);
    const p = model(name).predict(x) as tf.Tensor;
    expect(p.shape).toEqual([1, 7]);
    expect(rowSums(p)[0]).toBeCloseTo(1, 5);
    expect(Array.from(p.dataSync()).every((v) => v >= 0 && Number.isFinite(v))).toBe(true);
    tf.dispose([x, p]);
  });

  it.each([
    ['resnet18', 48],
    ['resnet18', 100],
    ['mobilenetv2', 48],
    ['mobilenetv2', 100],
  ] as const)('%s at %i pixels square gives probabilities that sum to 1', (name, size) => {
    const m = classifier(name, size);
    const x = images(2, size);
    const p = m.predict(x) as tf.Tensor;
    expect(p.shape).toEqual([2, 7]);
    rowSums(p).forEach((s) => expect(s).toBeCloseTo(1, 5));
    tf.dispose([x, p]);
    m.dispose();
  });
});

describe.skipIf(process.env.FERMIX_SKIP_SLOW === '1')('training step on wasm (slow; FERMIX_SKIP_SLOW=1 skips)', () => {
  it.each([...BIG, 'resnet18', 'mobilenetv2'])('%s: one Adam step at batch 2 changes the weights, with a finite loss and no leaks', (name) => {
    const m = BIG.includes(name) ? model(name) : classifier(name, 100);
    const x = images(2, 100, 7);
    const y = oneHot(2);
    const step = createTrainStep({ model: m, optimizer: tf.train.adam(1e-3) });
    const kernel = m.getLayer('predictions').getWeights()[0];
    const before = Array.from(kernel.dataSync());
    const first = step({ x, y });
    expect(Number.isFinite(first.loss)).toBe(true);
    expect(first.batchSize).toBe(2);
    const after = Array.from(m.getLayer('predictions').getWeights()[0].dataSync());
    expect(after).not.toEqual(before);
    // Adam's slots exist after the first step: a second step adds no tensors.
    const tensors = tf.memory().numTensors;
    const second = step({ x, y });
    expect(Number.isFinite(second.loss)).toBe(true);
    expect(tf.memory().numTensors).toBe(tensors);
    tf.dispose([x, y]);
    if (!BIG.includes(name)) m.dispose();
  });
});
