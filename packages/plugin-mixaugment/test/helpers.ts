import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import * as tfl from '@tensorflow/tfjs-layers';
import { Rng, silentLogger, type PluginContext } from '@fermix/core';

export const SIZE = 6;
export const CLASSES = 3;

export async function useCpu(): Promise<void> {
  await tf.setBackend('cpu');
  await tf.ready();
}

/**
 * A tiny softmax classifier: conv 3x3 (+ batch norm) + ReLU, global average pooling, dense. Every
 * weight, the batch-norm moving statistics included, is drawn from a seeded generator, so the moving
 * statistics are far from the identity (0, 1) and inference mode is a real test.
 */
export function tinyModel(options: { seed?: number; batchNorm?: boolean } = {}): tfl.LayersModel {
  const input = tfl.input({ shape: [SIZE, SIZE, 3] });
  let x = tfl.layers.conv2d({ filters: 4, kernelSize: 3, padding: 'same' }).apply(input) as tfl.SymbolicTensor;
  if (options.batchNorm) x = tfl.layers.batchNormalization({}).apply(x) as tfl.SymbolicTensor;
  x = tfl.layers.activation({ activation: 'relu' }).apply(x) as tfl.SymbolicTensor;
  x = tfl.layers.globalAveragePooling2d({}).apply(x) as tfl.SymbolicTensor;
  const out = tfl.layers.dense({ units: CLASSES, activation: 'softmax' }).apply(x) as tfl.SymbolicTensor;
  const model = tfl.model({ inputs: input, outputs: out });
  const rng = new Rng(options.seed ?? 1);
  for (const w of model.weights) {
    const n = (w.shape as number[]).reduce((a, b) => a * b, 1);
    const variance = /moving_variance/.test(w.name);
    const t = tf.tensor(Float32Array.from({ length: n }, () => (variance ? 0.5 + rng.uniform() : rng.uniform() - 0.5)), w.shape as number[]);
    w.write(t);
    t.dispose();
  }
  return model;
}

/** Random images in [0, 1] and one-hot labels i mod CLASSES. */
export function randomBatch(seed = 1, n = 6): { x: tf.Tensor4D; y: tf.Tensor2D } {
  const rng = new Rng(seed);
  const x = tf.tensor4d(Float32Array.from({ length: n * SIZE * SIZE * 3 }, () => rng.uniform()), [n, SIZE, SIZE, 3]);
  const y = tf.tidy(() => tf.cast(tf.oneHot(tf.tensor1d(Array.from({ length: n }, (_, i) => i % CLASSES), 'int32'), CLASSES), 'float32') as tf.Tensor2D);
  return { x, y };
}

/**
 * An optimizer that only records the gradients it is given (as plain arrays, by variable name) and
 * changes nothing: the gradients createTrainStep computed, exactly, with the weights left as they were.
 */
export class CaptureGradients extends tf.Optimizer {
  static className = 'CaptureGradients';
  grads: Record<string, Float32Array> = {};
  applyGradients(variableGradients: Parameters<tf.Optimizer['applyGradients']>[0]): void {
    const entries: [string, tf.Tensor][] = Array.isArray(variableGradients) ? variableGradients.map((g) => [g.name, g.tensor]) : Object.entries(variableGradients);
    this.grads = {};
    for (const [name, t] of entries) this.grads[name] = t.dataSync().slice() as Float32Array;
  }
  getConfig(): tf.serialization.ConfigDict {
    return {};
  }
}

/** Mean over the batch of -sum_k y log clip(p), written out independently of the packages under test. */
export function cce(y: tf.Tensor, p: tf.Tensor): tf.Scalar {
  return tf.mean(tf.neg(tf.sum(tf.mul(y, tf.log(tf.clipByValue(p, 1e-7, 1 - 1e-7))), 1))) as tf.Scalar;
}

/**
 * The paper's loss with three separate forward passes, written out: x_j = x[perm],
 * x~ = lam x + (1-lam) x_j, y~ likewise, and
 * L = CCE(y~, p(x~)) + CCE(y_i, p(x_i)) + CCE(y_j, p(x_j)). Returns the loss and every gradient.
 */
