/**
 * The convolutions of a training step (Conv2D, FusedConv2D, Conv2DBackpropInput,
 * Conv2DBackpropFilter) as tfjs-backend-wasm kernels that run on ONNX Runtime's native CPU kernels
 * (MLAS: AVX2 / AVX-512 FMA where the CPU has them, on ORT's own thread pool), each through a tiny
 * ONNX graph built for its shapes and cached:
 *
 *   Conv2D / FusedConv2D:   Transpose(x -> NCHW), Transpose(filter -> OIHW), Conv (+ bias),
 *                           activation, Transpose(-> NHWC)
 *   Conv2DBackpropInput:    ConvTranspose of dy with the same OIHW filter, output_padding chosen so
 *                           the result has the input's size
 *   Conv2DBackpropFilter:   a Conv with the roles swapped: x^T [Ci, N, H, W] (batch Ci, channels N)
 *                           with dy^T [Co, N, OH, OW] as the filter (kernel OH x OW, dilation =
 *                           the stride) -> [Ci, Co, KH, KW] -> [KH, KW, Ci, Co]
 *
 * ORT reads and writes plain (non-shared) buffers only. On the single-thread wasm build the heap is
 * one, and ORT reads the inputs and writes the output in place; on the threaded build (a
 * SharedArrayBuffer heap) inputs and output go through scratch buffers: one copy each way.
 * Anything these graphs do not cover (NCHW, another activation, a padding ONNX cannot express)
 * runs the kernel that was registered before.
 */
import { createRequire } from 'node:module';
import { backend_util, getKernel, registerKernel, unregisterKernel } from '@tensorflow/tfjs-core';
import type { DataType, KernelConfig, KernelFunc, NamedAttrMap, TensorInfo } from '@tensorflow/tfjs-core';
import { onnxModel, type OnnxNode } from './onnx.js';

const BACKEND = 'wasm';
const nodeRequire = createRequire(import.meta.url);

/** The parts of tfjs-backend-wasm's BackendWasm used here. */
interface WasmBackendLike {
  makeOutput(shape: number[], dtype: DataType): TensorInfo;
  typedArrayFromHeap(info: TensorInfo): Float32Array | Int32Array | Uint8Array;
}

interface OrtTensorCtor {
  new (type: 'float32', data: Float32Array, dims: number[]): unknown;
}

interface NativeSession {
  loadModel(buffer: ArrayBufferLike, byteOffset: number, byteLength: number, options: Record<string, unknown>): void;
  run(feeds: Record<string, unknown>, fetches: Record<string, unknown>, options: Record<string, unknown>): Record<string, unknown>;
  dispose?(): void;
}

interface Ort {
  Tensor: OrtTensorCtor;
  newSession(): NativeSession;
  version: string;
}

let ort: Ort | null = null;

/**
 * onnxruntime-node's native binding, used directly: its `InferenceSession.run` is synchronous
 * underneath (the public API only wraps it in a Promise), and tfjs kernels must return synchronously.
 */
export function loadOrt(): Ort {
  if (ort) return ort;
  const bindingModule = nodeRequire('onnxruntime-node/dist/binding.js') as {
    binding: { InferenceSession: new () => NativeSession };
    initOrt: () => void;
  };
  const common = nodeRequire('onnxruntime-common') as { Tensor: OrtTensorCtor };
  const version = (nodeRequire('onnxruntime-node/package.json') as { version: string }).version;
  bindingModule.initOrt();
  ort = { Tensor: common.Tensor, newSession: () => new bindingModule.binding.InferenceSession(), version };
  return ort;
}

export interface AcceleratorStats {
  /** Kernel calls served by ONNX Runtime, by kernel name. */
  calls: Record<string, number>;
  /** Calls that went to the previous kernel, by kernel name and reason. */
  fallbacks: Record<string, number>;
  /** Sessions built (one per distinct shape and attributes). */
  sessions: number;
}

const stats: AcceleratorStats = { calls: {}, fallbacks: {}, sessions: 0 };

export function acceleratorStats(): AcceleratorStats {
  return { calls: { ...stats.calls }, fallbacks: { ...stats.fallbacks }, sessions: stats.sessions };
}

let threads = 1;
const MAX_SESSIONS = 96;
const sessions = new Map<string, NativeSession>();

