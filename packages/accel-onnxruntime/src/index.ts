/**
 * @fermix/accel-onnxruntime: an optional accelerator for tfjs-backend-wasm. The four convolution
 * kernels of a training step run on ONNX Runtime's native CPU kernels (onnxruntime-node ships them
 * inside its npm package: nothing is downloaded at install or run time), everything else stays on
 * wasm. fermix loads it with `accelerator: onnxruntime` in the config or `--accelerator onnxruntime`;
 * in your own tfjs loop call `accelerateWasm()` after the wasm backend is active.
 */
import os from 'node:os';
import * as tf from '@tensorflow/tfjs-core';
import { acceleratorStats, ACCELERATED_KERNELS, installKernels, loadOrt, uninstallKernels, type AcceleratorStats } from './kernels.js';

export { onnxModel, type OnnxNode, type Attr } from './onnx.js';
export { acceleratorStats, type AcceleratorStats };

export interface AccelerateOptions {
  /** ONNX Runtime's intra-op threads (default: the wasm backend's threads, else every core). */
  threads?: number;
  /** Which kernels to take over (default: Conv2D, FusedConv2D, Conv2DBackpropInput, Conv2DBackpropFilter). */
  kernels?: string[];
}

export interface AccelerateResult {
  /** Kernel names now served by ONNX Runtime. */
  kernels: string[];
  threads: number;
  onnxruntime: string;
}

/**
 * Serves the wasm backend's convolutions from ONNX Runtime. Throws when onnxruntime-node cannot
 * load (its native library missing for this platform) — nothing is changed then. Call it after
 * `@tensorflow/tfjs-backend-wasm` was imported (and after fermix's `initWasmBackend`, whose kernels
 * it takes over and falls back to).
 */
export function accelerateWasm(options: AccelerateOptions = {}): AccelerateResult {
  let version: string;
  try {
    version = loadOrt().version;
  } catch (err) {
    throw new Error(`@fermix/accel-onnxruntime: onnxruntime-node could not load on ${process.platform}-${process.arch}: ${(err as Error).message.split('\n')[0]}`, { cause: err });
  }
  const wasmThreads = (tf.findBackend('wasm') as unknown as { wasm?: { tfjs?: { getThreadsCount?: () => number } } } | null)?.wasm?.tfjs?.getThreadsCount?.();
  const threads = Math.max(1, Math.floor(options.threads ?? wasmThreads ?? os.availableParallelism()));
  const names = options.kernels ?? Object.keys(ACCELERATED_KERNELS);
  installKernels(names, threads);
  return { kernels: names, threads, onnxruntime: version };
}

/** Puts the kernels that were registered before `accelerateWasm` back. */
export function restoreWasmKernels(): void {
  uninstallKernels();
}
