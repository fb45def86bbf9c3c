import os from 'node:os';
import * as tf from '@tensorflow/tfjs-core';

import { registerFastGradients } from './gradients.js';
import { registerWasmTrainingKernels } from './wasm-kernels.js';
import { processListeners } from './process-listeners.js';
import { releaseWorkers, startThreadedWasmModule, type ThreadedStartOptions, type ThreadedWasmModule } from './wasm-threads.js';

/** How many threads the wasm backend runs its kernels on: a count, or `auto` (every core). */
export type ThreadsSetting = number | 'auto';

export interface WasmBackendOptions {
  /**
   * Threads for the wasm backend's kernels. `auto` (default): `FERMIX_THREADS` when set (fermix
   * sweep sets it for each run it starts), else every core (`os.availableParallelism()`). 1 runs the
   * single-thread SIMD build. Fixed once the backend has started in this process.
   */
  threads?: ThreadsSetting;
  /** Test hooks for the threaded start (timeout, fault injection). */
  start?: Omit<ThreadedStartOptions, 'threads'>;
}

export interface WasmBackendInfo {
  /** Threads the kernels run on (the calling thread included). */
  threads: number;
  /** What was asked for. */
  requested: ThreadsSetting;
  /** Why this count, in words for the log (e.g. "every core: 8 available"). */
  reason: string;
  /** Cores this process may use. */
  cores: number;
  simd: boolean;
  /** Set when threads were asked for but could not start: the single-thread build runs, and this says why. */
  fallback?: string;
}

/** Cores this process may use (respects CPU affinity). */
export function availableCores(): number {
  return typeof os.availableParallelism === 'function' ? os.availableParallelism() : os.cpus().length;
}

/**
 * The thread count for a setting: a number is taken as it is (at least 1); `auto` takes
 * `FERMIX_THREADS` when it is a positive integer, else every core.
 */
export function resolveThreads(
  requested: ThreadsSetting | undefined,
  env: NodeJS.ProcessEnv = process.env,
  cores: number = availableCores(),
): { threads: number; reason: string } {
  if (typeof requested === 'number') {
    const threads = Math.max(1, Math.floor(requested));
    return { threads, reason: `threads: ${requested} was asked for (${cores} core${cores === 1 ? '' : 's'} available)` };
  }
  const fromEnv = env.FERMIX_THREADS;
  if (fromEnv !== undefined && fromEnv !== '') {
    const n = Number(fromEnv);
    if (Number.isInteger(n) && n >= 1) {
      return { threads: n, reason: `FERMIX_THREADS=${fromEnv}${env.FERMIX_THREADS_WHY ? ` (${env.FERMIX_THREADS_WHY})` : ''}` };
    }
  }
  return { threads: cores, reason: `every core: ${cores} available` };
}

/**
 * Threads for each of `parallel` runs sharing `cores` cores (fermix sweep --parallel, workers with
 * --concurrency): an even share, at least 1, so the runs together never ask for more than the machine.
 */
export function splitCores(parallel: number, cores: number = availableCores()): number {
  return Math.max(1, Math.floor(cores / Math.max(1, parallel)));
}

let current: WasmBackendInfo | null = null;


/** What the wasm backend started with in this process, or null before it has. */
export function wasmBackendInfo(): WasmBackendInfo | null {
  return current;
}

type WasmPackage = {
  BackendWasm: new (module: unknown) => tf.KernelBackend;
  setThreadsCount: (n: number) => void;
  getThreadsCount: () => number;
};

/** The `tfjs` bridge tfjs-backend-wasm's `init()` adds to the Emscripten module before `new BackendWasm`. */
function addTfjsBridge(module: ThreadedWasmModule): void {
  module.tfjs = {
    init: module.cwrap('init', null, []),
    initWithThreadsCount: module.cwrap('init_with_threads_count', null, ['number']),
    getThreadsCount: module.cwrap('get_threads_count', 'number', []),
    registerTensor: module.cwrap('register_tensor', null, ['number', 'number', 'number']),
    disposeData: module.cwrap('dispose_data', null, ['number']),
    dispose: module.cwrap('dispose', null, []),
  };
}

/**
 * Starts the threaded module and registers it as tfjs' `wasm` backend (replacing the package's own
 * factory, which would start the single-thread build). Returns the thread count the pool has.
 */
