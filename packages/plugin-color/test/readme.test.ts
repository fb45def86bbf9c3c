import * as tf from '@tensorflow/tfjs-core';
import { Rng } from '@fermix/core';
import { beforeAll, expect, it } from 'vitest';
import { adjustContrast, adjustHue, applyColor, drawColor, parseColorOptions } from '../src/index.js';
import { randomBatch, useCpu } from '../../../test-support/plugin-helpers.js';

beforeAll(useCpu);

it('the README plain-loop example runs as written and leaks nothing', () => {
  const { x } = randomBatch(1, 4, 16, 3);
  const before = tf.memory().numTensors;
  const sharper = adjustContrast(x, 1.3);
  const shifted = adjustHue(x, [0.05, -0.1, 0, 0.2]);
  const options = parseColorOptions({ brightness: 0.4, hue: 0.1, grayscale: 0.2 });
  const draw = drawColor(x.shape[0], options, new Rng(1));
  const jittered = applyColor(x, draw);
  expect(jittered.shape).toEqual(x.shape);
  tf.dispose([sharper, shifted, jittered]);
  expect(tf.memory().numTensors).toBe(before);
  tf.dispose(x);
});
