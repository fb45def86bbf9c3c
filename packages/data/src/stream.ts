/**
 * What the trainer reads batches from: a split either held in memory (an ImageSet, the trivial
 * case) or streamed from disk, each batch decoded in worker threads just before it is needed.
 *
 * Both give the same batches for the same order: sample i is the i-th file of the split
 * (`SplitFiles.items`), and the in-memory ImageSet holds the files in that same order. So a seeded
 * run trains on the same data whichever path its memory budget picks (see open-split.ts). The one
 * exception is a file that cannot be decoded: in memory it is left out before the order is drawn,
 * while a stream only finds it when it meets it, drops it from that batch and skips it from then
 * on; `fermix data --check` finds such files before a run.
 *
 * Memory while streaming: at most `prefetch` batches are decoding or decoded ahead of the step
 * (uint8, prefetch x batch x size² x 3 bytes), plus the batch being trained on and, per worker, the
 * full-size image it is decoding — whatever the number of files.
 */
import { setMaxListeners } from 'node:events';
import { availableParallelism } from 'node:os';
import { scaleRows, type Logger, type SplitBatch, type SplitData } from '@fermix/core';
import { DecodePool, type DecoderChoice, type SharedDecodePool } from './decode-pool.js';
import type { DecodedBatch } from './decode.js';
import { logUnreadable } from './labels.js';
import type { SplitFiles } from './source.js';

export interface StreamOptions {
  /** Output size (size x size RGB). */
  size: number;
  /** Batches decoding or decoded ahead of the one being used (>= 1). */
  prefetch: number;
  logger: Logger;
  /** Decode worker threads; default `defaultStreamWorkers()`. 0 decodes on this thread. */
  workers?: number;
  decoder?: DecoderChoice;
  /** Images whose header declares more pixels are skipped before decoding (`data.maxPixels`). */
  maxPixels?: number;
  /** Workers shared with other splits (a source's `open` shares one pool between train and test); default: the split's own. */
  pool?: SharedDecodePool;
  /** Instrumentation: called with the number of batches queued ahead each time it changes. */
  onQueueDepth?: (depth: number) => void;
}

/**
 * Decode workers for streaming: the main thread is busy training meanwhile, so one core is left
 * to it (cores - 1, at least 1, at most 4); on a single core, decoding stays on the main thread.
 */
export function defaultStreamWorkers(cores = availableParallelism()): number {
  return cores < 2 ? 0 : Math.min(4, cores - 1);
}


/** A split streamed from disk: each batch decoded (on workers) when the read gets near it. */
export function streamedSplit(files: SplitFiles, options: StreamOptions): SplitData {
  const { size, logger } = options;
  if (!Number.isInteger(options.prefetch) || options.prefetch < 1) throw new Error(`prefetch must be an integer >= 1, got ${options.prefetch}`);
  if (!Number.isInteger(size) || size < 1) throw new Error(`image size must be a positive integer, got ${size}`);
  const pixels = size * size * 3;
  const skipped = [...files.skipped];
  /** Samples found unreadable: skipped (without decoding again) from then on. */
  const unreadable = new Set<number>();
  let warned = 0;

  /** The decoded rows of a range, without the samples that failed. */
  const toBatch = (decoded: DecodedBatch, indices: Int32Array): SplitBatch => {
    const keep: number[] = [];
    decoded.failures.forEach((reason, k) => {
      const i = indices[k];
      if (reason === null) return void keep.push(k);
      if (unreadable.has(i)) return;
      unreadable.add(i);
      const file = files.items[i].path;
      skipped.push({ path: file, reason });
      logUnreadable(logger, ++warned, file, reason);
    });
    const kept = Int32Array.from(keep, (k) => indices[k]);
    return { x: scaleRows(decoded.data, pixels, keep), labels: kept.map((i) => files.labels[i]), count: keep.length, indices: kept };
  };

  /** The decode workers, started at the first pass and kept for every pass after it until `close`. */
  let opened: Promise<DecodePool> | null = null;

  async function* batches(order: ArrayLike<number>, ranges: readonly (readonly [number, number])[]): AsyncGenerator<SplitBatch> {
    if (ranges.length === 0) return;
    const poolOptions = { workers: options.workers ?? defaultStreamWorkers(), logger, decoder: options.decoder };
    const pool = await (opened ??= options.pool ? options.pool.acquire(poolOptions) : DecodePool.open(poolOptions));
    const stop = new AbortController();
    setMaxListeners(options.prefetch + 1, stop.signal); // one per batch queued ahead (the pool removes it once answered)
    /** Batches decoding or decoded, in range order: at most `prefetch`. */
    const queue: Promise<{ decoded: DecodedBatch; indices: Int32Array }>[] = [];
    let next = 0;
    const fill = () => {
      while (queue.length < options.prefetch && next < ranges.length) {
        const [start, end] = ranges[next++];
        const all = Int32Array.from({ length: end - start }, (_, b) => order[start + b]);
        const indices = all.filter((i) => !unreadable.has(i));
        const pending = pool.decode(Array.from(indices, (i) => files.items[i]), size, options.maxPixels, stop.signal).then((decoded) => ({ decoded, indices }));
        pending.catch(() => {}); // rejected only when the read stops early (or the pool closes)
        queue.push(pending);
      }
      options.onQueueDepth?.(queue.length);
    };
    const before = unreadable.size;
    try {
      fill();
      for (let r = 0; queue.length > 0; r++) {
        const { decoded, indices } = await queue.shift()!;
        fill(); // decoding goes on while the caller uses this batch
        const batch = toBatch(decoded, indices);
        const [start, end] = ranges[r];
        // A range that lost samples to unreadable files may end up empty, or with the one sample
        // batch norm cannot train on (batchRanges never makes such a batch either).
        if (batch.count === 0 || (batch.count === 1 && end - start > 1)) {
          logger.debug(`split "${files.split}": batch ${r + 1} skipped, ${batch.count} of ${end - start} images readable`);
          continue;
        }
        yield batch;
      }
    } finally {
      stop.abort(); // a pass left early: batches queued ahead are dropped, the workers stay for the next pass
    }
    const found = unreadable.size - before;
    if (found > 0) logger.warn(`${files.what}: skipped ${found} unreadable images in split "${files.split}" (${unreadable.size} so far)`, { split: files.split, skipped: unreadable.size });
  }

  return {
    split: files.split,
    classes: files.classes,
    size,
    count: files.items.length,
    labels: files.labels,
    sources: files.items.map((item) => item.path),
    streamed: true,
    residentBytes: 0,
    skipped,
    batches,
    async close() {
      const pool = opened;
      opened = null;
      if (!pool) return;
      if (options.pool) await options.pool.release();
      else await (await pool).close();
    },
  };
}
