import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
// tfjs-layers' ESM entry also registers tfjs-core's gradients (the ESM core entry does not).
import * as tfl from '@tensorflow/tfjs-layers';
import { beforeAll, describe, expect, it } from 'vitest';

import { initWasmBackend } from '../src/backend/wasm.js';
import { registerWasmTrainingKernels } from '../src/backend/wasm-kernels.js';

type Backend = 'cpu' | 'wasm';
type Pad = 'same' | 'valid' | number | [[number, number], [number, number], [number, number], [number, number]];

/** Deterministic pseudo-random values in [-1, 1) (LCG), independent of any backend. */
function rand(n: number, seed: number): Float32Array {
  const out = new Float32Array(n);
  let s = (seed * 2654435761) >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = s / 2 ** 31 - 1;
  }
  return out;
}
const size = (shape: number[]) => shape.reduce((a, b) => a * b, 1);

/** Runs `fn` on a backend (inputs must be created inside `fn`) and returns copies of the outputs. */
async function onBackend(backend: Backend, fn: () => tf.Tensor | tf.Tensor[]): Promise<Float32Array[]> {
  await tf.setBackend(backend);
  const out = tf.tidy(fn);
  const list = Array.isArray(out) ? out : [out];
  const values = list.map((t) => Float32Array.from(t.dataSync() as Float32Array));
  tf.dispose(list);
  return values;
}

/** Max abs difference must stay below 1e-4 relative to the magnitude of the cpu values. */
function expectClose(cpu: Float32Array[], wasm: Float32Array[], label: string): void {
  expect(wasm.length, label).toBe(cpu.length);
  cpu.forEach((c, k) => {
    const w = wasm[k];
    expect(w.length, `${label} [output ${k}] length`).toBe(c.length);
    let maxDiff = 0;
    let mag = 0;
    for (let i = 0; i < c.length; i++) {
      maxDiff = Math.max(maxDiff, Math.abs(c[i] - w[i]));
      mag = Math.max(mag, Math.abs(c[i]));
    }
    expect(Number.isFinite(maxDiff), `${label} [output ${k}] finite`).toBe(true);
    expect(maxDiff, `${label} [output ${k}] max|cpu-wasm| (magnitude ${mag})`).toBeLessThan(1e-4 * Math.max(1, mag));
  });
}

async function expectSameOnBothBackends(label: string, fn: () => tf.Tensor | tf.Tensor[]): Promise<void> {
  const cpu = await onBackend('cpu', fn);
  const wasm = await onBackend('wasm', fn);
  expectClose(cpu, wasm, label);
}

function wasmDataIds(): number {
  return (tf.engine().backend as unknown as { numDataIds(): number }).numDataIds();
}

beforeAll(async () => {
  await initWasmBackend();
  expect(tf.getBackend()).toBe('wasm');
});

// Grid: every (kernel, stride, padding) combination; each test sweeps channels x batch x spatial size.
const KERNELS = [1, 3, 5, 7];
const STRIDES = [1, 2];
const PADS = ['same', 'valid'] as const;
const CHANNELS: Array<[number, number]> = [[1, 3], [3, 16], [16, 1]]; // [in, out]
const BATCHES = [1, 3];
const SPATIAL: Array<[number, number]> = [[7, 9], [13, 13]];
const GRID = KERNELS.flatMap((k) => STRIDES.flatMap((s) => PADS.map((p) => ({ k, s, p }))));

function conv2dGrads(xShape: number[], fShape: number[], stride: number, pad: Pad, seed: number): () => tf.Tensor[] {
  return () => {
    const x = tf.tensor4d(rand(size(xShape), seed), xShape as [number, number, number, number]);
    const f = tf.tensor4d(rand(size(fShape), seed + 1), fShape as [number, number, number, number]);
    const yShape = tf.conv2d(x, f, stride, pad).shape;
    const r = tf.tensor(rand(size(yShape), seed + 2), yShape);
    const g = tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.mul(tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, stride, pad), r)));
    return g([x, f]);
  };
}

function depthwiseGrads(xShape: number[], fShape: number[], stride: number, pad: Pad, seed: number): () => tf.Tensor[] {
  return () => {
    const x = tf.tensor4d(rand(size(xShape), seed), xShape as [number, number, number, number]);
    const f = tf.tensor4d(rand(size(fShape), seed + 1), fShape as [number, number, number, number]);
    const yShape = tf.depthwiseConv2d(x, f, stride, pad).shape;
    const r = tf.tensor(rand(size(yShape), seed + 2), yShape);
    const g = tf.grads((a: tf.Tensor, b: tf.Tensor) =>
      tf.sum(tf.mul(tf.depthwiseConv2d(a as tf.Tensor4D, b as tf.Tensor4D, stride, pad), r)));
    return g([x, f]);
  };
}