function session(key: string, build: () => Uint8Array): NativeSession {
  const hit = sessions.get(key);
  if (hit) {
    // Most recently used last.
    sessions.delete(key);
    sessions.set(key, hit);
    return hit;
  }
  const model = build();
  const s = loadOrt().newSession();
  s.loadModel(model.buffer, model.byteOffset, model.byteLength, {
    intraOpNumThreads: threads,
    interOpNumThreads: 1,
    executionMode: 'sequential',
    graphOptimizationLevel: 'all',
    // Threads that spin after a run would take the cores from the wasm kernels that come next.
    extra: { session: { intra_op: { allow_spinning: '0' } } },
  });
  stats.sessions++;
  sessions.set(key, s);
  if (sessions.size > MAX_SESSIONS) {
    const [oldestKey, oldest] = sessions.entries().next().value as [string, NativeSession];
    sessions.delete(oldestKey);
    oldest.dispose?.();
  }
  return s;
}

/** Scratch buffers for the threaded build's shared heap, reused across calls. */
const scratch: Float32Array[] = [];
function scratchBuffer(slot: number, length: number): Float32Array {
  if (!scratch[slot] || scratch[slot].length < length) scratch[slot] = new Float32Array(Math.ceil(length * 1.25));
  return scratch[slot].subarray(0, length);
}

/**
 * Runs a cached graph on wasm tensors: allocates the output on the wasm heap first (that may grow
 * the heap, so every view is taken after), feeds the inputs and writes the output in place.
 */
function runGraph(backend: unknown, key: string, build: () => Uint8Array, inputs: [string, TensorInfo][], output: [string, number[]]): TensorInfo {
  const b = backend as WasmBackendLike;
  const s = session(key, build);
  const { Tensor } = loadOrt();
  const out = b.makeOutput(output[1], 'float32');
  const outView = b.typedArrayFromHeap(out) as Float32Array;
  const shared = outView.buffer instanceof SharedArrayBuffer;
  const feeds: Record<string, unknown> = {};
  inputs.forEach(([name, info], i) => {
    const view = b.typedArrayFromHeap(info) as Float32Array;
    const data = shared ? scratchBuffer(i, view.length) : view;
    if (shared) data.set(view);
    feeds[name] = new Tensor('float32', data, info.shape);
  });
  const target = shared ? scratchBuffer(inputs.length, outView.length) : outView;
  s.run(feeds, { [output[0]]: new Tensor('float32', target, output[1]) }, {});
  if (shared) outView.set(target);
  return out;
}

function count(table: Record<string, number>, key: string): void {
  table[key] = (table[key] ?? 0) + 1;
}

const previous = new Map<string, KernelConfig>();

function fallback(kernelName: string, reason: string, args: Parameters<KernelFunc>[0]): ReturnType<KernelFunc> {
  count(stats.fallbacks, `${kernelName}: ${reason}`);
  const k = previous.get(kernelName);
  if (!k) throw new Error(`${kernelName} on wasm: ${reason}, and no kernel to fall back to`);
  return k.kernelFunc(args);
}

const NCHW = [0, 3, 1, 2];
const NHWC = [0, 2, 3, 1];
const OIHW = [3, 2, 0, 1];

type ConvAttrs = {
  strides: number | [number, number];
  pad: 'valid' | 'same' | number | backend_util.ExplicitPadding;
  dataFormat: 'NHWC' | 'NCHW';
  dilations?: number | [number, number];
  dimRoundingMode?: 'floor' | 'round' | 'ceil';
};

function convInfo(xShape: number[], filterShape: number[], a: ConvAttrs): backend_util.Conv2DInfo {
  return backend_util.computeConv2DInfo(
    xShape as [number, number, number, number],
    filterShape as [number, number, number, number],
    a.strides,
    a.dilations ?? 1,
    a.pad,
    a.dimRoundingMode,
    false,
    'channelsLast',
  );
}

const ints = (name: string, values: number[]) => ({ name, ints: values });

/** Activation nodes after the convolution (NCHW), or null when the activation is not covered. */
function activationNodes(activation: string | undefined, alpha: number | undefined, input: string, output: string): OnnxNode[] | null {
  switch (activation ?? 'linear') {
    case 'linear':
      return [{ op: 'Identity', inputs: [input], outputs: [output] }];
    case 'relu':
      return [{ op: 'Relu', inputs: [input], outputs: [output] }];
    case 'sigmoid':
      return [{ op: 'Sigmoid', inputs: [input], outputs: [output] }];
    case 'elu':
      return [{ op: 'Elu', inputs: [input], outputs: [output], attrs: [{ name: 'alpha', float: 1 }] }];
    case 'leakyrelu':
      return [{ op: 'LeakyRelu', inputs: [input], outputs: [output], attrs: [{ name: 'alpha', float: alpha ?? 0.2 }] }];
    case 'relu6':
      return [
        { op: 'Relu', inputs: [input], outputs: [`${input}_relu`] },
        { op: 'Constant', inputs: [], outputs: ['six'], attrs: [{ name: 'value_float', float: 6 }] },
        { op: 'Min', inputs: [`${input}_relu`, 'six'], outputs: [output] },
      ];
    default:
      return null;
  }
}

