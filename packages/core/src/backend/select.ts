import { createRequire } from 'node:module';
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
}

export interface SelectBackendOptions {
  /** Threads for the wasm backend (config `threads`, CLI `--threads`): a count, or `auto`. */
  threads?: ThreadsSetting;
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
  const threads = choice.threads === undefined ? {} : { threads: choice.threads, threadsWhy: choice.threadsReason };
  logger.info(`backend: ${choice.name} (${choice.provider})`, requested === 'auto' ? { requested, why: reasons.join('; '), ...threads } : { requested, ...threads });
  return choice;
}
