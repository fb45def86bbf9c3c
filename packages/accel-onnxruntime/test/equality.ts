/**
 * Shared by the two test files (one per wasm build: the thread count is fixed per process): every
 * accelerated kernel against fermix's wasm kernels on the same inputs, within 1e-5 of the values'
 * magnitude.
 */
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { describe, expect, it } from 'vitest';
import { createTrainStep, initWasmBackend } from '@fermix/core';
import { accelerateWasm, acceleratorStats, restoreWasmKernels } from '../src/index.js';

function rand(n: number, seed: number): Float32Array {
  const out = new Float32Array(n);
  let s = (seed * 2654435761) >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = s / 2 ** 31 - 1;
  }
  return out;
}
const t4 = (shape: number[], seed: number) => tf.tensor4d(rand(shape.reduce((a, b) => a * b, 1), seed), shape as [number, number, number, number]);

type Pad = 'same' | 'valid' | number;
interface Case {
  x: number[];
  k: number;
  co: number;
  stride: number;
  pad: Pad;
  dilation?: number;
}

const CASES: Case[] = [
  { x: [4, 12, 12, 8], k: 3, co: 16, stride: 1, pad: 'same' },
  { x: [4, 11, 11, 8], k: 3, co: 16, stride: 2, pad: 'same' },
  { x: [4, 12, 12, 8], k: 3, co: 16, stride: 2, pad: 'same' },
  { x: [4, 12, 12, 8], k: 3, co: 8, stride: 1, pad: 'valid' },
  { x: [2, 13, 13, 4], k: 3, co: 8, stride: 2, pad: 'valid' },
  { x: [2, 10, 10, 8], k: 1, co: 32, stride: 1, pad: 'same' },
  { x: [2, 32, 32, 3], k: 7, co: 16, stride: 2, pad: 'same' },
  { x: [2, 12, 12, 6], k: 3, co: 6, stride: 1, pad: 1 },
  { x: [2, 12, 12, 6], k: 3, co: 6, stride: 1, pad: 'same', dilation: 2 },
  // The small CNN's widest layer at batch 32.
  { x: [32, 24, 24, 32], k: 3, co: 64, stride: 1, pad: 'same' },
];

const attrsOf = (c: Case) => ({ strides: [c.stride, c.stride], pad: c.pad, dataFormat: 'NHWC', dimRoundingMode: undefined });

/** Every kernel output of every case, read back. */
function outputs(): Record<string, Float32Array> {
  const engine = tf.engine();
  const out: Record<string, Float32Array> = {};
  CASES.forEach((c, i) => {
    tf.tidy(() => {
      const x = t4(c.x, 10 + i);
      const w = t4([c.k, c.k, c.x[3], c.co], 20 + i);
      const y = tf.conv2d(x, w, c.stride, c.pad, 'NHWC', c.dilation ?? 1);
      const label = `${c.x}/${c.k}x${c.k}/s${c.stride}/${c.pad}/d${c.dilation ?? 1}`;
      out[`Conv2D ${label}`] = y.dataSync() as Float32Array;
      const b = tf.tensor1d(rand(c.co, 30 + i));
      for (const activation of ['linear', 'relu', 'relu6', 'elu', 'leakyrelu', 'sigmoid'] as const) {
        out[`FusedConv2D ${activation} ${label}`] = tf.fused.conv2d({ x, filter: w, strides: c.stride, pad: c.pad, dilations: c.dilation ?? 1, bias: b, activation, leakyreluAlpha: 0.1 }).dataSync() as Float32Array;
      }
      if ((c.dilation ?? 1) === 1) {
        const dy = t4(y.shape, 40 + i);
        out[`Conv2DBackpropInput ${label}`] = (engine.runKernel('Conv2DBackpropInput', { dy, filter: w }, { ...attrsOf(c), inputShape: c.x } as never) as tf.Tensor).dataSync() as Float32Array;
        out[`Conv2DBackpropFilter ${label}`] = (engine.runKernel('Conv2DBackpropFilter', { x, dy }, { ...attrsOf(c), filterShape: w.shape } as never) as tf.Tensor).dataSync() as Float32Array;
      }
      // prelu is not covered: the previous kernel serves it.
      out[`FusedConv2D prelu ${label}`] = tf.fused.conv2d({ x, filter: w, strides: c.stride, pad: c.pad, dilations: c.dilation ?? 1, activation: 'prelu', preluActivationWeights: tf.fill([c.co], 0.2) }).dataSync() as Float32Array;
    });
  });
  return out;
}

