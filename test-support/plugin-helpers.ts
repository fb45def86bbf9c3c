/** Test helpers shared by the plugin packages' tests (mixup, cutmix, crop, color, erasing, randaugment). */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import * as tfl from '@tensorflow/tfjs-layers';
import { Rng, silentLogger, type PluginContext } from '@fermix/core';

export async function useCpu(): Promise<void> {
  await tf.setBackend('cpu');
  await tf.ready();
}

/** A tiny softmax classifier (conv + ReLU + pooling + dense), weights drawn from a seeded generator. */
export function tinyModel(seed = 1, size = 6, classes = 3): tfl.LayersModel {
  const input = tfl.input({ shape: [size, size, 3] });
  let x = tfl.layers.conv2d({ filters: 4, kernelSize: 3, padding: 'same', activation: 'relu' }).apply(input) as tfl.SymbolicTensor;
  x = tfl.layers.globalAveragePooling2d({}).apply(x) as tfl.SymbolicTensor;
  const out = tfl.layers.dense({ units: classes, activation: 'softmax' }).apply(x) as tfl.SymbolicTensor;
  const model = tfl.model({ inputs: input, outputs: out });
  const rng = new Rng(seed);
  for (const w of model.weights) {
    const t = tf.tensor(Float32Array.from({ length: w.shape.reduce((a, b) => a! * b!, 1)! }, () => rng.uniform() - 0.5), w.shape as number[]);
    w.write(t);
    t.dispose();
  }
  return model;
}

/** A batch of random images in [0, 1] and one-hot labels i mod k. */
export function randomBatch(seed = 1, n = 5, size = 6, classes = 3): { x: tf.Tensor4D; y: tf.Tensor2D } {
  const rng = new Rng(seed);
  const x = tf.tensor4d(Float32Array.from({ length: n * size * size * 3 }, () => rng.uniform()), [n, size, size, 3]);
  const y = tf.tidy(() => tf.cast(tf.oneHot(tf.tensor1d(Array.from({ length: n }, (_, i) => i % classes), 'int32'), classes), 'float32') as tf.Tensor2D);
  return { x, y };
}

/** Rows of a [B, ...] tensor as flat arrays. */
export function rows(t: tf.Tensor): number[][] {
  const n = t.shape[0];
  const flat = Array.from(t.dataSync());
  const per = flat.length / n;
  return Array.from({ length: n }, (_, i) => flat.slice(i * per, (i + 1) * per));
}

/** The mixup of rows by hand: lam_i * a[i] + (1 - lam_i) * a[perm[i]], elementwise. */
export function mixRowsByHand(a: number[][], lam: number | number[], perm: ArrayLike<number>): number[][] {
  return a.map((row, i) => {
    const l = typeof lam === 'number' ? lam : lam[i];
    return row.map((v, k) => l * v + (1 - l) * a[perm[i]][k]);
  });
}

export function expectRowsClose(actual: number[][], expected: number[][], tol = 1e-6): void {
  if (actual.length !== expected.length) throw new Error(`row count ${actual.length} != ${expected.length}`);
  actual.forEach((row, i) => {
    if (row.length !== expected[i].length) throw new Error(`row ${i}: length ${row.length} != ${expected[i].length}`);
    row.forEach((v, k) => {
      if (!(Math.abs(v - expected[i][k]) <= tol)) throw new Error(`row ${i}, element ${k}: ${v} != ${expected[i][k]} (tolerance ${tol})`);
    });
  });
}

export function context(rng: Rng, drawn: Record<string, unknown> = {}): PluginContext {
  return { step: 0, epoch: 0, rng, logger: silentLogger, container: {} as PluginContext['container'], record: (k, v) => (drawn[k] = v) };
}
