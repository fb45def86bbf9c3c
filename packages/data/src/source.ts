/**
 * The data-source interfaces this package implements (from @fermix/core), and what its file-based
 * formats add: a split as a list of files, known before decoding, which is what streaming needs.
 */
import type { DataSource, LoadOptions } from '@fermix/core';
import type { DecodeItem } from './decode.js';

export { DataError, EXPRESSION_CLASSES, type DataSource, type ExpressionClass, type ImageSet, type LoadOptions } from '@fermix/core';

/**
 * A split as files to decode, known before decoding anything: what streaming from disk needs
 * (stream.ts), and what sizes the in-memory cache (count x size x size x 3 bytes).
 */
export interface SplitFiles {
  split: string;
  classes: string[];
  /** The files on disk, in the order `load` would put them in its ImageSet when all decode. */
  items: DecodeItem[];
  /** Class index of each item. */
  labels: Int32Array;
  /** Listed files left out before decoding (missing, with data.onMissing: skip). */
  skipped: { path: string; reason: string }[];
  /** Names the source in messages, e.g. `affectnet /data/AffectNet`. */
  what: string;
}

/** A data source whose splits are image files, so they can be streamed from disk batch by batch. */
export interface FileListSource extends DataSource {
  /** The split's files and labels, with the same checks as `load` that need no decoding. */
  files(split: string, options: LoadOptions): Promise<SplitFiles>;
}

export function isFileListSource(source: DataSource): source is FileListSource {
  return typeof (source as Partial<FileListSource>).files === 'function';
}
