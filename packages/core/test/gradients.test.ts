import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-layers';
import '@tensorflow/tfjs-backend-cpu';
import { describe, expect, it } from 'vitest';
import { fusedBatchNormGrad, registerFastGradients } from '../src/backend/gradients.js';
import { initWasmBackend } from '../src/backend/wasm.js';

/** Batch norm written with elementary ops: its autodiff is the reference for FusedBatchNorm's gradient. */
function reference(x: tf.Tensor, mean: tf.Tensor, variance: tf.Tensor, offset: tf.Tensor, scale: tf.Tensor, eps: number): tf.Tensor {
  return tf.add(tf.mul(tf.mul(tf.sub(x, mean), tf.rsqrt(tf.add(variance, eps))), scale), offset);
}

function inputs(shape: number[]) {
  const c = shape[shape.length - 1];
  return [tf.randomNormal(shape, 0, 1, 'float32', 1), tf.randomNormal([c], 0, 1, 'float32', 2), tf.randomUniform([c], 0.5, 2, 'float32', 3), tf.randomNormal([c], 0, 1, 'float32', 4), tf.randomNormal([c], 1, 0.3, 'float32', 5)];
}

async function compare(backend: 'cpu' | 'wasm', shape: number[]) {
  if (backend === 'wasm') await initWasmBackend();
  else await tf.setBackend('cpu');
  registerFastGradients();
  const eps = 1e-3;
  const args = inputs(shape);
  const dy = tf.randomNormal(shape, 0, 1, 'float32', 6);
  // A weighted sum makes dy arbitrary, not all ones.
  const fused = tf.grads((x, m, v, o, s) => tf.sum(tf.mul(tf.batchNorm(x, m, v, o, s, eps), dy)))(args);
  const plain = tf.grads((x, m, v, o, s) => tf.sum(tf.mul(reference(x, m, v, o, s, eps), dy)))(args);
  fused.forEach((g, i) => {
    expect(g.shape).toEqual(plain[i].shape);
    const a = g.dataSync();
    const b = plain[i].dataSync();
    const scale = Math.max(1, ...Array.from(b, Math.abs));
    for (let j = 0; j < a.length; j++) expect(Math.abs(a[j] - b[j]) / scale).toBeLessThan(1e-4);
  });
  tf.dispose([...args, dy, ...fused, ...plain]);
}

describe('FusedBatchNorm gradient (broadcast instead of tile)', () => {
  it('equals the autodiff of batch norm written with elementary ops on the cpu backend, rank 4 and rank 2', async () => {
    await compare('cpu', [3, 5, 4, 6]);
    await compare('cpu', [7, 5]);
  });

  it('equals it on the wasm backend too', async () => {
    await compare('wasm', [2, 6, 6, 8]);
  });

  it('is the gradient tfjs uses for FusedBatchNorm once the wasm backend is set up', async () => {
    await initWasmBackend();
    expect(tf.getGradient('FusedBatchNorm')?.gradFunc).toBe(fusedBatchNormGrad.gradFunc);
  });

  it('leaves no tensors behind', async () => {
    await tf.setBackend('cpu');
    registerFastGradients();
    const args = inputs([2, 3, 3, 4]);
    const before = tf.memory().numTensors;
    const g = tf.grads((x, m, v, o, s) => tf.sum(tf.batchNorm(x, m, v, o, s, 1e-3)))(args);
    tf.dispose(g);
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose(args);
  });
});