/** [k,k,c,o] -> [2k-1,2k-1,c,o] with zeros between taps: conv with it == conv with dilation 2. */
function dilate2(f: tf.Tensor4D): tf.Tensor4D {
  const [k, , c, o] = f.shape;
  const padded = tf.pad(tf.reshape(f, [k, 1, k, 1, c, o]), [[0, 0], [0, 1], [0, 0], [0, 1], [0, 0], [0, 0]]);
  return tf.slice(tf.reshape(padded, [2 * k, 2 * k, c, o]), 0, [2 * k - 1, 2 * k - 1, c, o]) as tf.Tensor4D;
}

/** Output shape of a stride-1, dilation-2 convolution with a k x k filter. */
function outShapeDilated(xShape: number[], k: number, p: 'same' | 'valid', channels: number): number[] {
  const eff = 2 * k - 1;
  const [n, h, w] = xShape;
  return [n, p === 'same' ? h : h - eff + 1, p === 'same' ? w : w - eff + 1, channels];
}

describe('registerWasmTrainingKernels', () => {
  it('registers the four missing kernels plus the MaxPoolGrad, Conv2DBackpropInput, GatherV2, Reverse, ClipByValue, Identity, Cast, Mean and FusedBatchNorm replacements once (idempotent)', () => {
    const names = [
      'Conv2DBackpropFilter', 'DepthwiseConv2dNativeBackpropFilter', 'DepthwiseConv2dNativeBackpropInput',
      'UnsortedSegmentSum', 'MaxPoolGrad', 'Conv2DBackpropInput', 'GatherV2', 'Reverse', 'ClipByValue', 'Identity', 'Cast', 'Mean', 'FusedBatchNorm',
    ];
    for (const n of names) expect(tf.getKernel(n, 'wasm'), n).toBeDefined();
    // Already registered by initWasmBackend().
    expect(registerWasmTrainingKernels()).toEqual([]);
    for (const n of names) tf.unregisterKernel(n, 'wasm');
    expect(registerWasmTrainingKernels().sort()).toEqual([...names].sort());
    expect(registerWasmTrainingKernels()).toEqual([]);
    for (const n of names) expect(tf.getKernel(n, 'wasm'), n).toBeDefined();
  });
});

