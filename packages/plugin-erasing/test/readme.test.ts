import * as tf from '@tensorflow/tfjs-core';
import { Rng } from '@fermix/core';
import { beforeAll, expect, it } from 'vitest';
import { eraseBatch, sampleEraseBox } from '../src/index.js';
import { randomBatch, useCpu } from '../../../test-support/plugin-helpers.js';

beforeAll(useCpu);

it('the README plain-loop example runs as written and leaks nothing', () => {
  const { x } = randomBatch(1, 8, 48, 3);
  const before = tf.memory().numTensors;
  const rng = new Rng(1);
  const [n, h, w] = x.shape;
  const boxes = Array.from({ length: n }, () => (rng.uniform() < 0.5 ? sampleEraseBox(h, w, [0.02, 0.33], [0.3, 3.3], rng) : null));
  const erased = eraseBatch(x, boxes, 0);
  expect(boxes.some(Boolean)).toBe(true);
  expect(erased.shape).toEqual(x.shape);
  tf.dispose(erased);
  expect(tf.memory().numTensors).toBe(before);
  tf.dispose(x);
});
