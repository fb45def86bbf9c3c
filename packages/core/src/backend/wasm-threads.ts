/**
 * tfjs-backend-wasm's threaded build (XNNPACK on an Emscripten pthread pool), started in Node.
 *
 * tfjs 4.22 never starts it under Node (`WASM_HAS_MULTITHREAD_SUPPORT` is false when `IS_NODE`,
 * tfjs issue #3830). Its bundled loader hands Emscripten the pthread worker script and the main
 * script as `blob:` URLs, which `worker_threads` cannot load. The package also ships the same
 * Emscripten module as plain files in `wasm-out/`, and this module starts that one directly:
 *
 *  - the main script (`tfjs-backend-wasm-threaded-simd.js`) is evaluated with a `require` of our
 *    own, so that the module's one read of the core count at start-up (`os.cpus()`, from which the
 *    C++ side caps the pool at cores / 2) sees the count we ask for, without touching the real `os`;
 *  - each pthread worker starts from a `data:` URL: a few lines that load the package's own worker
 *    source (`wasm-out/...worker.js` exports it as a string) and run it with a CommonJS `require`.
 *    Nothing is written to disk, so nothing is left behind, whatever kills the process;
 *  - each worker loads the main script from its real path (`mainScriptUrlOrBlob`);
 *  - Emscripten keeps running pool workers referenced (the process would never exit); they are
 *    unreferenced once the pool is up.
 *
 * Start-up never hangs and never crashes the process: a worker that fails, exits or does not
 * report within `startupTimeoutMs` rejects the start, every worker is terminated, and the caller
 * falls back to the single-thread build. The pool threads are checked alive before the pool is
 * created (XNNPACK's pthreadpool waits for every thread it starts).
 */
import { createRequire } from 'node:module';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Worker } from 'node:worker_threads';
import { processListeners } from './process-listeners.js';

const nodeRequire = createRequire(import.meta.url);

const MAIN_SCRIPT = 'tfjs-backend-wasm-threaded-simd.js';
const WORKER_SCRIPT = 'tfjs-backend-wasm-threaded-simd.worker.js';

/** The parts of the Emscripten module (and of its PThread helper) used here. */
export interface ThreadedWasmModule {
  cwrap: (name: string, returnType: string | null, argTypes: string[]) => (...args: number[]) => unknown;
  PThread: { unusedWorkers: Worker[]; runningWorkers: Worker[]; terminateAllThreads?: () => void };
  [key: string]: unknown;
}

export interface ThreadedStartOptions {
  /** Threads the pool will be created with (the C++ side caps it at the core count it reads / 2). */
  threads: number;
  /** Give up on a start that has not finished by then. Default 30 s (a normal start takes < 1 s). */
  startupTimeoutMs?: number;
  /** Test hook: called with the pool's workers as soon as they exist (before any has loaded). */
  onWorkers?: (workers: Worker[]) => void;
}

/** The folder holding tfjs-backend-wasm's Emscripten files, or an error saying why it is unusable. */
export function wasmOutFolder(): string {
  const pkg = path.dirname(nodeRequire.resolve('@tensorflow/tfjs-backend-wasm/package.json'));
  const dir = path.join(pkg, 'wasm-out');
  for (const file of [MAIN_SCRIPT, WORKER_SCRIPT, 'tfjs-backend-wasm-threaded-simd.wasm']) {
    if (!fs.existsSync(path.join(dir, file))) throw new Error(`${path.join(dir, file)} is missing`);
  }
  return dir;
}

/** Source of the data: URL each pthread worker starts from. */
function workerBootstrap(dir: string): URL {
  const source = [
    "import { createRequire } from 'node:module';",
    `const require = createRequire(${JSON.stringify(path.join(dir, WORKER_SCRIPT))});`,
    `const { wasmWorkerContents } = require(${JSON.stringify(`./${WORKER_SCRIPT}`)});`,
    // The package embeds the worker as a template literal whose "\n" escapes became real newlines
    // inside string literals; tfjs' own loader re-escapes them the same way before use.
    'const code = wasmWorkerContents.split(String.fromCharCode(10)).join(String.fromCharCode(92, 110));',
    `new Function('require', '__filename', code)(require, ${JSON.stringify(path.join(dir, WORKER_SCRIPT))});`,
  ].join('\n');
  return new URL(`data:text/javascript,${encodeURIComponent(source)}`);
}

/** Checks, in this thread, what every worker will need, so that a worker cannot fail on it. */
function checkWorkerSource(dir: string): void {
  const { wasmWorkerContents } = nodeRequire(path.join(dir, WORKER_SCRIPT)) as { wasmWorkerContents?: unknown };
  if (typeof wasmWorkerContents !== 'string') throw new Error(`${WORKER_SCRIPT} does not export wasmWorkerContents`);
  // Compiles without running: a syntax error here would otherwise surface inside every worker.
  new Function('require', '__filename', wasmWorkerContents.split('\n').join('\\n'));
}