describe('Conv2D gradients on wasm (Conv2DBackpropFilter, Conv2DBackpropInput)', () => {
  it.each(GRID)('conv2d x and filter gradients equal cpu for kernel $k, stride $s, padding $p', async ({ k, s, p }) => {
    let seed = k * 100 + s * 10 + (p === 'same' ? 1 : 2);
    for (const [ci, co] of CHANNELS) {
      for (const n of BATCHES) {
        for (const [h, w] of SPATIAL) {
          if (p === 'valid' && (h < k || w < k)) continue;
          seed += 7;
          await expectSameOnBothBackends(
            `conv2d k=${k} s=${s} ${p} x=[${n},${h},${w},${ci}] co=${co}`,
            conv2dGrads([n, h, w, ci], [k, k, ci, co], s, p, seed),
          );
        }
      }
    }
  });

  it('conv2d gradients equal cpu for wide layers (128 -> 64, 512 -> 8 and 130 -> 129 channels)', async () => {
    await expectSameOnBothBackends('conv2d 128->64', conv2dGrads([2, 6, 5, 128], [3, 3, 128, 64], 1, 'same', 300));
    await expectSameOnBothBackends('conv2d 512->8', conv2dGrads([1, 5, 5, 512], [3, 3, 512, 8], 2, 'valid', 310));
    // Filters of 128 x 128 and more are flipped and transposed in 32 x 32 tiles (sizes that are no multiple of 32 too).
    await expectSameOnBothBackends('conv2d 130->129 stride 1', conv2dGrads([1, 4, 5, 130], [3, 3, 130, 129], 1, 'same', 320));
    await expectSameOnBothBackends('conv2d 130->129 stride 2', conv2dGrads([1, 5, 4, 130], [3, 2, 130, 129], 2, 'same', 330));
  });

  it('conv2d gradients equal cpu for numeric and asymmetric explicit padding', async () => {
    const pads: Pad[] = [1, 2, [[0, 0], [1, 2], [2, 0], [0, 0]], [[0, 0], [0, 3], [1, 1], [0, 0]]];
    for (const [i, pad] of pads.entries()) {
      for (const s of STRIDES) {
        await expectSameOnBothBackends(
          `conv2d explicit pad ${JSON.stringify(pad)} s=${s}`,
          conv2dGrads([2, 9, 11, 3], [3, 3, 3, 5], s, pad, 900 + i * 10 + s),
        );
      }
    }
  });

  it('the input gradient of strided convolutions (one stride-1 convolution per residue class) equals cpu for strides 3 and (2, 1), kernels smaller than the stride, and 64+ channels', async () => {
    const cases: Array<{ x: number[]; f: number[]; s: number | [number, number]; p: Pad }> = [
      { x: [2, 10, 11, 3], f: [3, 3, 3, 4], s: 3, p: 'same' },
      { x: [2, 10, 11, 3], f: [5, 4, 3, 4], s: 3, p: 'valid' },
      { x: [1, 9, 8, 2], f: [3, 3, 2, 3], s: [2, 1], p: 'same' },
      { x: [1, 9, 8, 2], f: [2, 2, 2, 3], s: [1, 3], p: [[0, 0], [1, 0], [0, 2], [0, 0]] },
      { x: [2, 7, 7, 4], f: [1, 1, 4, 6], s: 3, p: 'valid' },
      { x: [2, 8, 8, 64], f: [3, 3, 64, 70], s: 2, p: 'same' },
    ];
    for (const [i, c] of cases.entries()) {
      await expectSameOnBothBackends(`conv2d x=[${c.x}] f=[${c.f}] s=${JSON.stringify(c.s)} ${JSON.stringify(c.p)}`, () => {
        const x = tf.tensor4d(rand(size(c.x), 950 + i), c.x as [number, number, number, number]);
        const f = tf.tensor4d(rand(size(c.f), 960 + i), c.f as [number, number, number, number]);
        const yShape = tf.conv2d(x, f, c.s, c.p).shape;
        const r = tf.tensor(rand(size(yShape), 970 + i), yShape);
        return tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.mul(tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, c.s, c.p), r)))([x, f]);
      });
    }
  });

  it('input and filter gradients of a dilation-2 conv equal cpu gradients through an explicitly zero-dilated filter', async () => {
    // tfjs-core's conv2d gradient rejects dilations > 1 (and the cpu backprop kernels ignore
    // dilations), so the reference is cpu autodiff of conv2d(x, dilate(f)) and the wasm side calls
    // the kernels directly with a `dilations` attr.
    for (const k of [3, 5]) {
      for (const p of PADS) {
        for (const [n, h, w, ci, co] of [[1, 13, 13, 3, 4], [3, 9, 11, 16, 1]]) {
          const xShape = [n, h, w, ci] as [number, number, number, number];
          const fShape = [k, k, ci, co] as [number, number, number, number];
          const xv = rand(size(xShape), k * 31 + h);
          const fv = rand(size(fShape), k * 37 + w);
          const dyShape = outShapeDilated(xShape, k, p, co);
          const dyv = rand(size(dyShape), k * 17 + w);
          const cpu = await onBackend('cpu', () => {
            const dy = tf.tensor(dyv, dyShape);
            const loss = (x: tf.Tensor, f: tf.Tensor) =>
              tf.sum(tf.mul(tf.conv2d(x as tf.Tensor4D, dilate2(f as tf.Tensor4D), 1, p), dy));
            return tf.grads(loss)([tf.tensor4d(xv, xShape), tf.tensor4d(fv, fShape)]);
          });
          const wasm = await onBackend('wasm', () => [
            tf.engine().runKernel('Conv2DBackpropInput',
              { dy: tf.tensor(dyv, dyShape), filter: tf.tensor(fv, fShape) },
              { strides: 1, pad: p, dataFormat: 'NHWC', inputShape: xShape, dilations: 2 }) as tf.Tensor,
            tf.engine().runKernel('Conv2DBackpropFilter',
              { x: tf.tensor(xv, xShape), dy: tf.tensor(dyv, dyShape) },
              { strides: 1, pad: p, dataFormat: 'NHWC', filterShape: fShape, dilations: 2 }) as tf.Tensor,
          ]);
          expectClose(cpu, wasm, `dilated conv input and filter grads k=${k} ${p} x=[${xShape}]`);
        }
      }
    }
  });

  it('conv2d gradients equal cpu for the layers of the backbones (small CNN, ResNet stem, 1x1 expansions)', async () => {
    // Cin < Cout at stride 1 packs x instead of dy (the "swapped" formulation); the others dy.
    const cases: Array<[number[], number[], number, Pad]> = [
      [[2, 12, 12, 3], [3, 3, 3, 32], 1, 'same'], // small CNN block1_conv1
      [[2, 12, 12, 32], [3, 3, 32, 32], 1, 'same'], // block1_conv2
      [[2, 6, 6, 32], [3, 3, 32, 64], 1, 'same'], // block2_conv1
      [[2, 3, 3, 64], [3, 3, 64, 128], 1, 'same'], // block3_conv1
      [[2, 8, 8, 64], [1, 1, 64, 256], 1, 'valid'], // ResNet50 bottleneck expansion
      [[2, 8, 8, 256], [1, 1, 256, 64], 1, 'valid'], // ResNet50 bottleneck reduction
      [[2, 15, 15, 3], [7, 7, 3, 64], 2, 'same'], // ResNet stem
      [[2, 8, 8, 64], [3, 3, 64, 128], 2, 'same'], // ResNet18 downsampling
      [[2, 8, 8, 64], [1, 1, 64, 128], 2, 'valid'], // ResNet shortcut projection
    ];
    for (const [i, [xShape, fShape, s, p]] of cases.entries()) {
      await expectSameOnBothBackends(`backbone conv x=[${xShape}] f=[${fShape}] s=${s} ${p}`, conv2dGrads(xShape, fShape, s, p, 400 + 10 * i));
    }
  });

  it('conv2d filter gradient equals cpu when the top/left padding exceeds the kernel (Cin < Cout, stride 1: falls back from packing x)', async () => {
    const pads: Pad[] = [[[0, 0], [3, 0], [0, 0], [0, 0]], [[0, 0], [0, 1], [4, 2], [0, 0]], 3];
    for (const [i, pad] of pads.entries()) {
      await expectSameOnBothBackends(`conv2d large pad ${JSON.stringify(pad)}`, conv2dGrads([2, 7, 8, 2], [3, 3, 2, 6], 1, pad, 950 + i));
    }
  });

  it('throws a clear error for NCHW data', async () => {
    await tf.setBackend('wasm');
    const x = tf.zeros([1, 3, 5, 5]);
    const dy = tf.zeros([1, 2, 5, 5]);
    expect(() => tf.engine().runKernel('Conv2DBackpropFilter', { x, dy },
      { strides: 1, pad: 'same', dataFormat: 'NCHW', filterShape: [3, 3, 3, 2] })).toThrow(/NHWC/);
    tf.dispose([x, dy]);
  });

  it('still serves NCHW Conv2DBackpropInput through the stock wasm kernel, equal to cpu', async () => {
    const dyShape = [2, 4, 5, 6]; // [N, Co, H, W]
    const fShape = [3, 3, 3, 4];
    const dyv = rand(size(dyShape), 81);
    const fv = rand(size(fShape), 82);
    await expectSameOnBothBackends('NCHW conv2DBackpropInput', () => tf.engine().runKernel('Conv2DBackpropInput',
      { dy: tf.tensor(dyv, dyShape), filter: tf.tensor(fv, fShape) },
      { strides: 1, pad: 'same', dataFormat: 'NCHW', inputShape: [2, 3, 5, 6] }) as tf.Tensor);
  });
});