function convForward(kernelName: string): KernelFunc {
  return (args) => {
    const { x, filter, bias, preluActivationWeights } = args.inputs as Record<string, TensorInfo | undefined>;
    const a = args.attrs as unknown as ConvAttrs & { activation?: string; leakyreluAlpha?: number };
    if (a.dataFormat === 'NCHW') return fallback(kernelName, 'NCHW', args);
    if (x!.dtype !== 'float32' || filter!.dtype !== 'float32') return fallback(kernelName, 'not float32', args);
    if (preluActivationWeights) return fallback(kernelName, 'prelu', args);
    const act = activationNodes(a.activation, a.leakyreluAlpha, 'yc', 'ya');
    if (!act) return fallback(kernelName, `activation ${a.activation}`, args);
    if (bias && bias.shape.length > 1 && bias.shape.slice(0, -1).some((d) => d !== 1)) return fallback(kernelName, 'bias shape', args);
    const info = convInfo(x!.shape, filter!.shape, a);
    const co = filter!.shape[3];
    const outShape = [info.batchSize, info.outHeight, info.outWidth, co];
    const p = info.padInfo;
    const inputs: [string, TensorInfo][] = [['x', x!], ['w', filter!]];
    const biasIn = bias ? 'b' : null;
    if (bias) inputs.push(['b', { ...bias, shape: [co] }]);
    const key = JSON.stringify(['conv', x!.shape, filter!.shape, info.strideHeight, info.strideWidth, info.dilationHeight, info.dilationWidth, p, Boolean(bias), a.activation ?? 'linear', a.leakyreluAlpha]);
    count(stats.calls, kernelName);
    return runGraph(
      args.backend,
      key,
      () =>
        onnxModel({
          nodes: [
            { op: 'Transpose', inputs: ['x'], outputs: ['xc'], attrs: [ints('perm', NCHW)] },
            { op: 'Transpose', inputs: ['w'], outputs: ['wc'], attrs: [ints('perm', OIHW)] },
            {
              op: 'Conv',
              inputs: biasIn ? ['xc', 'wc', biasIn] : ['xc', 'wc'],
              outputs: ['yc'],
              attrs: [
                ints('kernel_shape', [info.filterHeight, info.filterWidth]),
                ints('strides', [info.strideHeight, info.strideWidth]),
                ints('dilations', [info.dilationHeight, info.dilationWidth]),
                ints('pads', [p.top, p.left, p.bottom, p.right]),
              ],
            },
            ...act,
            { op: 'Transpose', inputs: ['ya'], outputs: ['y'], attrs: [ints('perm', NHWC)] },
          ],
          inputs: inputs.map(([name, t]) => [name, t.shape]),
          outputs: [['y', outShape]],
        }),
      inputs,
      ['y', outShape],
    );
  };
}

const conv2DBackpropInput: KernelFunc = (args) => {
  const { dy, filter } = args.inputs as { dy: TensorInfo; filter: TensorInfo };
  const a = args.attrs as unknown as ConvAttrs & { inputShape: number[] };
  if (a.dataFormat === 'NCHW') return fallback('Conv2DBackpropInput', 'NCHW', args);
  const info = convInfo(a.inputShape, filter.shape, a);
  const p = info.padInfo;
  // ConvTranspose's size before output_padding; the rest of the input rows get output_padding.
  const baseH = info.strideHeight * (info.outHeight - 1) + info.filterHeight - p.top - p.bottom;
  const baseW = info.strideWidth * (info.outWidth - 1) + info.filterWidth - p.left - p.right;
  const opH = info.inHeight - baseH;
  const opW = info.inWidth - baseW;
  if (opH < 0 || opW < 0 || opH >= Math.max(1, info.strideHeight) || opW >= Math.max(1, info.strideWidth)) {
    return fallback('Conv2DBackpropInput', 'padding', args);
  }
  const key = JSON.stringify(['dx', dy.shape, filter.shape, a.inputShape, info.strideHeight, info.strideWidth, p]);
  count(stats.calls, 'Conv2DBackpropInput');
  return runGraph(
    args.backend,
    key,
    () =>
      onnxModel({
        nodes: [
          { op: 'Transpose', inputs: ['dy'], outputs: ['dyc'], attrs: [ints('perm', NCHW)] },
          { op: 'Transpose', inputs: ['w'], outputs: ['wc'], attrs: [ints('perm', OIHW)] },
          {
            op: 'ConvTranspose',
            inputs: ['dyc', 'wc'],
            outputs: ['dxc'],
            attrs: [
              ints('kernel_shape', [info.filterHeight, info.filterWidth]),
              ints('strides', [info.strideHeight, info.strideWidth]),
              ints('pads', [p.top, p.left, p.bottom, p.right]),
              ints('output_padding', [opH, opW]),
            ],
          },
          { op: 'Transpose', inputs: ['dxc'], outputs: ['dx'], attrs: [ints('perm', NHWC)] },
        ],
        inputs: [
          ['dy', dy.shape],
          ['w', filter.shape],
        ],
        outputs: [['dx', a.inputShape]],
      }),
    [
      ['dy', dy],
      ['w', filter],
    ],
    ['dx', a.inputShape],
  );
};

