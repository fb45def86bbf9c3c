/**
 * What the trainer reads batches from: a split held in memory (an ImageSet) or, for sources that
 * can (`DataSource.open`, e.g. `@fermix/data`'s), streamed from disk. Both give the same batches
 * for the same order.
 */
import type { Logger } from '../logger.js';
import { gatherBatch, type HostBatch } from '../train/batches.js';
import { DataError, type DataSource, type ImageSet, type OpenOptions } from './source.js';

/** A host batch and which samples of the split it holds. */
export interface SplitBatch extends HostBatch {
  /** Sample index (into the split) of each row. */
  indices: Int32Array;
}

/** A split to read batches from, in memory or streamed: labels are known up front, pixels per batch. */
export interface SplitData {
  readonly split: string;
  readonly classes: string[];
  /** Images are size x size RGB. */
  readonly size: number;
  /** Samples in the split; `order` entries index 0..count-1. */
  readonly count: number;
  /** Class index of each sample. */
  readonly labels: Int32Array;
  /** Where each sample comes from (a path, `synthetic:<i>`, `file.csv:<line>`), for reports: `SplitBatch.indices` index it. */
  readonly sources: readonly string[];
  /** True when batches are decoded from disk as they are read. */
  readonly streamed: boolean;
  /** Bytes of pixels held in memory (0 when streamed). */
  readonly residentBytes: number;
  /** Files left out: missing, unreadable (a stream adds them as it meets them). */
  readonly skipped: readonly { path: string; reason: string }[];
  /**
   * The batches `order[start..end)` for each range, in range order. Leaving the loop early
   * (break, throw) stops any decoding in progress.
   */
  batches(order: ArrayLike<number>, ranges: readonly (readonly [number, number])[]): AsyncIterable<SplitBatch>;
  /** Releases what reading keeps between passes (a stream's decode workers). The trainer calls it when the run ends. */
  close?(): Promise<void>;
}

/** A decoded split held in memory. */
export function memorySplit(set: ImageSet, split: string): SplitData {
  return {
    split,
    classes: set.classes,
    size: set.size,
    count: set.count,
    labels: set.labels,
    sources: set.sources,
    streamed: false,
    residentBytes: set.images.byteLength,
    skipped: set.skipped,
    async *batches(order, ranges) {
      for (const [start, end] of ranges) {
        yield { ...gatherBatch(set, order, start, end), indices: Int32Array.from({ length: end - start }, (_, b) => order[start + b]) };
      }
    },
  };
}

const MB = 2 ** 20;

/** `data.cacheMB` in bytes. */
export function budgetBytesOf(cacheMB: number): number {
  return cacheMB * MB;
}

/** An unknown split is a DataError listing the splits there are. */
export async function requireSplit(source: DataSource, split: string): Promise<void> {
  const splits = await source.splits();
  if (!splits.includes(split)) {
    throw new DataError(`${source.description}: no split "${split}" (found: ${splits.join(', ') || 'none'}); set data.trainSplit / data.testSplit`);
  }
}

/** Decodes one whole split into memory; an unknown split is a DataError listing the splits there are. */
export async function loadSplit(source: DataSource, split: string, imageSize: number, logger: Logger, maxPixels?: number): Promise<ImageSet> {
  await requireSplit(source, split);
  return source.load(split, { imageSize, logger, maxPixels });
}

/**
 * Opens `split` of `source` for training or evaluation: through the source's own `open` (in memory
 * or streamed, by `budgetBytes`) when it has one, otherwise loaded whole into memory.
 */
export async function openSourceSplit(source: DataSource, split: string, options: OpenOptions): Promise<SplitData> {
  if (source.open) return source.open(split, options);
  return memorySplit(await loadSplit(source, split, options.imageSize, options.logger, options.maxPixels), split);
}
