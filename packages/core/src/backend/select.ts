import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';
import { findPackageEntry } from '../registry.js';
import * as tf from '@tensorflow/tfjs-core';
import type { Logger } from '../logger.js';
import { initWasmBackend, type ThreadsSetting, type WasmBackendInfo } from './wasm.js';

export type BackendName = 'auto' | 'tensorflow' | 'wasm' | 'cpu';

export interface BackendChoice {
  /** The tfjs backend now active: tensorflow, wasm or cpu. */
  name: 'tensorflow' | 'wasm' | 'cpu';
  /** The package that provides it. */
  provider: string;
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
  /** Where to look for the accelerator package (node_modules upward from here; default: the working folder). */
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

const require = createRequire(import.meta.url);

/** tfjs-node(-gpu) register the `tensorflow` backend on import; it fails when libtensorflow is absent. */
async function tryTensorflow(pkg: '@tensorflow/tfjs-node-gpu' | '@tensorflow/tfjs-node'): Promise<string | null> {
  try {
    require.resolve(pkg);
  } catch {
    return `${pkg} is not installed`;
  }
  try {
    require(pkg);
    if (!(await tf.setBackend('tensorflow'))) return `${pkg} loaded but the tensorflow backend did not initialise`;
    return null;
  } catch (err) {
    return `${pkg} is installed but failed to load: ${(err as Error).message.split('\n')[0]}`;
  }
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
 * then wasm (with fermix's gradient kernels), then the pure-JS cpu backend, and logs what it chose
 * and why. A named backend that cannot start is an error that says how to get it.
 */
export async function selectBackend(requested: BackendName, logger: Logger, options: SelectBackendOptions = {}): Promise<BackendChoice> {
  const reasons: string[] = [];
  const attempt = async (name: BackendChoice['name'], provider: string, fn: () => Promise<string | null>) => {
    const failure = await fn();
    if (failure) {
      reasons.push(failure);
      return null;
    }
    await tf.ready();
    return { name, provider, reasons: [...reasons] } satisfies BackendChoice;
  };
  let choice: BackendChoice | null = null;
  if (requested === 'auto' || requested === 'tensorflow') {
    choice =
      (await attempt('tensorflow', '@tensorflow/tfjs-node-gpu', () => tryTensorflow('@tensorflow/tfjs-node-gpu'))) ??
      (await attempt('tensorflow', '@tensorflow/tfjs-node', () => tryTensorflow('@tensorflow/tfjs-node')));
    if (!choice && requested === 'tensorflow') {
      throw new Error(
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
    if (!choice && requested === 'wasm') throw new Error(`backend "wasm" was requested but failed: ${reasons.at(-1)}`);
    if (choice && requested === 'auto') reasons.push('wasm runs convolutions several times faster than the pure-JS cpu backend');
  }
  if (!choice) {
    choice = await attempt('cpu', '@tensorflow/tfjs-backend-cpu', tryCpu);
    if (!choice) throw new Error(`no tfjs backend could start:\n  - ${reasons.join('\n  - ')}`);
    choice.threads = 1;
    choice.threadsReason = 'the cpu backend runs on one thread';
  }
  choice.reasons = reasons;
  if (options.accelerator === 'onnxruntime' && !choice.accelerator) logger.info(`accelerator: onnxruntime is for the wasm backend; ${choice.name} runs without it`);
  const threads = {
    ...(choice.threads === undefined ? {} : { threads: choice.threads, threadsWhy: choice.threadsReason }),
    ...(choice.accelerator ? { accelerator: `onnxruntime ${choice.accelerator.version} (${choice.accelerator.kernels.join(', ')} on ${choice.accelerator.threads} thread(s))` } : {}),
  };
  logger.info(`backend: ${choice.name} (${choice.provider})`, requested === 'auto' ? { requested, why: reasons.join('; '), ...threads } : { requested, ...threads });
  return choice;
}