describe('DepthwiseConv2dNative gradients on wasm', () => {
  it.each(GRID)('depthwise x and filter gradients equal cpu for kernel $k, stride $s, padding $p', async ({ k, s, p }) => {
    let seed = 5000 + k * 100 + s * 10 + (p === 'same' ? 1 : 2);
    for (const [ci, co] of CHANNELS) {
      const multiplier = co === 16 ? 2 : co; // channel multipliers 1, 2 and 3
      for (const n of BATCHES) {
        for (const [h, w] of SPATIAL) {
          if (p === 'valid' && (h < k || w < k)) continue;
          seed += 7;
          await expectSameOnBothBackends(
            `depthwise k=${k} s=${s} ${p} x=[${n},${h},${w},${ci}] multiplier=${multiplier}`,
            depthwiseGrads([n, h, w, ci], [k, k, ci, multiplier], s, p, seed),
          );
        }
      }
    }
  });

  it('depthwise gradients equal cpu for 512 channels', async () => {
    await expectSameOnBothBackends('depthwise 512', depthwiseGrads([2, 7, 7, 512], [3, 3, 512, 1], 1, 'same', 320));
    await expectSameOnBothBackends('depthwise 256x2', depthwiseGrads([3, 6, 6, 256], [5, 5, 256, 2], 2, 'same', 330));
  });

  it('depthwise gradients equal cpu for explicit padding', async () => {
    const pads: Pad[] = [1, [[0, 0], [2, 1], [0, 2], [0, 0]]];
    for (const [i, pad] of pads.entries()) {
      for (const s of STRIDES) {
        await expectSameOnBothBackends(
          `depthwise explicit pad ${JSON.stringify(pad)} s=${s}`,
          depthwiseGrads([2, 10, 9, 4], [3, 3, 4, 2], s, pad, 7000 + i * 10 + s),
        );
      }
    }
  });

  it('dilation-2 depthwise backprop kernels equal cpu gradients through an explicitly zero-dilated filter', async () => {
    for (const k of [3, 5]) {
      for (const p of PADS) {
        for (const [n, h, w, c, m] of [[1, 13, 13, 3, 1], [3, 9, 11, 16, 2]]) {
          const xShape = [n, h, w, c] as [number, number, number, number];
          const fShape = [k, k, c, m] as [number, number, number, number];
          const dyShape = outShapeDilated(xShape, k, p, c * m);
          const xv = rand(size(xShape), 40 + k);
          const fv = rand(size(fShape), 50 + k);
          const dyv = rand(size(dyShape), 60 + k);
          const cpu = await onBackend('cpu', () => {
            const dy = tf.tensor(dyv, dyShape);
            const loss = (x: tf.Tensor, f: tf.Tensor) =>
              tf.sum(tf.mul(tf.depthwiseConv2d(x as tf.Tensor4D, dilate2(f as tf.Tensor4D), 1, p), dy));
            return tf.grads(loss)([tf.tensor4d(xv, xShape), tf.tensor4d(fv, fShape)]);
          });
          const wasm = await onBackend('wasm', () => [
            tf.engine().runKernel('DepthwiseConv2dNativeBackpropInput',
              { dy: tf.tensor(dyv, dyShape), filter: tf.tensor(fv, fShape) },
              { strides: 1, dilations: 2, pad: p, inputShape: xShape }) as tf.Tensor,
            tf.engine().runKernel('DepthwiseConv2dNativeBackpropFilter',
              { x: tf.tensor(xv, xShape), dy: tf.tensor(dyv, dyShape) },
              { strides: 1, dilations: 2, pad: p, filterShape: fShape }) as tf.Tensor,
          ]);
          expectClose(cpu, wasm, `dilated depthwise k=${k} ${p} x=[${xShape}] m=${m}`);
        }
      }
    }
  });
});

