/**
 * Decodes many image files off the main thread with `node:worker_threads`.
 *
 * Loading the worker is the delicate part: a worker script file would exist as .ts under vitest
 * (which plain Node cannot run) and would have to be a separate tsup entry in dist. Instead each
 * worker is eval'd from a small CommonJS string built here, which embeds the self-contained codec
 * factory from decode.ts via `createImageCodec.toString()` (and align.ts's `createAlignmentMaths`, for
 * items aligned by their landmarks) and `require`s pngjs/jpeg-js from the
 * paths this module resolves. The same string works from sources, dist/index.js and dist/index.cjs.
 * Each worker proves its copy with `selfTest()` before it gets work; if a worker cannot start, fails
 * the check, or crashes, its work is redone on this thread, so results never depend on workers.
 * When sharp is installed, the main thread loads it first and each worker loads it from the same
 * path (sharp-decoder.ts), so every thread picks the same decoder for the same file.
 */
import { statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { availableParallelism } from 'node:os';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { Logger } from '@fermix/core';
import { createAlignmentMaths } from './align.js';
import { codecWith, createImageCodec, DEFAULT_MAX_PIXELS, imageCodec, type DecodedBatch, type DecodeItem, type ImageCodec } from './decode.js';
import { createSharpDecode, loadSharp } from './sharp-decoder.js';

/** A failure's `kind` is `bad-landmarks` when the file decoded but its landmarks could not align it (items with `align`). */
export type DecodeResult = { ok: true; data: Uint8Array } | { ok: false; reason: string; kind?: 'bad-landmarks' };

/** Which decoders to use: `auto` adds sharp for large JPEGs when it is installed; `js` never does. */
export type DecoderChoice = 'auto' | 'js';

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
  /** Default `auto` (see decode.ts for the per-file rule and its measurements). */
  decoder?: DecoderChoice;
  /** Files whose header declares more pixels are refused before decoding (`data.maxPixels`; default 40 MP). */
  maxPixels?: number;
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
/**
 * Batches a worker holds at once: while it decodes one, the next is already in its inbox, so it
 * does not idle while the main thread is busy (a training step) and cannot hand it more work.
 */
const IN_FLIGHT_PER_WORKER = 2;

interface Chunk {
  start: number;
  end: number;
}

const pathOf = (item: string | DecodeItem) => (typeof item === 'string' ? item : item.path);

/**
 * Decodes (and, for items with a face box, crops) each file and resizes it to `size` x `size`
 * RGB (see `toRgbResized`). Results are in the order of `items`; a file that cannot be read or
 * decoded gives `{ ok: false, reason }` — this never rejects because of a bad image.
 */
export async function decodeFiles(
  items: (string | DecodeItem)[],
  size: number,
  options: DecodeFilesOptions = {},
): Promise<DecodeResult[]> {
  if (!Number.isInteger(size) || size < 1) throw new Error(`image size must be a positive integer, got ${size}`);
  const results = new Array<DecodeResult>(items.length);
  if (items.length === 0) return results;

  const chunks = splitIntoChunks(items.length, options.chunkSize ?? defaultChunkSize(items.length));
  const workers = Math.min(chunks.length, workerCount(options.workers, items, size));
  const pool = await DecodePool.open({ workers, logger: options.logger, decoder: options.decoder });
  let done = 0;
  try {
    await Promise.all(
      chunks.map(async (chunk) => {
        const batch = await pool.decode(items.slice(chunk.start, chunk.end), size, options.maxPixels);
        storeBatch(results, chunk, batch, size);
        done += chunk.end - chunk.start;
        options.onProgress?.(done, items.length);
      }),
    );
  } finally {
    await pool.close();
  }
  return results;
}

function workerCount(requested: number | undefined, items: (string | DecodeItem)[], size: number): number {
  if (requested !== undefined) return checkWorkers(requested);
  return estimateInProcessMs(items, size) < WORKERS_MIN_JOB_MS ? 0 : allCoreWorkers();
}

/** Workers for a job the main thread only waits on: one per core, at most 4; none on one core. */
export function allCoreWorkers(cores = availableParallelism()): number {
  return cores < 2 ? 0 : Math.min(MAX_DEFAULT_WORKERS, cores);
}

function checkWorkers(requested: number): number {
  if (!Number.isInteger(requested) || requested < 0) throw new Error(`workers must be an integer >= 0, got ${requested}`);
  return requested;
}

/** Rough main-thread time for the job, from the sizes of about 32 sampled files and the output size. */
function estimateInProcessMs(items: (string | DecodeItem)[], size: number): number {
  const step = Math.max(1, Math.floor(items.length / 32));
  let bytes = 0;
  let sampled = 0;
  for (let i = 0; i < items.length; i += step) {
    try {
      bytes += statSync(pathOf(items[i])).size;
      sampled++;
    } catch {
      // unreadable: decodeFiles reports it later
    }
  }
  const perFile = (sampled > 0 ? bytes / sampled : 0) / DECODE_BYTES_PER_MS + (size * size) / RESIZE_OUTPUT_PIXELS_PER_MS;
  return items.length * perFile;
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
  batchResults(batch, size).forEach((result, k) => (results[chunk.start + k] = result));
}

/** A decoded batch as one result per item. */
export function batchResults(batch: DecodedBatch, size: number): DecodeResult[] {
  const pixels = size * size * 3;
  return batch.failures.map((reason, k) =>
    reason === null
      ? { ok: true, data: batch.data.subarray(k * pixels, (k + 1) * pixels) }
      : { ok: false, reason, ...(batch.landmarkFailures?.includes(k) ? { kind: 'bad-landmarks' as const } : {}) },
  );
}

function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

export interface DecodePoolOptions {
  /** Worker threads to start; 0 decodes on this thread. */
  workers: number;
  /** Receives one warning when workers are unavailable or die and their work moves to this thread. */
  logger?: Logger;
  decoder?: DecoderChoice;
}

interface Task {
  items: (string | DecodeItem)[];
  size: number;
  maxPixels: number;
  resolve: (batch: DecodedBatch) => void;
  reject: (err: unknown) => void;
}

interface PoolWorker {
  worker: Worker;
  /** Tasks posted to it, oldest first: it answers in that order. */
  inFlight: Task[];
}

/**
 * Long-lived decode workers that take batches of files (`decode`) and answer in submission order
 * per worker. The loader (`decodeFiles`) and the training stream (stream.ts, one pool for all of a
 * split's passes) both run on it. If a
 * worker cannot start, fails its self-test or dies, its batches are redone by another worker or on
 * this thread (one warning), so results never depend on workers.
 */
export class DecodePool {
  private readonly live: PoolWorker[] = [];
  private readonly queue: Task[] = [];
  private readonly problems: string[] = [];
  private inProcessRunning = false;
  private closed = false;
  private warned = false;

  private constructor(
    private readonly codec: ImageCodec,
    private readonly logger: Logger | undefined,
  ) {}

  /** Starts `workers` workers (in parallel) after loading sharp on this thread when asked for. */
  static async open(options: DecodePoolOptions): Promise<DecodePool> {
    const count = checkWorkers(options.workers);
    const sharp = options.decoder === 'js' ? null : await loadSharp();
    const pool = new DecodePool(codecWith(sharp?.decode), options.logger);
    const source = workerSource();
    await Promise.all(
      Array.from({ length: count }, async () => {
        try {
          pool.adopt(await startWorker(source, sharp?.path ?? null));
        } catch (err) {
          pool.note(err);
        }
      }),
    );
    pool.warnOnce();
    return pool;
  }

  /** Live workers (0: everything is decoded on this thread). */
  get workers(): number {
    return this.live.length;
  }

  /**
   * Decodes one batch; see `ImageCodec.decodeBatch`. Batches run concurrently on the workers. When
   * `signal` aborts, a batch not yet handed to a worker is dropped (rejected); one in progress finishes.
   * Images whose header declares more than `maxPixels` pixels are refused before decoding.
   */
  decode(items: (string | DecodeItem)[], size: number, maxPixels: number = DEFAULT_MAX_PIXELS, signal?: AbortSignal): Promise<DecodedBatch> {
    if (this.closed) return Promise.reject(new Error('decode pool is closed'));
    if (signal?.aborted) return Promise.reject(new Error('decode cancelled'));
    return new Promise<DecodedBatch>((resolve, reject) => {
      const drop = () => {
        const at = this.queue.indexOf(task);
        if (at < 0) return;
        this.queue.splice(at, 1);
        reject(new Error('decode cancelled'));
      };
      const settled = () => signal?.removeEventListener('abort', drop);
      const task: Task = {
        items,
        size,
        maxPixels,
        resolve: (batch) => (settled(), resolve(batch)),
        reject: (err) => (settled(), reject(err)),
      };
      signal?.addEventListener('abort', drop, { once: true });
      this.queue.push(task);
      this.pump();
    });
  }

  /** Stops the workers; batches not yet answered are rejected. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const pending = [...this.queue.splice(0), ...this.live.flatMap((w) => w.inFlight.splice(0))];
    for (const task of pending) task.reject(new Error('decode pool is closed'));
    await Promise.all(this.live.splice(0).map((w) => w.worker.terminate()));
  }

  private adopt(worker: Worker): void {
    const entry: PoolWorker = { worker, inFlight: [] };
    if (this.closed) {
      void worker.terminate();
      return;
    }
    this.live.push(entry);
    holdWhileBusy(entry);
    worker.on('message', (batch: DecodedBatch) => {
      const task = entry.inFlight.shift();
      task?.resolve(batch);
      holdWhileBusy(entry);
      this.pump();
    });
    const fail = (err: unknown) => {
      if (this.closed || !this.live.includes(entry)) return;
      this.live.splice(this.live.indexOf(entry), 1);
      this.queue.unshift(...entry.inFlight.splice(0)); // another worker, or this thread, redoes them
      this.note(err);
      this.warnOnce();
      void worker.terminate();
      this.pump();
    };
    worker.on('error', fail);
    worker.on('exit', (code) => fail(new Error(`decode worker exited with code ${code}`)));
  }

  private pump(): void {
    if (this.closed) return;
    if (this.live.length === 0) {
      void this.runInProcess();
      return;
    }
    for (const entry of this.live) {
      while (entry.inFlight.length < IN_FLIGHT_PER_WORKER && this.queue.length > 0) {
        const task = this.queue.shift()!;
        entry.inFlight.push(task);
        try {
          entry.worker.postMessage({ items: task.items, size: task.size, maxPixels: task.maxPixels });
        } catch (err) {
          // fail() (via the worker's events) or the next pump reassigns it
          entry.inFlight.pop();
          this.queue.unshift(task);
          this.note(err);
          break;
        }
      }
      holdWhileBusy(entry);
    }
  }

  /** One batch at a time on this thread, yielding between batches so timers and progress run. */
  private async runInProcess(): Promise<void> {
    if (this.inProcessRunning) return;
    this.inProcessRunning = true;
    try {
      for (let task = this.queue.shift(); task && !this.closed; task = this.queue.shift()) {
        try {
          task.resolve(await this.codec.decodeBatch(task.items, task.size, task.maxPixels));
        } catch (err) {
          task.reject(err);
        }
        await yieldToEventLoop();
      }
    } finally {
      this.inProcessRunning = false;
    }
  }

  private note(err: unknown): void {
    this.problems.push(err instanceof Error ? err.message : String(err));
  }

  private warnOnce(): void {
    if (this.warned || this.problems.length === 0) return;
    this.warned = true;
    const where = this.live.length > 0 ? `the other ${this.live.length} worker(s)` : 'the main thread';
    this.logger?.warn(`decode workers unavailable, decoding on ${where} instead: ${this.problems[0]}`, {
      failedWorkers: this.problems.length,
      workers: this.live.length,
    });
  }
}

/** Decode workers several streamed splits share: started for the first, stopped when the last lets go. */
export interface SharedDecodePool {
  /** The pool (started on the first call, with these options); each caller calls `release` once when done. */
  acquire(options: DecodePoolOptions): Promise<DecodePool>;
  release(): Promise<void>;
}

/** One pool for the splits of a run: the train and test splits a source opens use the same workers. */
export function sharedDecodePool(): SharedDecodePool {
  let pool: Promise<DecodePool> | null = null;
  let users = 0;
  return {
    acquire(options) {
      users++;
      return (pool ??= DecodePool.open(options));
    },
    async release() {
      if (--users > 0 || !pool) return;
      const closing = pool;
      pool = null;
      await (await closing).close();
    },
  };
}

/**
 * A pool lives as long as its owner wants (a stream keeps one for the whole run): an idle worker
 * does not keep the process alive, a busy one does until it answers.
 */
function holdWhileBusy(entry: PoolWorker): void {
  if (entry.inFlight.length > 0) entry.worker.ref();
  else entry.worker.unref();
}

/** Starts a worker and waits until its self-test matches this thread's. */
async function startWorker(source: string, sharpPath: string | null): Promise<Worker> {
  // execArgv: []: the parent's flags (tsx or vitest loaders, --inspect) are useless to this
  // plain-JS program and would slow its start.
  const worker = new Worker(source, { eval: true, workerData: { ...dependencyPaths(), sharp: sharpPath }, execArgv: [] });
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
const createSharpDecode = ${createSharpDecode.toString()};
const createAlignmentMaths = ${createAlignmentMaths.toString()};
const codec = createImageCodec({
  PNG: require(workerData.pngjs).PNG,
  jpeg: require(workerData.jpegJs),
  readFile: readFileSync,
  // The main thread uses sharp for large JPEGs: so does this worker, loading it at its first such
  // file (a PNG dataset never pays for it). If it cannot, the error is fatal: the worker dies and
  // its batches are redone elsewhere, rather than skipping files or giving other pixels.
  native: workerData.sharp ? lazySharp(workerData.sharp) : undefined,
  align: createAlignmentMaths(),
});
function lazySharp(from) {
  let decode;
  return (bytes, maxPixels) => {
    if (!decode) {
      try {
        decode = createSharpDecode(require(from));
      } catch (err) {
        const fatal = new Error('cannot load sharp in a decode worker: ' + (err && err.message));
        fatal.fatal = true;
        throw fatal;
      }
    }
    return decode(bytes, maxPixels);
  };
}
// Batches are answered in the order they arrive; an exception is a bug, not a bad image: it
// crashes the worker, and the pool redoes its batches elsewhere.
let chain = Promise.resolve();
parentPort.on('message', ({ items, size, maxPixels }) => {
  chain = chain
    .then(() => codec.decodeBatch(items, size, maxPixels))
    .then((batch) => parentPort.postMessage(batch, [batch.data.buffer]))
    .catch((err) => setImmediate(() => { throw err; }));
});
parentPort.postMessage({ selfTest: codec.selfTest() });
`;
}