const conv2DBackpropFilter: KernelFunc = (args) => {
  const { x, dy } = args.inputs as { x: TensorInfo; dy: TensorInfo };
  const a = args.attrs as unknown as ConvAttrs & { filterShape: number[] };
  if (a.dataFormat === 'NCHW') return fallback('Conv2DBackpropFilter', 'NCHW', args);
  const info = convInfo(x.shape, a.filterShape, a);
  const p = info.padInfo;
  // Output rows of the swapped convolution are KH exactly when the bottom/right padding is this.
  const padBottom = info.filterHeight - 1 + (info.outHeight - 1) * info.strideHeight + 1 - info.inHeight - p.top;
  const padRight = info.filterWidth - 1 + (info.outWidth - 1) * info.strideWidth + 1 - info.inWidth - p.left;
  if (padBottom < 0 || padRight < 0) return fallback('Conv2DBackpropFilter', 'padding', args);
  const key = JSON.stringify(['dw', x.shape, dy.shape, a.filterShape, info.strideHeight, info.strideWidth, p]);
  count(stats.calls, 'Conv2DBackpropFilter');
  return runGraph(
    args.backend,
    key,
    () =>
      onnxModel({
        nodes: [
          { op: 'Transpose', inputs: ['x'], outputs: ['xt'], attrs: [ints('perm', [3, 0, 1, 2])] },
          { op: 'Transpose', inputs: ['dy'], outputs: ['dyt'], attrs: [ints('perm', [3, 0, 1, 2])] },
          {
            op: 'Conv',
            inputs: ['xt', 'dyt'],
            outputs: ['dwt'],
            attrs: [
              ints('kernel_shape', [info.outHeight, info.outWidth]),
              ints('dilations', [info.strideHeight, info.strideWidth]),
              ints('strides', [1, 1]),
              ints('pads', [p.top, p.left, padBottom, padRight]),
            ],
          },
          { op: 'Transpose', inputs: ['dwt'], outputs: ['dw'], attrs: [ints('perm', [2, 3, 0, 1])] },
        ],
        inputs: [
          ['x', x.shape],
          ['dy', dy.shape],
        ],
        outputs: [['dw', a.filterShape]],
      }),
    [
      ['x', x],
      ['dy', dy],
    ],
    ['dw', a.filterShape],
  );
};

export const ACCELERATED_KERNELS: Record<string, KernelFunc> = {
  Conv2D: convForward('Conv2D'),
  FusedConv2D: convForward('FusedConv2D'),
  Conv2DBackpropInput: conv2DBackpropInput,
  Conv2DBackpropFilter: conv2DBackpropFilter,
};

/**
 * Puts the ONNX Runtime kernels in place of the wasm backend's for the given kernel names (all four
 * by default), keeping each previous kernel for what these do not cover. `intraOpThreads`: ORT's
 * thread pool size for sessions built from now on.
 */
export function installKernels(names: string[], intraOpThreads: number): string[] {
  threads = Math.max(1, Math.floor(intraOpThreads));
  const installed: string[] = [];
  for (const name of names) {
    const kernelFunc = ACCELERATED_KERNELS[name];
    if (!kernelFunc) throw new Error(`@fermix/accel-onnxruntime has no ${name} kernel (it has ${Object.keys(ACCELERATED_KERNELS).join(', ')})`);
    const current = getKernel(name, BACKEND);
    if (current?.kernelFunc === kernelFunc) continue;
    if (current) {
      previous.set(name, current);
      unregisterKernel(name, BACKEND);
    }
    registerKernel({ kernelName: name, backendName: BACKEND, setupFunc: previous.get(name)?.setupFunc, kernelFunc });
    installed.push(name);
  }
  return installed;
}

/** Puts the previous kernels back. */
export function uninstallKernels(): void {
  for (const [name, config] of previous) {
    unregisterKernel(name, BACKEND);
    registerKernel(config);
  }
  previous.clear();
}

export type { NamedAttrMap };