describe('MaxPoolGrad on wasm', () => {
  const poolGrad = (xv: Float32Array, shape: number[], filter: number, stride: number, pad: 'same' | 'valid') =>
    () => {
      const x = tf.tensor4d(xv, shape as [number, number, number, number]);
      const yShape = tf.maxPool(x, filter, stride, pad).shape;
      const r = tf.tensor(rand(size(yShape), 77), yShape);
      return tf.grad((a: tf.Tensor) => tf.sum(tf.mul(tf.maxPool(a as tf.Tensor4D, filter, stride, pad), r)))(x);
    };

  it('routes the gradient of windows whose values are all negative to their maximum, like cpu', async () => {
    const shape = [2, 6, 7, 3];
    const xv = rand(size(shape), 3).map((v) => -1.5 - Math.abs(v));
    const cpu = await onBackend('cpu', poolGrad(xv, shape, 2, 2, 'valid'));
    const wasm = await onBackend('wasm', poolGrad(xv, shape, 2, 2, 'valid'));
    expectClose(cpu, wasm, 'all-negative windows');
    // Every one of the 2*3*3*3 windows passes its gradient on (none is dropped).
    expect(wasm[0].filter((v) => v !== 0).length).toBe(2 * 3 * 3 * 3);
  });

  it('gives tied windows (e.g. all zeros after relu) the gradient at the first maximum, like cpu', async () => {
    const shape = [1, 8, 8, 4];
    const xv = rand(size(shape), 4).map((v, i) => (i % 3 === 0 ? 0.5 : v < 0.3 ? 0 : v));
    for (const [f, s] of [[2, 2], [3, 2], [3, 1]]) {
      for (const p of PADS) {
        await expectSameOnBothBackends(`ties f=${f} s=${s} ${p}`, poolGrad(xv, shape, f, s, p));
      }
    }
    const zeros = new Float32Array(size(shape));
    await expectSameOnBothBackends('all-zero input', poolGrad(zeros, shape, 2, 2, 'valid'));
  });

  it('max-pool gradients equal cpu for pool 2/3, stride 1/2, same/valid on random input', async () => {
    for (const [f, s] of [[2, 2], [3, 2], [3, 1], [2, 1]]) {
      for (const p of PADS) {
        for (const shape of [[3, 7, 9, 16], [1, 13, 13, 1]]) {
          await expectSameOnBothBackends(`maxpool f=${f} s=${s} ${p} [${shape}]`,
            poolGrad(rand(size(shape), f * 10 + s), shape, f, s, p));
        }
      }
    }
  });
});

describe('FusedBatchNorm on wasm (replacement)', () => {
  it('normalises per channel of the last axis like cpu, with and without scale and offset, in 2, 3 and 4 dimensions', async () => {
    for (const shape of [[4, 5, 6, 8], [7, 16], [3, 5, 32]]) {
      const c = shape[shape.length - 1];
      const xv = rand(size(shape), 5).map((v) => 3 * v + 2);
      const stats = (seed: number, lo: number) => tf.tensor1d(rand(c, seed).map((v) => lo + Math.abs(v)));
      for (const withAffine of [true, false]) {
        await expectSameOnBothBackends(`batchNorm [${shape}] affine=${withAffine}`, () => {
          const x = tf.tensor(xv, shape);
          const mean = stats(11, 1);
          const variance = stats(12, 0.5);
          return withAffine ? tf.batchNorm(x, mean, variance, stats(13, -0.5), stats(14, 0.5), 1e-3) : tf.batchNorm(x, mean, variance, undefined, undefined, 1e-3);
        });
      }
    }
  });

  it('hands parameters that are not one per channel (broadcast over other axes) to the stock kernel', async () => {
    const shape = [2, 3, 4, 5];
    await expectSameOnBothBackends('batchNorm with [3, 1, 1]-shaped statistics', () => {
      const x = tf.tensor(rand(size(shape), 8), shape);
      const p = (seed: number) => tf.tensor3d(rand(3, seed).map((v) => 1 + Math.abs(v)), [3, 1, 1]);
      return tf.batchNorm(x, p(1), p(2), p(3), p(4), 1e-3);
    });
  });

  it('trains a batch-norm layer to the same weights as cpu, and leaves no tensor behind', async () => {
    const run = () => {
      const layer = tfl.layers.batchNormalization({ axis: -1 });
      const x = tf.tensor4d(rand(2 * 4 * 4 * 6, 21).map((v) => 2 * v + 1), [2, 4, 4, 6]);
      layer.apply(x, { training: true });
      const before = tf.memory().numTensors;
      const g = tf.grads((a: tf.Tensor) => tf.sum(tf.square(layer.apply(a, { training: true }) as tf.Tensor)))([x]);
      expect(tf.memory().numTensors - before).toBe(1);
      return [layer.apply(x, { training: true }) as tf.Tensor, g[0]];
    };
    await expectSameOnBothBackends('batch-norm layer forward and input gradient', run);
  });
});

