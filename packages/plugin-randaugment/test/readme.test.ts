import * as tf from '@tensorflow/tfjs-core';
import { Rng } from '@fermix/core';
import { beforeAll, expect, it } from 'vitest';
import { applyOps, applyRandAugment, augmentationSpace, drawRandAugment, fromUint8Scale, toUint8Scale } from '../src/index.js';
import { randomBatch, useCpu } from '../../../test-support/plugin-helpers.js';

beforeAll(useCpu);

it('the README plain-loop example runs as written and leaks nothing', () => {
  const { x } = randomBatch(1, 4, 16, 3);
  const before = tf.memory().numTensors;
  const out = tf.tidy(() => fromUint8Scale(applyOps(toUint8Scale(x), ['Rotate', 'Equalize', 'Solarize', 'Identity'], [30, 0, 128, 0])));
  const [n, h, w] = x.shape;
  const draw = drawRandAugment(n, augmentationSpace('randaugment', h, w), { policy: 'randaugment', ops: 2, magnitude: 9, bins: 31, p: 1 }, new Rng(1));
  const augmented = applyRandAugment(x, draw);
  expect(out.shape).toEqual(x.shape);
  expect(augmented.shape).toEqual(x.shape);
  tf.dispose([out, augmented]);
  expect(tf.memory().numTensors).toBe(before);
  tf.dispose(x);
});
