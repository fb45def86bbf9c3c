import * as tf from '@tensorflow/tfjs-core';
import { Rng } from '@fermix/core';
import { beforeAll, expect, it } from 'vitest';
import { cutmixBatch, drawMixCut, mixCutView, sampleBox } from '../src/index.js';
import { randomBatch, useCpu } from '../../../test-support/plugin-helpers.js';

beforeAll(useCpu);

it('the README plain-loop example runs as written and leaks nothing', () => {
  const { x, y } = randomBatch(1, 32, 48, 3);
  const before = tf.memory().numTensors;
  const rng = new Rng(1);
  const box = sampleBox(48, 48, rng.beta(1, 1), rng);
  const mixed = cutmixBatch(x, y, box, rng.permutation(32));
  const draw = drawMixCut(32, 48, 48, { mixupAlpha: 0.8, cutmixAlpha: 1, switchProb: 0.5, mode: 'sample' }, rng);
  const view = mixCutView({ x, y, weight: 1 }, draw);
  expect(mixed.x.shape).toEqual([32, 48, 48, 3]);
  expect(view.y.shape).toEqual([32, 3]);
  tf.dispose([mixed.x, mixed.y, view.x, view.y]);
  expect(tf.memory().numTensors).toBe(before);
  tf.dispose([x, y]);
});