describe('GatherV2, Identity and Cast on wasm (replacements)', () => {
  it('gathers along every axis equal to cpu, with repeated indices and int32 / bool tensors', async () => {
    const xv = rand(5 * 4 * 3 * 2, 31);
    for (const axis of [0, 1, 2, 3]) {
      await expectSameOnBothBackends(`gather axis ${axis}`, () => {
        const x = tf.tensor4d(xv, [5, 4, 3, 2]);
        const idx = tf.tensor1d([1, 0, 1, 1].map((i) => i % x.shape[axis]), 'int32');
        return [tf.gather(x, idx, axis), tf.gather(x, tf.tensor2d([[0, 1], [1, 0]], [2, 2], 'int32'), axis)];
      });
    }
    await expectSameOnBothBackends('gather int32 and bool', () => [
      tf.cast(tf.gather(tf.tensor2d([1, 2, 3, 4, 5, 6], [3, 2], 'int32'), tf.tensor1d([2, 0, 2], 'int32')), 'float32'),
      tf.cast(tf.gather(tf.tensor1d([1, 0, 1], 'bool'), tf.tensor1d([1, 2, 0, 1], 'int32')), 'float32'),
    ]);
    // A batch permutation, as mixup draws it.
    await expectSameOnBothBackends('gather batch permutation', () =>
      tf.gather(tf.tensor4d(rand(6 * 5 * 5 * 3, 32), [6, 5, 5, 3]), tf.tensor1d([3, 5, 0, 1, 4, 2], 'int32')));
  });

  it('rejects out-of-range indices like the stock kernel', async () => {
    await tf.setBackend('wasm');
    const x = tf.tensor2d([1, 2, 3, 4], [2, 2]);
    const idx = tf.tensor1d([0, 2], 'int32');
    expect(() => tf.gather(x, idx)).toThrow(/not in \[0, 1\]/);
    tf.dispose([x, idx]);
  });

  it('clone and same-dtype cast share the buffer yet stay valid after the source is disposed; float32 <-> int32 and bool -> float32 casts still convert like cpu', async () => {
    await tf.setBackend('wasm');
    const before = wasmDataIds();
    const x = tf.tensor1d([1.5, -2.7, 3.2]);
    const c = tf.clone(x);
    const k = tf.cast(x, 'float32');
    expect(wasmDataIds()).toBe(before + 1); // one buffer, three tensors
    x.dispose();
    expect(Array.from(c.dataSync())).toEqual(Array.from(new Float32Array([1.5, -2.7, 3.2])));
    c.dispose();
    expect(Array.from(k.dataSync())).toEqual(Array.from(new Float32Array([1.5, -2.7, 3.2])));
    k.dispose();
    expect(wasmDataIds()).toBe(before);
    // Other dtypes go to the stock kernel (whose casts to bool wrap instead of testing != 0: not ours to change).
    await expectSameOnBothBackends('casts between dtypes', () => {
      const f = tf.tensor1d([1.5, -2.7, 0, 3.9]);
      return [tf.cast(tf.cast(f, 'int32'), 'float32'), tf.cast(tf.tensor1d([1, 0, 1], 'bool'), 'float32')];
    });
  });

  it('a variable created from a clone keeps its value when the clone is disposed and when it is assigned', async () => {
    await tf.setBackend('wasm');
    const x = tf.tensor1d([1, 2, 3]);
    const v = tf.variable(tf.clone(x));
    x.dispose();
    expect(Array.from(v.dataSync())).toEqual([1, 2, 3]);
    const next = tf.tensor1d([4, 5, 6]);
    v.assign(next);
    next.dispose();
    expect(Array.from(v.dataSync())).toEqual([4, 5, 6]);
    v.dispose();
  });
});