/** The Emscripten factory from wasm-out, evaluated with an `os` that reports `cores` logical cores. */
function loadFactory(dir: string, cores: number): (config: Record<string, unknown>) => Promise<ThreadedWasmModule> {
  const file = path.join(dir, MAIN_SCRIPT);
  const source = fs.readFileSync(file, 'utf8');
  const realCpus = os.cpus();
  const fakeOs = Object.create(os, {
    cpus: { value: () => Array.from({ length: cores }, (_, i) => realCpus[i % Math.max(1, realCpus.length)]) },
  });
  const scopedRequire = (id: string) => (id === 'os' || id === 'node:os' ? fakeOs : nodeRequire(id));
  const mod: { exports: unknown } = { exports: {} };
  new Function('exports', 'require', 'module', '__filename', '__dirname', source)(mod.exports, scopedRequire, mod, file, dir);
  if (typeof mod.exports !== 'function') throw new Error(`${file} did not export the module factory`);
  return mod.exports as (config: Record<string, unknown>) => Promise<ThreadedWasmModule>;
}

function allWorkers(module: Pick<ThreadedWasmModule, 'PThread'>): Worker[] {
  return [...module.PThread.unusedWorkers, ...module.PThread.runningWorkers];
}

/** Terminates every worker of a module that is being abandoned. */
function terminateAll(module: Partial<ThreadedWasmModule>): void {
  if (!module.PThread) return;
  for (const w of allWorkers(module as ThreadedWasmModule)) void w.terminate();
}

/**
 * Starts the threaded Emscripten module with its pthread pool loaded and checked alive. The pool
 * itself (`threads - 1` workers running, plus the calling thread) is created by the caller's
 * `init_with_threads_count`, i.e. by tfjs-backend-wasm's `BackendWasm` constructor, which must run
 * synchronously right after this resolves; then call `releaseWorkers`.
 */
export async function startThreadedWasmModule(options: ThreadedStartOptions): Promise<ThreadedWasmModule> {
  const threads = Math.max(1, Math.floor(options.threads));
  const dir = wasmOutFolder();
  checkWorkerSource(dir);
  const factory = loadFactory(dir, 2 * threads);
  const listeners = processListeners();
  const dead = new Set<Worker>();
  let started = false;
  let fail: (err: Error) => void = () => {};
  const failed = new Promise<never>((_, reject) => {
    fail = reject;
  });
  failed.catch(() => {});
  const config: Record<string, unknown> = {
    mainScriptUrlOrBlob: path.join(dir, MAIN_SCRIPT),
    locateFile: (file: string, prefix: string) => (file.endsWith('.worker.js') ? workerBootstrap(dir) : prefix + file),
    print: () => {},
    printErr: (text: string) => fail(new Error(`wasm thread pool: ${text}`)),
    onAbort: (what: unknown) => fail(new Error(`wasm thread pool aborted: ${String(what)}`)),
  };
  let ready: Promise<ThreadedWasmModule>;
  try {
    ready = factory(config);
  } finally {
    // Emscripten adds process listeners that rethrow everything; fermix leaves process behaviour alone.
    listeners.restore();
  }
  const module = config as unknown as ThreadedWasmModule;
  const workers = allWorkers(module);
  if (workers.length === 0) throw new Error('the threaded wasm module created no pool workers');
  for (const w of workers) {
    // A worker being terminated counts as dead at once (its exit event comes later).
    const terminate = w.terminate.bind(w);
    w.terminate = () => {
      dead.add(w);
      return terminate();
    };
    // Until the pool is up, a worker's failure rejects the start instead of crashing the process.
    w.on('error', (e: Error) => fail(new Error(`a wasm pool worker failed: ${e.message}`)));
    w.on('exit', (code) => {
      dead.add(w);
      fail(new Error(`a wasm pool worker exited during start-up (code ${code})`));
    });
    let emscriptenOnError: ((e: unknown) => void) | undefined;
    Object.defineProperty(w, 'onerror', {
      configurable: true,
      get: () => (e: unknown) => (started ? emscriptenOnError?.(e) : fail(e instanceof Error ? e : new Error(String(e)))),
      set: (fn: (e: unknown) => void) => {
        emscriptenOnError = fn;
      },
    });
  }
  options.onWorkers?.(workers);
  const timeoutMs = options.startupTimeoutMs ?? 30_000;
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`the wasm thread pool did not start within ${timeoutMs} ms`)), timeoutMs);
  });
  try {
    await Promise.race([ready, failed, timeout]);
    // One more turn of the event loop: an exit that raced with the last worker's "loaded" lands now.
    await Promise.race([new Promise((r) => setImmediate(r)), failed]);
    const gone = workers.filter((w) => dead.has(w) || w.threadId < 0);
    if (gone.length > 0) throw new Error(`${gone.length} wasm pool worker(s) died during start-up`);
  } catch (err) {
    terminateAll(module);
    throw err;
  } finally {
    clearTimeout(timer);
  }
  started = true;
  return module;
}

/**
 * After the pool is created: lets the process exit while the pool threads wait for work (Emscripten
 * references a worker while its thread runs), and drops the start-up listeners.
 */
export function releaseWorkers(module: ThreadedWasmModule): number {
  const workers = allWorkers(module);
  for (const w of workers) {
    w.removeAllListeners('exit');
    w.unref();
  }
  return module.PThread.runningWorkers.length;
}