export function paperThreePassLoss(
  model: tfl.LayersModel,
  x: tf.Tensor4D,
  y: tf.Tensor2D,
  lam: number | number[],
  perm: number[],
  training: boolean,
): { loss: number; grads: Record<string, Float32Array> } {
  return tf.tidy(() => {
    const n = x.shape[0];
    const permT = tf.tensor1d(perm, 'int32');
    const xj = tf.gather(x, permT);
    const yj = tf.gather(y, permT);
    const l = typeof lam === 'number' ? tf.scalar(lam) : tf.tensor1d(lam);
    const lx = typeof lam === 'number' ? l : tf.reshape(l, [n, 1, 1, 1]);
    const ly = typeof lam === 'number' ? l : tf.reshape(l, [n, 1]);
    const xt = tf.add(tf.mul(lx, x), tf.mul(tf.sub(1, lx), xj));
    const yt = tf.add(tf.mul(ly, y), tf.mul(tf.sub(1, ly), yj));
    const variables = model.trainableWeights.map((w) => w.read() as tf.Variable);
    const { value, grads } = tf.variableGrads(() => {
      const pt = model.apply(xt, { training }) as tf.Tensor;
      const pi = model.apply(x, { training }) as tf.Tensor;
      const pj = model.apply(xj, { training }) as tf.Tensor;
      return tf.addN([cce(yt, pt), cce(y, pi), cce(yj, pj)]) as tf.Scalar;
    }, variables);
    const out: Record<string, Float32Array> = {};
    for (const [name, g] of Object.entries(grads)) out[name] = g.dataSync().slice() as Float32Array;
    return { loss: value.dataSync()[0], grads: out };
  });
}

export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`length ${a.length} != ${b.length}`);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

export function context(rng: Rng, drawn: Record<string, unknown> = {}): PluginContext {
  return {
    step: 0,
    epoch: 0,
    rng,
    logger: silentLogger,
    container: {} as PluginContext['container'],
    record: (k, v) => (drawn[k] = v),
  };
}

interface Box {
  y0: number;
  x0: number;
  y1: number;
  x1: number;
}

/**
 * The virtual batch of a CutMix (or mixup-cutmix) draw, written out on the host independently of
 * the packages under test: a cut sample i takes the pixels of its box from x[perm[i]] and its label
 * weight is 1 - area / (H W) computed here; any other sample is the mixup lam x_i + (1 - lam) x_j.
 */
export function cutmixVirtualByHand(x: tf.Tensor4D, y: tf.Tensor2D, drawn: { lam: number | number[]; cut: boolean | boolean[]; box: Box | Box[]; perm: number[] }): { xt: tf.Tensor4D; yt: tf.Tensor2D; lam: number[] } {
  const [n, h, w, c] = x.shape;
  const k = y.shape[1];
  const xs = x.dataSync();
  const ys = y.dataSync();
  const at = <T>(v: T | T[], i: number): T => (Array.isArray(v) ? v[i] : v);
  const per = h * w * c;
  const xt = new Float32Array(n * per);
  const yt = new Float32Array(n * k);
  const lams: number[] = [];
  for (let i = 0; i < n; i++) {
    const j = drawn.perm[i];
    const cut = at(drawn.cut, i);
    const b = at(drawn.box, i);
    const lam = cut ? 1 - ((b.y1 - b.y0) * (b.x1 - b.x0)) / (h * w) : at(drawn.lam, i);
    lams.push(lam);
    for (let r = 0; r < h; r++) {
      for (let col = 0; col < w; col++) {
        const inBox = r >= b.y0 && r < b.y1 && col >= b.x0 && col < b.x1;
        for (let ch = 0; ch < c; ch++) {
          const o = (r * w + col) * c + ch;
          xt[i * per + o] = cut ? (inBox ? xs[j * per + o] : xs[i * per + o]) : lam * xs[i * per + o] + (1 - lam) * xs[j * per + o];
        }
      }
    }
    for (let q = 0; q < k; q++) yt[i * k + q] = lam * ys[i * k + q] + (1 - lam) * ys[j * k + q];
  }
  return { xt: tf.tensor4d(xt, [n, h, w, c]), yt: tf.tensor2d(yt, [n, k]), lam: lams };
}

/** The paper's three-pass loss L = CCE(y~, p(x~)) + CCE(y_i, p(x_i)) + CCE(y_j, p(x_j)) for a given virtual batch. */
export function threePassLoss(model: tfl.LayersModel, x: tf.Tensor4D, y: tf.Tensor2D, xt: tf.Tensor4D, yt: tf.Tensor2D, perm: number[], training: boolean): { loss: number; grads: Record<string, Float32Array> } {
  return tf.tidy(() => {
    const permT = tf.tensor1d(perm, 'int32');
    const xj = tf.gather(x, permT);
    const yj = tf.gather(y, permT);
    const variables = model.trainableWeights.map((w) => w.read() as tf.Variable);
    const { value, grads } = tf.variableGrads(() => {
      const pt = model.apply(xt, { training }) as tf.Tensor;
      const pi = model.apply(x, { training }) as tf.Tensor;
      const pj = model.apply(xj, { training }) as tf.Tensor;
      return tf.addN([cce(yt, pt), cce(y, pi), cce(yj, pj)]) as tf.Scalar;
    }, variables);
    const out: Record<string, Float32Array> = {};
    for (const [name, g] of Object.entries(grads)) out[name] = g.dataSync().slice() as Float32Array;
    return { loss: value.dataSync()[0], grads: out };
  });
}