describe('Reverse on wasm (replacement)', () => {
  it('reverses any set of axes equal to cpu, for float32, int32 and bool, short and long runs', async () => {
    const shapes: number[][] = [[7], [3, 5], [3, 3, 4, 70], [2, 3, 1, 5], [4, 2, 3, 2, 3]];
    for (const shape of shapes) {
      const n = size(shape);
      const axesSets = [[0], [shape.length - 1], shape.map((_, a) => a), shape.length > 2 ? [0, 1] : [0], shape.length > 2 ? [1, shape.length - 1] : [-1]];
      for (const dims of axesSets) {
        await expectSameOnBothBackends(`reverse [${shape}] on [${dims}]`, () => {
          const x = tf.tensor(rand(n, n + dims.length), shape);
          return [
            tf.reverse(x, dims),
            tf.cast(tf.reverse(tf.cast(tf.mul(x, 1000), 'int32'), dims), 'float32'),
            tf.cast(tf.reverse(tf.greater(x, 0), dims), 'float32'),
          ];
        });
      }
    }
  });

  it('reversing only axes of size 1 (or a scalar) shares the input buffer and stays valid after the input is disposed', async () => {
    await tf.setBackend('wasm');
    const x = tf.tensor3d([1, 2, 3], [1, 3, 1]);
    const before = wasmDataIds();
    const r = tf.reverse(x, [0, 2]);
    expect(wasmDataIds()).toBe(before);
    x.dispose();
    expect(Array.from(r.dataSync())).toEqual([1, 2, 3]);
    r.dispose();
    const s = tf.scalar(4);
    const rs = tf.reverse(s);
    expect(rs.dataSync()[0]).toBe(4);
    tf.dispose([s, rs]);
  });
});

describe('ClipByValue on wasm (replacement for int32)', () => {
  it('clips int32 tensors at both bounds like cpu (the stock kernel left values above the maximum), and float32 still like cpu', async () => {
    await expectSameOnBothBackends('clip int32 and float32', () => [
      tf.cast(tf.clipByValue(tf.tensor2d([-5, 0, 3, 9, 10, 100, -2147483648, 2147483647], [2, 4], 'int32'), 0, 10), 'float32'),
      tf.cast(tf.clipByValue(tf.tensor1d([-7, -3, 4], 'int32'), -4, -1), 'float32'),
      tf.clipByValue(tf.tensor1d([-1.5, 0.25, 2.75, 9]), -1, 2.5),
    ]);
  });
});

describe('Mean on wasm (replacement)', () => {
  it('the mean over every axis but the last (batch norm, global pooling) equals cpu, with and without keepDims', async () => {
    for (const shape of [[32, 12, 12, 16], [4, 5, 3], [7, 9], [1, 1, 1, 8], [2, 3, 1]]) {
      for (const keepDims of [false, true]) {
        const axes = shape.slice(0, -1).map((_, i) => i);
        await expectSameOnBothBackends(`mean ${shape} keepDims ${keepDims}`, () => tf.mean(tf.tensor(rand(size(shape), 3), shape), axes, keepDims));
        // The same axes given out of order, or as negative numbers.
        await expectSameOnBothBackends(`mean ${shape} reversed axes`, () => tf.mean(tf.tensor(rand(size(shape), 4), shape), [...axes].reverse().map((a) => a - shape.length), keepDims));
      }
    }
  });

  it('other axes, whole-tensor means and int32 tensors go to the stock kernel, equal to cpu', async () => {
    await expectSameOnBothBackends('mean over the last axis', () => tf.mean(tf.tensor(rand(60, 5), [3, 4, 5]), -1));
    await expectSameOnBothBackends('mean over axes 1, 2', () => tf.mean(tf.tensor(rand(60, 6), [3, 4, 5]), [1, 2], true));
    await expectSameOnBothBackends('mean of everything', () => tf.mean(tf.tensor(rand(60, 7), [3, 4, 5])));
    await expectSameOnBothBackends('int32 mean', () => tf.cast(tf.mean(tf.tensor([[1, 2], [3, 5], [7, 9]], [3, 2], 'int32'), 0), 'float32'));
  });
});

describe('UnsortedSegmentSum on wasm', () => {
  it('sums rows per segment and drops out-of-range segment ids, like cpu', async () => {
    const xv = rand(8 * 3 * 2, 11);
    await expectSameOnBothBackends('unsortedSegmentSum', () => [
      tf.unsortedSegmentSum(tf.tensor3d(xv, [8, 3, 2]), tf.tensor1d([0, 2, 2, 4, 0, 1, 4, 4], 'int32'), 5),
      tf.unsortedSegmentSum(tf.tensor2d(xv, [8, 6]), tf.tensor1d([3, -1, 0, 7, 3, 2, 9, 0], 'int32'), 4),
      tf.unsortedSegmentSum(tf.tensor1d(xv.slice(0, 8)), tf.tensor1d([1, 1, 1, 0, 0, 5, 5, 2], 'int32'), 6),
    ]);
  });

  it('makes the gather gradient (which uses UnsortedSegmentSum) equal cpu', async () => {
    const xv = rand(10 * 4 * 3, 12);
    const idx = [1, 3, 3, 9, 0, 1, 7, 7, 7];
    for (const axis of [0, 1, 2]) {
      await expectSameOnBothBackends(`gather grad axis ${axis}`, () => {
        const x = tf.tensor3d(xv, [10, 4, 3]);
        const indices = tf.tensor1d(idx.map((i) => i % x.shape[axis]), 'int32');
        const yShape = tf.gather(x, indices, axis).shape;
        const r = tf.tensor(rand(size(yShape), 13 + axis), yShape);
        return tf.grad((a: tf.Tensor) => tf.sum(tf.mul(tf.gather(a, indices, axis), r)))(x);
      });
    }
  });
});

