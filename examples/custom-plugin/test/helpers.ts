import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import * as tfl from '@tensorflow/tfjs-layers';
import { Rng } from '@fermix/core';

export async function useCpu(): Promise<void> {
  await tf.setBackend('cpu');
  await tf.ready();
}

/** A tiny softmax classifier (conv + ReLU + pooling + dense), weights drawn from a seeded generator. */
export function tinyModel(seed = 1, size = 8, classes = 3): tfl.LayersModel {
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
export function randomBatch(seed = 1, n = 4, size = 8, classes = 3): { x: tf.Tensor4D; y: tf.Tensor2D } {
  const rng = new Rng(seed);
  const x = tf.tensor4d(Float32Array.from({ length: n * size * size * 3 }, () => rng.uniform()), [n, size, size, 3]);
  const y = tf.tidy(() => tf.cast(tf.oneHot(tf.tensor1d(Array.from({ length: n }, (_, i) => i % classes), 'int32'), classes), 'float32') as tf.Tensor2D);
  return { x, y };
}

/** Sample i of an image batch [B, H, W, C] as nested arrays [H][W][C]. */
export function image(x: tf.Tensor4D, i: number): number[][][] {
  return (x.arraySync() as number[][][][])[i];
}