function maxRelDiff(a: Float32Array, b: Float32Array): { diff: number; mag: number } {
  let diff = 0;
  let mag = 0;
  for (let i = 0; i < a.length; i++) {
    diff = Math.max(diff, Math.abs(a[i] - b[i]));
    mag = Math.max(mag, Math.abs(a[i]));
  }
  return { diff, mag };
}

/** Losses of a few training steps of a small conv net (bias, batch norm, pooling, strided conv). */
function trainLosses(): number[] {
  const input = tfl.input({ shape: [20, 20, 3] });
  let h = tfl.layers.conv2d({ filters: 8, kernelSize: 3, padding: 'same', kernelInitializer: tfl.initializers.glorotUniform({ seed: 1 }) }).apply(input) as tfl.SymbolicTensor;
  h = tfl.layers.batchNormalization({}).apply(h) as tfl.SymbolicTensor;
  h = tfl.layers.activation({ activation: 'relu' }).apply(h) as tfl.SymbolicTensor;
  h = tfl.layers.conv2d({ filters: 16, kernelSize: 3, strides: 2, padding: 'same', useBias: false, activation: 'relu', kernelInitializer: tfl.initializers.glorotUniform({ seed: 2 }) }).apply(h) as tfl.SymbolicTensor;
  h = tfl.layers.maxPooling2d({ poolSize: 2 }).apply(h) as tfl.SymbolicTensor;
  h = tfl.layers.globalAveragePooling2d({}).apply(h) as tfl.SymbolicTensor;
  const out = tfl.layers.dense({ units: 4, activation: 'softmax', kernelInitializer: tfl.initializers.glorotUniform({ seed: 3 }) }).apply(h) as tfl.SymbolicTensor;
  const model = tfl.model({ inputs: input, outputs: out });
  const optimizer = tf.train.adam(1e-2);
  const step = createTrainStep({ model, optimizer });
  const x = t4([8, 20, 20, 3], 5);
  const y = tf.cast(tf.oneHot(tf.tensor1d([0, 1, 2, 3, 0, 1, 2, 3], 'int32'), 4), 'float32') as tf.Tensor2D;
  const losses: number[] = [];
  for (let i = 0; i < 5; i++) losses.push(step({ x, y }).loss);
  tf.dispose([x, y]);
  optimizer.dispose();
  model.dispose();
  return losses;
}

export function describeEquality(threads: number): void {
  describe(`ONNX Runtime kernels on the wasm backend (${threads} thread${threads > 1 ? 's: shared heap, copies' : ': in place'})`, () => {
    it('every accelerated kernel equals the wasm kernels within 1e-5 of the magnitude; uncovered cases fall back', async () => {
      const info = await initWasmBackend({ threads });
      expect(info.threads).toBe(threads);
      const reference = outputs();
      const referenceLosses = trainLosses();
      const result = accelerateWasm();
      expect(result.kernels.sort()).toEqual(['Conv2D', 'Conv2DBackpropFilter', 'Conv2DBackpropInput', 'FusedConv2D']);
      expect(result.threads).toBe(threads);
      try {
        const before = tf.memory().numTensors;
        const accelerated = outputs();
        expect(tf.memory().numTensors).toBe(before);
        let worst = 0;
        for (const [name, ref] of Object.entries(reference)) {
          const { diff, mag } = maxRelDiff(ref, accelerated[name]);
          expect(accelerated[name].length, name).toBe(ref.length);
          expect(diff, `${name}: max |wasm - onnxruntime| ${diff} at magnitude ${mag}`).toBeLessThanOrEqual(1e-5 * Math.max(1, mag));
          worst = Math.max(worst, diff / Math.max(1, mag));
        }
        const stats = acceleratorStats();
        for (const k of ['Conv2D', 'FusedConv2D', 'Conv2DBackpropInput', 'Conv2DBackpropFilter']) expect(stats.calls[k], k).toBeGreaterThan(0);
        expect(Object.keys(stats.fallbacks)).toEqual(['FusedConv2D: prelu']);
        // A training step through the tape: the same losses up to float rounding.
        const losses = trainLosses();
        losses.forEach((l, i) => expect(Math.abs(l - referenceLosses[i]), `step ${i}`).toBeLessThan(1e-4 * Math.max(1, Math.abs(referenceLosses[i]))));
        expect(worst).toBeLessThanOrEqual(1e-5);
      } finally {
        restoreWasmKernels();
      }
    });
  });
}