async function registerThreadedBackend(pkg: WasmPackage, threads: number, start: WasmBackendOptions['start']): Promise<number> {
  const module = await startThreadedWasmModule({ ...start, threads });
  addTfjsBridge(module);
  const stockFactory = tf.engine().registryFactory.wasm;
  tf.removeBackend('wasm');
  let actual = 1;
  tf.registerBackend(
    'wasm',
    () => {
      pkg.setThreadsCount(threads);
      // Creates the pthread pool (synchronously; its threads were checked alive just before).
      const backend = new pkg.BackendWasm(module);
      actual = pkg.getThreadsCount();
      releaseWorkers(module);
      return backend;
    },
    stockFactory?.priority ?? 2,
  );
  if (!(await tf.setBackend('wasm'))) {
    // Put the package's own (single-thread) factory back for the fallback.
    tf.removeBackend('wasm');
    if (stockFactory) tf.registerBackend('wasm', stockFactory.factory, stockFactory.priority);
    throw new Error('the threaded backend did not initialise');
  }
  return actual;
}

/**
 * Loads `@tensorflow/tfjs-backend-wasm`, registers the training kernels it lacks and makes `wasm`
 * the active backend, on as many threads as `options.threads` says (default: every core). In Node
 * the package's own files are found next to it, so no `setWasmPaths` is needed. A threaded start
 * that fails falls back to one thread (`fallback` in the result says why; it never hangs). Throws
 * if the backend cannot be loaded or initialised at all.
 *
 * The thread count is fixed once the backend has started in a process: a second call returns the
 * first call's result, with `fallback` noting a different request.
 */
export async function initWasmBackend(options: WasmBackendOptions = {}): Promise<WasmBackendInfo> {
  let pkg: WasmPackage;
  try {
    pkg = (await import('@tensorflow/tfjs-backend-wasm')) as unknown as WasmPackage;
  } catch (e) {
    throw new Error(
      `wasm backend unavailable: cannot load @tensorflow/tfjs-backend-wasm (${(e as Error).message})`,
      { cause: e },
    );
  }
  // After the import: the package registers its own (buggy) MaxPoolGrad, which this replaces.
  registerWasmTrainingKernels();
  registerFastGradients();
  const requested = options.threads ?? 'auto';
  const alreadyRunning = current != null || (tf.engine().registry as Record<string, unknown>).wasm != null;
  if (alreadyRunning && !(await tf.setBackend('wasm'))) throw new Error('wasm backend failed to initialize (tf.setBackend("wasm") returned false)');
  if (current) return current;
  const cores = availableCores();
  const simd = () => tf.env().getAsync('WASM_HAS_SIMD_SUPPORT').then(Boolean);
  if (alreadyRunning) {
    // Started before fermix was asked (tf.setBackend('wasm') by the host program): keep it as it is.
    const threads = Math.max(1, pkg.getThreadsCount());
    current = { threads, requested, reason: 'the wasm backend was already running in this process', cores, simd: await simd() };
    return current;
  }
  const { threads, reason } = resolveThreads(requested, process.env, cores);
  let fallback: string | undefined;
  let actual = 1;
  if (threads > 1) {
    try {
      actual = await registerThreadedBackend(pkg, threads, options.start);
    } catch (e) {
      fallback = `could not start ${threads} threads (${(e as Error).message}); running on 1`;
    }
  }
  if (actual <= 1) {
    let ok: boolean;
    const before = processListeners();
    try {
      ok = await tf.setBackend('wasm');
    } catch (e) {
      throw new Error(`wasm backend failed to initialize: ${(e as Error).message}`, { cause: e });
    } finally {
      // The Emscripten module adds process listeners that rethrow every error (printing the whole
      // minified module with it); fermix leaves the process's error handling as it was.
      before.restore();
    }
    if (!ok || tf.getBackend() !== 'wasm') {
      throw new Error(
        'wasm backend failed to initialize (tf.setBackend("wasm") returned false); see the warnings above',
      );
    }
    actual = 1;
  }
  current = { threads: actual, requested, reason, cores, simd: await simd(), ...(fallback ? { fallback } : {}) };
  return current;
}
