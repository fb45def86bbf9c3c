import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-layers';
import { describe, expect, it } from 'vitest';
import { selectBackend } from '../src/backend/select.js';
import { createMemoryLogger } from '../src/logger.js';

describe('selectBackend', () => {
  it('auto falls through tfjs-node-gpu and tfjs-node to wasm where they are absent, and logs why', async () => {
    const logger = createMemoryLogger();
    const choice = await selectBackend('auto', logger);
    expect(choice.name).toBe('wasm');
    expect(tf.getBackend()).toBe('wasm');
    expect(choice.reasons[0]).toMatch(/@tensorflow\/tfjs-node-gpu is not installed/);
    expect(choice.reasons[1]).toMatch(/@tensorflow\/tfjs-node is not installed/);
    const line = logger.lines.find((l) => l.message.startsWith('backend: wasm'));
    expect(line?.fields?.why).toMatch(/tfjs-node-gpu/);
  });

  it('a requested tensorflow backend that is not installed is an error that says how to get it', async () => {
    await expect(selectBackend('tensorflow', createMemoryLogger())).rejects.toThrow(/Install @tensorflow\/tfjs-node-gpu/);
  });

  it('cpu and wasm can be forced, and wasm trains a convolution (its gradient kernels are registered)', async () => {
    expect((await selectBackend('cpu', createMemoryLogger())).name).toBe('cpu');
    expect(tf.getBackend()).toBe('cpu');
    expect((await selectBackend('wasm', createMemoryLogger())).name).toBe('wasm');
    const x = tf.randomNormal([1, 5, 5, 2]) as tf.Tensor4D;
    const w = tf.variable(tf.randomNormal([3, 3, 2, 4]));
    const { grads } = tf.variableGrads(() => tf.sum(tf.conv2d(x, w as tf.Tensor4D, 1, 'same')) as tf.Scalar, [w]);
    expect(grads[w.name].shape).toEqual([3, 3, 2, 4]);
    tf.dispose([x, w, grads[w.name]]);
  });
});
