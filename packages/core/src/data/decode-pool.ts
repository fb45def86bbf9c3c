/**
 * Decodes many image files off the main thread with `node:worker_threads`.
 *
 * Loading the worker is the delicate part: a worker script file would exist as .ts under vitest
 * (which plain Node cannot run) and would have to be a separate tsup entry in dist. Instead each
 * worker is eval'd from a small CommonJS string built here, which embeds the self-contained codec
 * factory from decode.ts via `createImageCodec.toString()` and `require`s pngjs/jpeg-js from the
 * paths this module resolves. The same string works from sources, dist/index.js and dist/index.cjs.
 * Each worker proves its copy with `selfTest()` before it gets work; if a worker cannot start, fails
 * the check, or crashes, its work is redone on this thread, so results never depend on workers.
 */
import { statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { availableParallelism } from 'node:os';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { Logger } from '../logger.js';
import { createImageCodec, imageCodec, type DecodedBatch } from './decode.js';

export type DecodeResult = { ok: true; data: Uint8Array } | { ok: false; reason: string };

export interface DecodeFilesOptions {
  /**
   * Worker threads; 0 decodes on this thread. Default: 0 on one core or when the job looks small (see
   * `estimateInProcessMs`), where starting workers costs more than it saves; otherwise one per core,
   * at most 4 — all cores, not cores - 1, because the main thread only waits meanwhile.
   */
  workers?: number;
  /** Called after each chunk with the number of files done so far. */
  onProgress?: (done: number, total: number) => void;
  /** Receives a warning when workers are unavailable and decoding falls back to this thread. */
  logger?: Logger;
  /** Files per worker message (default: balances message overhead against load balance). */
  chunkSize?: number;
}

const MAX_DEFAULT_WORKERS = 4;
/**
 * A worker takes 50-100 ms to start and then runs cold (unoptimised) code for a while, and on a busy
 * machine it competes with everything else; jobs that take less than this on the main thread are
 * left there. fer2013-mini (1,400 48x48 PNGs, ~0.15-0.4 s) is below it.
 */
const WORKERS_MIN_JOB_MS = 1_000;
/** Conservative in-process rates (2-core VM): PNG decodes ~20 KB/ms of file, JPEG ~5 KB/ms. */
const DECODE_BYTES_PER_MS = 8_000;
const RESIZE_OUTPUT_PIXELS_PER_MS = 50_000;

interface Chunk {
  start: number;
  end: number;
}

/**
 * Decodes and resizes each file to `size` x `size` RGB (see `toRgbResized`). Results are in the
 * order of `paths`; a file that cannot be read or decoded gives `{ ok: false, reason }` — this
 * never rejects because of a bad image.
 */
export async function decodeFiles(
  paths: string[],
  size: number,
  options: DecodeFilesOptions = {},
): Promise<DecodeResult[]> {
  if (!Number.isInteger(size) || size < 1) throw new Error(`image size must be a positive integer, got ${size}`);
  const results = new Array<DecodeResult>(paths.length);
  if (paths.length === 0) return results;

  const chunks = splitIntoChunks(paths.length, options.chunkSize ?? defaultChunkSize(paths.length));
  const workers = Math.min(chunks.length, workerCount(options.workers, paths, size));
  let done = 0;
  const store = (chunk: Chunk, batch: DecodedBatch) => {
    storeBatch(results, chunk, batch, size);
    done += chunk.end - chunk.start;
    options.onProgress?.(done, paths.length);
  };

  const left = workers > 0 ? await decodeWithWorkers(paths, size, chunks, workers, store, options.logger) : chunks;
  for (const chunk of left) {
    store(chunk, imageCodec.decodeBatch(paths.slice(chunk.start, chunk.end), size));
    await yieldToEventLoop(); // lets progress bars and timers run between chunks
  }
  return results;
}

function workerCount(requested: number | undefined, paths: string[], size: number): number {
  if (requested !== undefined) {
    if (!Number.isInteger(requested) || requested < 0) throw new Error(`workers must be an integer >= 0, got ${requested}`);
    return requested;
  }
  const cores = availableParallelism();
  if (cores < 2 || estimateInProcessMs(paths, size) < WORKERS_MIN_JOB_MS) return 0;
  return Math.min(MAX_DEFAULT_WORKERS, cores);
}

/** Rough main-thread time for the job, from the sizes of about 32 sampled files and the output size. */
function estimateInProcessMs(paths: string[], size: number): number {
  const step = Math.max(1, Math.floor(paths.length / 32));
  let bytes = 0;
  let sampled = 0;
  for (let i = 0; i < paths.length; i += step) {
    try {
      bytes += statSync(paths[i]).size;
      sampled++;
    } catch {
      // unreadable: decodeFiles reports it later
    }
  }
  const perFile = (sampled > 0 ? bytes / sampled : 0) / DECODE_BYTES_PER_MS + (size * size) / RESIZE_OUTPUT_PIXELS_PER_MS;
  return paths.length * perFile;
}

/** Big enough that messaging is negligible, small enough that workers finish close together. */
function defaultChunkSize(files: number): number {
  return Math.max(16, Math.min(256, Math.ceil(files / 32)));
}

function splitIntoChunks(total: number, chunkSize: number): Chunk[] {
  const chunks: Chunk[] = [];
  for (let start = 0; start < total; start += chunkSize) chunks.push({ start, end: Math.min(total, start + chunkSize) });
  return chunks;
}

function storeBatch(results: DecodeResult[], chunk: Chunk, batch: DecodedBatch, size: number): void {
  const pixels = size * size * 3;
  batch.failures.forEach((reason, k) => {
    results[chunk.start + k] =
      reason === null ? { ok: true, data: batch.data.subarray(k * pixels, (k + 1) * pixels) } : { ok: false, reason };
  });
}

function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/**
 * Runs the chunks on `count` workers that pull from a shared queue. Returns the chunks no worker
 * completed (all of them if no worker could start) for the caller to decode in-process.
 */
async function decodeWithWorkers(
  paths: string[],
  size: number,
  chunks: Chunk[],
  count: number,
  store: (chunk: Chunk, batch: DecodedBatch) => void,
  logger: Logger | undefined,
): Promise<Chunk[]> {
  const queue = [...chunks];
  const problems: string[] = [];
  const note = (err: unknown) => problems.push(err instanceof Error ? err.message : String(err));
  const source = workerSource();

  async function runWorker(): Promise<void> {
    let worker: Worker;
    try {
      worker = await startWorker(source);
    } catch (err) {
      note(err);
      return;
    }
    try {
      for (let chunk = queue.shift(); chunk; chunk = queue.shift()) {
        let batch: DecodedBatch;
        try {
          worker.postMessage({ paths: paths.slice(chunk.start, chunk.end), size });
          batch = await nextMessage<DecodedBatch>(worker);
        } catch (err) {
          queue.unshift(chunk); // another worker, or the main thread, redoes it
          note(err);
          return;
        }
        store(chunk, batch); // outside the try: an exception from onProgress is the caller's, not a worker failure
      }
    } catch (err) {
      queue.length = 0; // the job is failing: stop the other workers too
      throw err;
    } finally {
      await worker.terminate();
    }
  }

  await Promise.all(Array.from({ length: count }, runWorker));
  if (problems.length > 0) {
    logger?.warn(`decode workers unavailable, decoding on the main thread instead: ${problems[0]}`, {
      failedWorkers: problems.length,
      workers: count,
    });
  }
  return queue;
}

/** Starts a worker and waits until its self-test matches this thread's. */
async function startWorker(source: string): Promise<Worker> {
  // execArgv: []: the parent's flags (tsx or vitest loaders, --inspect) are useless to this
  // plain-JS program and would slow its start.
  const worker = new Worker(source, { eval: true, workerData: dependencyPaths(), execArgv: [] });
  // nextMessage handles errors while we wait; this keeps one arriving at any other time from
  // becoming an uncaught 'error' event that would crash the process.
  worker.on('error', () => {});
  try {
    checkSelfTest(await nextMessage<{ selfTest: Uint8Array }>(worker));
    return worker;
  } catch (err) {
    await worker.terminate();
    throw err;
  }
}

function checkSelfTest(reply: { selfTest: Uint8Array }): void {
  const expected = mainSelfTest();
  const got = reply.selfTest;
  if (!(got instanceof Uint8Array) || got.length !== expected.length || !got.every((v, i) => v === expected[i])) {
    throw new Error('worker self-test differs from the main thread (was the decoder code transformed?)');
  }
}

let cachedSelfTest: Uint8Array | undefined;
function mainSelfTest(): Uint8Array {
  return (cachedSelfTest ??= imageCodec.selfTest());
}

/** Resolves the next message, or rejects if the worker errors or exits first. */
function nextMessage<T>(worker: Worker): Promise<T> {
  return new Promise((resolve, reject) => {
    const cleanup = () => {
      worker.off('message', onMessage).off('error', onError).off('exit', onExit);
    };
    const onMessage = (message: T) => (cleanup(), resolve(message));
    const onError = (err: Error) => (cleanup(), reject(err));
    const onExit = (code: number) => (cleanup(), reject(new Error(`decode worker exited with code ${code}`)));
    worker.on('message', onMessage).on('error', onError).on('exit', onExit);
  });
}

/**
 * Where this module lives, to resolve pngjs/jpeg-js exactly as the main thread does. ESM (sources
 * under vitest, dist/index.js) has import.meta.url; in dist/index.cjs esbuild leaves import.meta
 * empty, and CommonJS has __filename instead.
 */
function moduleLocation(): string {
  return import.meta.url ?? pathToFileURL(__filename).href;
}

let cachedDependencyPaths: { pngjs: string; jpegJs: string } | undefined;
function dependencyPaths(): { pngjs: string; jpegJs: string } {
  if (!cachedDependencyPaths) {
    const require = createRequire(moduleLocation());
    cachedDependencyPaths = { pngjs: require.resolve('pngjs'), jpegJs: require.resolve('jpeg-js') };
  }
  return cachedDependencyPaths;
}

/**
 * The worker program (CommonJS, run with `eval: true`). `__name` is an identity shim because
 * esbuild's keepNames (used by some bundlers downstream) wraps nested functions in __name() calls.
 */
function workerSource(): string {
  return `'use strict';
const { parentPort, workerData } = require('node:worker_threads');
const { readFileSync } = require('node:fs');
var __name = (fn) => fn;
const createImageCodec = ${createImageCodec.toString()};
const codec = createImageCodec({
  PNG: require(workerData.pngjs).PNG,
  jpeg: require(workerData.jpegJs),
  readFile: readFileSync,
});
parentPort.on('message', ({ paths, size }) => {
  const batch = codec.decodeBatch(paths, size);
  parentPort.postMessage(batch, [batch.data.buffer]);
});
parentPort.postMessage({ selfTest: codec.selfTest() });
`;
}
