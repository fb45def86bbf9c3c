import * as tf from '@tensorflow/tfjs-core';
import { Rng } from '@fermix/core';
import { beforeAll, expect, it } from 'vitest';
import { affine, resizedCrop, sampleAffine, sampleResizedCrop } from '../src/index.js';
import { randomBatch, useCpu } from '../../../test-support/plugin-helpers.js';

beforeAll(useCpu);

it('the README plain-loop example runs as written and leaks nothing', () => {
  const { x } = randomBatch(1, 4, 48, 3);
  const before = tf.memory().numTensors;
  const rng = new Rng(1);
  const [n, h, w] = x.shape;
  const boxes = Array.from({ length: n }, () => sampleResizedCrop(h, w, [0.8, 1], [0.9, 1.1], rng));
  const cropped = resizedCrop(x, boxes);
  const params = Array.from({ length: n }, () => sampleAffine(h, w, { degrees: [-10, 10] }, rng));
  const turned = affine(cropped, params, 0);
  expect(turned.shape).toEqual([4, 48, 48, 3]);
  tf.dispose([cropped, turned]);
  expect(tf.memory().numTensors).toBe(before);
  tf.dispose(x);
});