describe('training a tiny conv net on wasm', () => {
  function buildNet(): tfl.Sequential {
    const model = tfl.sequential();
    model.add(tfl.layers.conv2d({ inputShape: [11, 11, 3], filters: 8, kernelSize: 3, padding: 'same' }));
    model.add(tfl.layers.batchNormalization());
    model.add(tfl.layers.reLU());
    model.add(tfl.layers.maxPooling2d({ poolSize: 2, strides: 2, padding: 'same' }));
    model.add(tfl.layers.depthwiseConv2d({ kernelSize: 3, depthMultiplier: 2, padding: 'same' }));
    model.add(tfl.layers.separableConv2d({ filters: 12, kernelSize: 3, strides: 2, padding: 'valid', activation: 'relu' }));
    model.add(tfl.layers.globalAveragePooling2d({}));
    model.add(tfl.layers.dense({ units: 4, activation: 'softmax' }));
    return model;
  }

  it('computes every variable gradient equal to cpu from the same initial weights', async () => {
    const batch = 4;
    const xv = rand(batch * 11 * 11 * 3, 21);
    const labels = [0, 3, 1, 2];

    await tf.setBackend('cpu');
    const cpuModel = buildNet();
    const initial = cpuModel.getWeights().map((w) => ({ shape: w.shape, values: Float32Array.from(w.dataSync()) }));

    const gradsOn = async (backend: Backend, model: tfl.Sequential) => {
      await tf.setBackend(backend);
      const { value, grads } = tf.tidy(() => {
        const x = tf.tensor4d(xv, [batch, 11, 11, 3]);
        const y = tf.oneHot(tf.tensor1d(labels, 'int32'), 4);
        return tf.variableGrads(() => {
          const p = model.apply(x, { training: true }) as tf.Tensor;
          return tf.mean(tfl.metrics.categoricalCrossentropy(y, p)) as tf.Scalar;
        });
      });
      const out = [Float32Array.from(value.dataSync())];
      for (const w of model.trainableWeights) {
        expect(grads[w.name], w.name).toBeDefined();
        out.push(Float32Array.from(grads[w.name].dataSync()));
      }
      tf.dispose([value, ...Object.values(grads)]);
      return out;
    };

    const cpu = await gradsOn('cpu', cpuModel);
    await tf.setBackend('wasm');
    const wasmModel = buildNet();
    wasmModel.setWeights(initial.map((w) => tf.tensor(w.values, w.shape)));
    const wasm = await gradsOn('wasm', wasmModel);

    expect(wasm.length).toBe(1 + wasmModel.trainableWeights.length);
    // conv (2) + batchNorm (2) + depthwise (2) + separable (3) + dense (2)
    expect(wasmModel.trainableWeights.length).toBe(11);
    expectClose(cpu, wasm, 'tiny net loss and variable gradients');
    // Non-zero gradients everywhere: nothing silently dropped.
    for (const g of wasm.slice(1)) expect(g.some((v) => v !== 0)).toBe(true);
    cpuModel.dispose();
    wasmModel.dispose();
  });
});

describe('memory', () => {
  it('leaves tf.memory().numTensors and the wasm heap tensor count unchanged after gradients are disposed', async () => {
    await tf.setBackend('wasm');
    const x = tf.tensor4d(rand(2 * 9 * 9 * 4, 1), [2, 9, 9, 4]);
    const f = tf.tensor4d(rand(3 * 3 * 4 * 6, 2), [3, 3, 4, 6]);
    const fd = tf.tensor4d(rand(3 * 3 * 4 * 2, 3), [3, 3, 4, 2]);
    const v = tf.tensor2d(rand(10 * 5, 4), [10, 5]);
    const idx = tf.tensor1d([1, 1, 4, 9, 0], 'int32');
    const ids = tf.tensor1d([0, 5, -1, 2, 2, 1, 0, 0, 3, 3], 'int32');
    const run = () => {
      const grads = [
        ...tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, 2, 'same')))([x, f]),
        ...tf.grads((a: tf.Tensor, b: tf.Tensor) =>
          tf.sum(tf.depthwiseConv2d(a as tf.Tensor4D, b as tf.Tensor4D, 2, 'valid')))([x, fd]),
        tf.grad((a: tf.Tensor) => tf.sum(tf.maxPool(a as tf.Tensor4D, 3, 2, 'same')))(x),
        tf.grad((a: tf.Tensor) => tf.sum(tf.gather(a, idx)))(v),
        tf.unsortedSegmentSum(v, ids, 4),
      ];
      grads.forEach((g) => g.dataSync());
      tf.dispose(grads);
    };
    run(); // warm-up
    const tensorsBefore = tf.memory().numTensors;
    const dataIdsBefore = wasmDataIds();
    for (let i = 0; i < 3; i++) run();
    expect(tf.memory().numTensors).toBe(tensorsBefore);
    expect(wasmDataIds()).toBe(dataIdsBefore);
    tf.dispose([x, f, fd, v, idx, ids]);
  });
});
