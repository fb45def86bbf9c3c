/**
 * Opens a split in memory or streamed, by a memory budget (`data.cacheMB`): the decoded size of a
 * split, count x size x size x 3 bytes, is known from its file list before anything is decoded.
 * A split that fits is decoded whole into an ImageSet as before (RAF-DB at 100x100: ~460 MB); one
 * that does not (AffectNet: ~290k images, ~8.7 GB at 100x100) is streamed from disk.
 */
import { classCounts, memorySplit, requireSplit, type Logger, type SplitData } from '@fermix/core';
import { decodeFiles, sharedDecodePool } from './decode-pool.js';
import { assembleImageSet, requireEveryClass } from './labels.js';
import { DataError, isFileListSource, type DataSource, type FileListSource, type ImageSet, type LoadOptions, type SplitFiles } from './source.js';
import { streamedSplit, type StreamOptions } from './stream.js';

export interface OpenSplitOptions extends Omit<StreamOptions, 'size'> {
  imageSize: number;
  /** Bytes of decoded pixels this split may keep in memory; over it, it is streamed. */
  budgetBytes: number;
}

const MB = 2 ** 20;

/** Opens `split` of `source`; an unknown split is a DataError listing the splits there are. */
export async function openSplit(source: DataSource, split: string, options: OpenSplitOptions): Promise<SplitData> {
  const { imageSize: size, logger } = options;
  await requireSplit(source, split);
  const loadOptions = { imageSize: size, logger, maxPixels: options.maxPixels };
  if (!isFileListSource(source)) {
    // Pixels that live in a CSV (fer2013-csv) or are drawn (synthetic) are loaded whole.
    const set = await source.load(split, loadOptions);
    if (set.images.byteLength > options.budgetBytes) {
      logger.info(`data ${split}: ${source.description} cannot be streamed from disk; holding ${mb(set.images.byteLength)} MB in memory (over the data.cacheMB budget left, ${mb(options.budgetBytes)} MB)`);
    }
    return memorySplit(set, split);
  }
  const files = await source.files(split, loadOptions);
  const bytes = files.items.length * size * size * 3;
  // Decoded from the listing just made: listing again (source.load) would re-read the label file or
  // CSV and log its missing files twice.
  if (bytes <= options.budgetBytes) return memorySplit(await loadListedFiles(files, size, logger, options.maxPixels), split);

  requireListedClasses(files.labels, files.classes, split, files.what);
  logger.info(
    `data ${split}: ${files.items.length} images at ${size}x${size} are ${mb(bytes)} MB decoded, over the data.cacheMB budget left (${mb(options.budgetBytes)} MB): streaming from disk, ${options.prefetch} batches ahead`,
    { split, images: files.items.length, mb: +mb(bytes) },
  );
  return streamedSplit(files, { ...options, size });
}

/** Decodes a split's listed files into memory, as the sources' own `load` does. */
async function loadListedFiles(files: SplitFiles, size: number, logger: Logger, maxPixels: number | undefined): Promise<ImageSet> {
  const results = await decodeFiles(files.items, size, { logger, maxPixels });
  const listed = files.items.map((item, i) => ({ path: item.path, label: files.labels[i] }));
  const set = assembleImageSet({ files: listed, results, size, classes: files.classes, split: files.split, what: files.what, skipped: files.skipped, logger });
  requireEveryClass(set, files.split, files.what);
  return set;
}

/** An empty split or class is an error before training, streamed or not (unreadable files show up later). */
function requireListedClasses(labels: Int32Array, classes: string[], split: string, what: string): void {
  if (labels.length === 0) throw new DataError(`${what}: split "${split}" has no images`);
  const counts = classCounts(labels, classes.length);
  const empty = classes.filter((_, c) => counts[c] === 0);
  if (empty.length > 0) throw new DataError(`${what}: split "${split}" has no images of class ${empty.join(', ')} (an empty class is an error before training)`);
}

function mb(bytes: number): string {
  return (bytes / MB).toFixed(bytes < 10 * MB ? 2 : 0);
}

/**
 * The source with an `open` that opens its splits as `openSplit` does (in memory or streamed from
 * disk, by the budget), so the trainer streams a split over `data.cacheMB`. Returns the same object.
 */
export function streamable<S extends DataSource>(source: S): S & Required<Pick<DataSource, 'open'>> {
  // The splits it streams share one pool of decode workers, stopped when the last of them closes.
  const pool = sharedDecodePool();
  return Object.assign(source, { open: (split: string, options: OpenSplitOptions) => openSplit(source, split, { pool, ...options }) });
}

/** What a file-based format must say about its data; `fileListSource` makes the rest. */
export interface FileListSpec {
  /** Names the source in logs and errors, e.g. `ckplus /data/CK+`. */
  description: string;
  classes(): Promise<string[]>;
  splits(): Promise<string[]>;
  /** The split's files and class indices, checked without decoding (an unknown split is a DataError). */
  files(split: string, options: LoadOptions): Promise<SplitFiles>;
}

/**
 * A complete data source from a format's file lists: `load` decodes the listed files in worker
 * threads into an ImageSet (unreadable files skipped and logged, an empty split or class an error),
 * and `open` streams a split over the memory budget. What a format of your own needs to write is the
 * listing (see docs/writing-a-data-format.md).
 */
export function fileListSource(spec: FileListSpec): FileListSource & Required<Pick<DataSource, 'open'>> {
  const source: FileListSource = {
    description: spec.description,
    classes: () => spec.classes(),
    splits: () => spec.splits(),
    files: (split, options) => spec.files(split, options),
    load: async (split, options) => loadListedFiles(await spec.files(split, options), options.imageSize, options.logger, options.maxPixels),
  };
  return streamable(source);
}
