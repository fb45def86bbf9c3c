import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { findPackageEntry } from '../registry.js';
import * as tf from '@tensorflow/tfjs-core';
import type { Logger } from '../logger.js';
import { registerFastGradients } from './gradients.js';
import { CPU_PACKAGE, describeDevice, deviceLabel, GPU_PACKAGE, NO_CUDA_DEVICE_HINT, tryTensorflowPackage, type ComputeDevice, type TensorflowPackage } from './tensorflow.js';
import { initWasmBackend, type ThreadsSetting, type WasmBackendInfo } from './wasm.js';

/**
 * `auto`: the fastest that starts (tfjs-node-gpu, tfjs-node, wasm, cpu). `gpu`: tfjs-node-gpu on a
 * CUDA device, or an error (never a silent CPU fallback). `tensorflow`: tfjs-node-gpu or tfjs-node,
 * whatever device they find. `wasm`, `cpu`: that backend.
 */
export type BackendName = 'auto' | 'gpu' | 'tensorflow' | 'wasm' | 'cpu';

/** A backend that was asked for by name and cannot start (or, for `gpu`, has no device): printed without a stack. */
export class BackendUnavailableError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'BackendUnavailableError';
  }
}

export interface BackendChoice {
  /** The tfjs backend now active: tensorflow, wasm or cpu. */
  name: 'tensorflow' | 'wasm' | 'cpu';
  /** The package that provides it. */
  provider: string;
  /** Where its kernels run: GPU only for tfjs-node-gpu with a usable CUDA device. */
  device: ComputeDevice;
  /** Set when tfjs-node-gpu runs on the CPU: why ("no usable CUDA device: ..."). */
  deviceReason?: string;
  /** Why this one: what was tried before it and how that failed. */
  reasons: string[];
  /** Threads the backend's kernels run on (wasm: its pthread pool plus the calling thread; cpu: 1). Unknown for tensorflow, which sizes its own pools. */
  threads?: number;
  /** Why that many threads (wasm), and why fewer than asked if the threaded start failed. */
  threadsReason?: string;
  /** Set when an accelerator serves some of the backend's kernels. */
  accelerator?: { name: AcceleratorName; kernels: string[]; threads: number; version: string };
}

export interface SelectBackendOptions {
  /** Threads for the wasm backend (config `threads`, CLI `--threads`): a count, or `auto`. */
  threads?: ThreadsSetting;
  /**
   * `onnxruntime`: the wasm backend's convolutions run on ONNX Runtime's native CPU kernels
   * (@fermix/accel-onnxruntime, installed next to fermix). Ignored on tensorflow (already native).
   */
  accelerator?: AcceleratorName;
  /**
   * Where to look for the accelerator package and tfjs-node(-gpu) (node_modules upward from here;
   * default: the working folder). tfjs-node(-gpu) is looked for next to fermix first.
   */
  searchFrom?: string;
}

export type AcceleratorName = 'none' | 'onnxruntime';

export const ACCELERATOR_PACKAGE = '@fermix/accel-onnxruntime';

/** Loads @fermix/accel-onnxruntime from `searchFrom` upward and hands it the wasm convolutions. */
async function accelerate(threads: number, searchFrom: string): Promise<{ kernels: string[]; threads: number; onnxruntime: string }> {
  // Found as backbonePackages are: in node_modules from the config's folder (or the working folder) upward.
  const entry = findPackageEntry(ACCELERATOR_PACKAGE, searchFrom);
  if (!entry) {
    throw new Error(`accelerator: onnxruntime needs ${ACCELERATOR_PACKAGE} installed next to fermix (pnpm add ${ACCELERATOR_PACKAGE}), or accelerator: none`);
  }
  const mod = (await import(pathToFileURL(entry).href)) as { accelerateWasm?: (o: { threads: number }) => { kernels: string[]; threads: number; onnxruntime: string } };
  if (typeof mod.accelerateWasm !== 'function') throw new Error(`${entry} does not export accelerateWasm`);
  return mod.accelerateWasm({ threads });
}

async function tryWasm(threads: ThreadsSetting | undefined, out: { info?: WasmBackendInfo }): Promise<string | null> {
  try {
    out.info = await initWasmBackend({ threads });
    return null;
  } catch (err) {
    return `wasm backend failed: ${(err as Error).message.split('\n')[0]}`;
  }
}

async function tryCpu(): Promise<string | null> {
  try {
    await import('@tensorflow/tfjs-backend-cpu');
    if (!(await tf.setBackend('cpu'))) return 'cpu backend did not initialise';
    // The cpu backend prints an advert for tfjs-node on first use; our log already says why it runs.
    (tf.backend() as unknown as { firstUse?: boolean }).firstUse = false;
    return null;
  } catch (err) {
    return `cpu backend failed: ${(err as Error).message}`;
  }
}

/**
 * Makes the requested backend active. `auto` tries @tensorflow/tfjs-node-gpu, then tfjs-node,
 * then wasm (with fermix's gradient kernels), then the pure-JS cpu backend, and logs what it chose,
 * why, and the device it computes on. A named backend that cannot start is an error that says how
 * to get it; `gpu` is also an error when tfjs-node-gpu finds no CUDA device. fermix's gradients
 * (gradients.ts) are registered for whichever backend runs.
 */
