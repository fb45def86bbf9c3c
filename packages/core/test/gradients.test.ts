import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import '@tensorflow/tfjs-backend-cpu';
import { describe, expect, it, vi } from 'vitest';
import { fusedBatchNormGrad, meanGrad, registerFastGradients, subGrad, sumGrad, sumOverAxes } from '../src/backend/gradients.js';
import { selectBackend } from '../src/backend/select.js';
import { initWasmBackend } from '../src/backend/wasm.js';
import { createMemoryLogger } from '../src/logger.js';
import { Rng } from '../src/rng.js';
import { initializeKernels } from '../src/model.js';

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

describe('FusedBatchNorm gradient (fewer passes, no tile)', () => {
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

// tfjs-core's own gradients, as registered by the tfjs-layers import above (before any test replaces them).
const tfjsGradients = ['FusedBatchNorm', 'Mean', 'Sum', 'Sub'].map((name) => tf.getGradient(name)!);

/** Runs `fn` with tfjs-core's gradients registered, then puts fermix's back. */
function withTfjsGradients<T>(fn: () => T): T {
  for (const g of tfjsGradients) tf.registerGradient(g);
  try {
    return fn();
  } finally {
    registerFastGradients();
  }
}

function values(ts: tf.Tensor[]): Float32Array[] {
  const out = ts.map((t) => Float32Array.from(t.dataSync()));
  tf.dispose(ts);
  return out;
}

function expectAllClose(actual: Float32Array[], expected: Float32Array[], label: string): void {
  expect(actual.length, label).toBe(expected.length);
  expected.forEach((e, k) => {
    const a = actual[k];
    expect(a.length, `${label} [${k}] length`).toBe(e.length);
    const scale = Math.max(1, ...Array.from(e, Math.abs));
    let worst = 0;
    for (let j = 0; j < e.length; j++) worst = Math.max(worst, Math.abs(a[j] - e[j]) / scale);
    expect(worst, `${label} [${k}]`).toBeLessThan(1e-4);
  });
}

/** Batch norm in training as tfjs-layers computes it: tf.moments over all axes but the last, then tf.batchNorm. */
function trainingBatchNormGrads(shape: number[], seed: number): () => tf.Tensor[] {
  return () => {
    const c = shape[shape.length - 1];
    const x = tf.randomNormal(shape, 0.3, 1.7, 'float32', seed);
    const gamma = tf.randomNormal([c], 1, 0.3, 'float32', seed + 1);
    const beta = tf.randomNormal([c], 0, 1, 'float32', seed + 2);
    const dy = tf.randomNormal(shape, 0, 1, 'float32', seed + 3);
    const axes = shape.slice(0, -1).map((_, i) => i);
    return tf.grads((xx: tf.Tensor, g: tf.Tensor, b: tf.Tensor) => {
      const { mean, variance } = tf.moments(xx, axes);
      return tf.sum(tf.mul(tf.batchNorm(xx, mean, variance, b, g, 1e-3), dy));
    })([x, gamma, beta]);
  };
}

describe('fermix gradients against tfjs-core 4.22 gradients', () => {
  it('training-mode batch norm (tf.moments + tf.batchNorm, as tfjs-layers does it): x, gamma and beta gradients on wasm equal tfjs-core\'s on cpu', async () => {
    for (const [i, shape] of [[4, 6, 6, 8], [32, 5, 5, 3], [2, 3, 3, 128], [9, 5]].entries()) {
      await tf.setBackend('cpu');
      const expected = withTfjsGradients(() => values(tf.tidy(trainingBatchNormGrads(shape, 10 + i))));
      await initWasmBackend();
      const actual = values(tf.tidy(trainingBatchNormGrads(shape, 10 + i)));
      expectAllClose(actual, expected, `batch norm [${shape}]`);
    }
  });

  it('Mean and Sub gradients equal tfjs-core\'s for every broadcast pattern, on cpu and on wasm', async () => {
    const cases = (): tf.Tensor[] => {
      const a = tf.randomNormal([3, 4, 5, 6], 0, 1, 'float32', 21);
      const dy = tf.randomNormal([3, 4, 5, 6], 0, 1, 'float32', 22);
      const out: tf.Tensor[] = [];
      for (const bShape of [[6], [1, 1, 1, 6], [5, 6], [1, 4, 1, 1], [], [3, 4, 5, 6]]) {
        const b = tf.randomNormal(bShape, 0, 1, 'float32', 23);
        out.push(...tf.grads((p: tf.Tensor, q: tf.Tensor) => tf.sum(tf.mul(tf.sub(p, q), dy)))([a, b]));
        out.push(...tf.grads((p: tf.Tensor, q: tf.Tensor) => tf.sum(tf.mul(tf.sub(q, p), dy)))([a, b]));
      }
      for (const axis of [[0, 1, 2], [1, 2], [3], [0, 1, 2, 3], [0]]) {
        const m = tf.mean(a, axis);
        const r = tf.randomNormal(m.shape, 0, 1, 'float32', 24);
        out.push(tf.grad((p: tf.Tensor) => tf.sum(tf.mul(tf.mean(p, axis), r)))(a));
        out.push(tf.grad((p: tf.Tensor) => tf.sum(tf.mul(tf.mean(p, axis, true), tf.reshape(r, tf.mean(a, axis, true).shape))))(a));
      }
      return out;
    };
    for (const backend of ['cpu', 'wasm'] as const) {
      if (backend === 'wasm') await initWasmBackend();
      else await tf.setBackend('cpu');
      registerFastGradients();
      const expected = withTfjsGradients(() => values(tf.tidy(cases)));
      const actual = values(tf.tidy(cases));
      expectAllClose(actual, expected, `Mean/Sub on ${backend}`);
    }
  });

  it('sumOverAxes equals tf.sum on wasm, for the leading axes (one pooling) and any other axes (tf.sum)', async () => {
    await initWasmBackend();
    for (const [shape, axes] of [[[32, 9, 9, 16], [0, 1, 2]], [[7, 5], [0]], [[1, 1, 1, 4], [0, 1, 2]], [[3, 4, 5], [1]], [[3, 4, 5], [0, 1, 2]], [[4, 6], [0, 1]]] as Array<[number[], number[]]>) {
      const [actual, expected] = tf.tidy(() => {
        const t = tf.randomNormal(shape, 0.5, 2, 'float32', 31);
        return [sumOverAxes(t, axes), tf.sum(t, axes)];
      });
      expect(actual.shape, `[${shape}] over [${axes}]`).toEqual(expected.shape);
      expectAllClose(values([actual]), values([expected]), `sumOverAxes [${shape}] over [${axes}]`);
    }
  });

  it('registers fermix\'s Mean and Sub gradients too', async () => {
    await initWasmBackend();
    expect(tf.getGradient('Mean')?.gradFunc).toBe(meanGrad.gradFunc);
    expect(tf.getGradient('Sub')?.gradFunc).toBe(subGrad.gradFunc);
  });
});

/** conv, batch norm, ReLU, global average pooling, dense softmax: batch norm in training takes two Means, the pooling a third. */
function batchNormNet(): tfl.LayersModel {
  const input = tfl.input({ shape: [8, 8, 3] });
  let x = tfl.layers.conv2d({ filters: 4, kernelSize: 3, padding: 'same', name: 'conv' }).apply(input) as tfl.SymbolicTensor;
  x = tfl.layers.batchNormalization({ name: 'bn' }).apply(x) as tfl.SymbolicTensor;
  x = tfl.layers.activation({ activation: 'relu' }).apply(x) as tfl.SymbolicTensor;
  x = tfl.layers.globalAveragePooling2d({}).apply(x) as tfl.SymbolicTensor;
  const out = tfl.layers.dense({ units: 3, activation: 'softmax', name: 'predictions' }).apply(x) as tfl.SymbolicTensor;
  const model = tfl.model({ inputs: input, outputs: out });
  initializeKernels(model, new Rng(5));
  return model;
}

describe('no activation-sized array built on the host in the backward pass', () => {
  it('a batch-norm network trained on the cpu backend: fermix\'s gradients (registered by selectBackend for every backend) build none, tfjs-core\'s build one per Mean, and the gradients agree', async () => {
    await selectBackend('cpu', createMemoryLogger());
    expect(tf.getGradient('Mean')?.gradFunc).toBe(meanGrad.gradFunc);
    expect(tf.getGradient('Sum')?.gradFunc).toBe(sumGrad.gradFunc);
    const model = batchNormNet();
    const variables = model.trainableWeights.map((w) => w.read() as tf.Variable);
    const x = tf.randomUniform([4, 8, 8, 3], 0, 1, 'float32', 7);
    const y = tf.cast(tf.oneHot(tf.tensor1d([0, 1, 2, 1], 'int32'), 3), 'float32');
    const activation = 4 * 8 * 8 * 4;
    /**
     * The gradients, and how many tensors of at least an activation's size were made from host
     * values (engine.makeTensor: tf.ones, tf.tensor...), which tfjs-node copies to the device.
     * Kernel outputs are not made that way on any backend.
     */
    const backward = () => {
      const made = vi.spyOn(tf.engine(), 'makeTensor');
      try {
        const grads = values(
          tf.tidy(() => {
            const { grads: g } = tf.variableGrads(() => {
              const p = model.apply(x, { training: true }) as tf.Tensor2D;
              return tf.neg(tf.mean(tf.sum(tf.mul(y, tf.log(tf.clipByValue(p, 1e-7, 1))), 1))) as tf.Scalar;
            }, variables);
            return variables.map((v) => g[v.name]);
          }),
        );
        const hostArrays = made.mock.calls.filter(([vals]) => (vals as ArrayLike<unknown>).length >= activation).length;
        return { grads, hostArrays };
      } finally {
        made.mockRestore();
      }
    };
    // The batch-norm statistics move in each training-mode pass: start both from the same ones.
    const statistics = model.nonTrainableWeights.map((w) => (w.read() as tf.Variable).clone());
    const fermix = backward();
    model.nonTrainableWeights.forEach((w, i) => (w.read() as tf.Variable).assign(statistics[i]));
    const tfjs = withTfjsGradients(backward);
    expect(fermix.hostArrays).toBe(0);
    expect(tfjs.hostArrays).toBeGreaterThanOrEqual(3); // the two Means of tf.moments and the pooling's
    expect(fermix.grads.map((g) => g.length)).toEqual(variables.map((v) => v.size));
    expectAllClose(fermix.grads, tfjs.grads, 'batch-norm network gradients');
    tf.dispose([x, y, ...statistics]);
    model.dispose();
  });

  it('Sum\'s gradient equals tfjs-core\'s for any axes, without a host array', async () => {
    await tf.setBackend('cpu');
    registerFastGradients();
    const cases = () => {
      const a = tf.randomNormal([3, 4, 5, 6], 0, 1, 'float32', 41);
      return [[0, 1, 2], [3], [1, 2], [0, 1, 2, 3]].flatMap((axis) => {
        const r = tf.randomNormal(tf.sum(a, axis).shape, 0, 1, 'float32', 42);
        return [tf.grad((p: tf.Tensor) => tf.sum(tf.mul(tf.sum(p, axis), r)))(a), tf.grad((p: tf.Tensor) => tf.sum(tf.mul(tf.sum(p, axis, true), tf.reshape(r, tf.sum(a, axis, true).shape))))(a)];
      });
    };
    const expected = withTfjsGradients(() => values(tf.tidy(cases)));
    expectAllClose(values(tf.tidy(cases)), expected, 'Sum');
  });
});