export async function selectBackend(requested: BackendName, logger: Logger, options: SelectBackendOptions = {}): Promise<BackendChoice> {
  const reasons: string[] = [];
  const from = [path.dirname(fileURLToPath(import.meta.url)), options.searchFrom ?? process.cwd()];
  const attempt = async (name: BackendChoice['name'], provider: string, fn: () => Promise<string | null>): Promise<BackendChoice | null> => {
    const failure = await fn();
    if (failure) {
      reasons.push(failure);
      return null;
    }
    await tf.ready();
    return { name, provider, device: 'CPU', reasons: [...reasons] };
  };
  const tensorflow = (pkg: TensorflowPackage) => attempt('tensorflow', pkg, () => tryTensorflowPackage(pkg, from));
  let choice: BackendChoice | null = null;
  if (requested === 'gpu') {
    choice = await tensorflow(GPU_PACKAGE);
    if (!choice) {
      throw new BackendUnavailableError(
        `backend "gpu" was requested but ${reasons[0]}.\nInstall @tensorflow/tfjs-node-gpu 4.22 on a machine with CUDA 11.2 and cuDNN 8.1 (docs/gpu.md), or use backend: auto to train on what there is.`,
      );
    }
  }
  if (requested === 'auto' || requested === 'tensorflow') {
    choice = (await tensorflow(GPU_PACKAGE)) ?? (await tensorflow(CPU_PACKAGE));
    if (!choice && requested === 'tensorflow') {
      throw new BackendUnavailableError(
        `backend "tensorflow" was requested but is not available:\n  - ${reasons.join('\n  - ')}\n` +
          'Install @tensorflow/tfjs-node-gpu (CUDA) or @tensorflow/tfjs-node (CPU) 4.22 next to fermix, or use backend: auto.',
      );
    }
  }
  if (!choice && (requested === 'auto' || requested === 'wasm')) {
    const wasm: { info?: WasmBackendInfo } = {};
    choice = await attempt('wasm', '@tensorflow/tfjs-backend-wasm', () => tryWasm(options.threads, wasm));
    if (choice && wasm.info) {
      choice.threads = wasm.info.threads;
      choice.threadsReason = wasm.info.fallback ?? wasm.info.reason;
      if (wasm.info.fallback) logger.warn(`wasm threads: ${wasm.info.fallback}`);
    }
    if (choice && options.accelerator === 'onnxruntime') {
      const a = await accelerate(choice.threads ?? 1, options.searchFrom ?? process.cwd());
      choice.accelerator = { name: 'onnxruntime', kernels: a.kernels, threads: a.threads, version: a.onnxruntime };
    }
    if (!choice && requested === 'wasm') throw new BackendUnavailableError(`backend "wasm" was requested but failed: ${reasons.at(-1)}`);
    if (choice && requested === 'auto') reasons.push('wasm runs convolutions several times faster than the pure-JS cpu backend');
  }
  if (!choice) {
    choice = await attempt('cpu', '@tensorflow/tfjs-backend-cpu', tryCpu);
    if (!choice) throw new BackendUnavailableError(`no tfjs backend could start:\n  - ${reasons.join('\n  - ')}`);
    choice.threads = 1;
    choice.threadsReason = 'the cpu backend runs on one thread';
  }
  choice.reasons = reasons;
  const device = describeDevice(choice.name, choice.provider, tf.backend());
  choice.device = device.device;
  if (device.reason) choice.deviceReason = device.reason;
  if (requested === 'gpu' && device.device !== 'GPU') {
    throw new BackendUnavailableError(
      `backend "gpu" was requested but ${GPU_PACKAGE} found no usable CUDA device: ${NO_CUDA_DEVICE_HINT}.\nfermix does not train on the CPU in its place; fix the CUDA set-up, or use backend: tensorflow to accept the CPU.`,
    );
  }
  // After every import that could register tfjs-core's gradients again (tfjs-node brings its own tfjs).
  registerFastGradients();
  if (options.accelerator === 'onnxruntime' && !choice.accelerator) logger.info(`accelerator: onnxruntime is for the wasm backend; ${choice.name} runs without it`);
  const threads = {
    ...(choice.threads === undefined ? {} : { threads: choice.threads, threadsWhy: choice.threadsReason }),
    ...(choice.accelerator ? { accelerator: `onnxruntime ${choice.accelerator.version} (${choice.accelerator.kernels.join(', ')} on ${choice.accelerator.threads} thread(s))` } : {}),
  };
  logger.info(`backend: ${choice.name} (${choice.provider}) on ${deviceLabel(device)}`, requested === 'auto' ? { requested, why: reasons.join('; '), ...threads } : { requested, ...threads });
  if (device.reason) logger.warn(`${choice.provider} computes on the CPU, not a GPU: training will be far slower than expected. Set backend: gpu to refuse to start in this case.`);
  return choice;
}
