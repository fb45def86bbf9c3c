import type { Logger } from '../logger.js';
import type { DecodeItem } from './decode.js';

/**
 * A split decoded into memory: `count` RGB images of `size` x `size`, row-major, uint8, packed in
 * `images` (length count * size * size * 3), and their class indices in `labels`.
 */
export interface ImageSet {
  images: Uint8Array;
  labels: Int32Array;
  count: number;
  size: number;
  /** Class names; `labels` index into this. */
  classes: string[];
  /** Where each image came from (a path, or `synthetic:<i>`), for reports. */
  sources: string[];
  /** Files that could not be read, each with the reason. They are not in the set. */
  skipped: { path: string; reason: string }[];
}

export interface LoadOptions {
  imageSize: number;
  logger: Logger;
  /** Images whose header declares more pixels are skipped before decoding (`data.maxPixels`; default 40 MP). */
  maxPixels?: number;
}

/** A data source: a set of splits with one class list. */
export interface DataSource {
  /** A short description for logs, e.g. `imagefolder ../data/fer2013-mini`. */
  readonly description: string;
  /** The class names, in label order. */
  classes(): Promise<string[]>;
  /** The split names that exist (e.g. `train`, `test`). */
  splits(): Promise<string[]>;
  /** Decodes a split into memory. An empty split or class is an error. */
  load(split: string, options: LoadOptions): Promise<ImageSet>;
}

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

/** An error a person can act on, about data: names the file or folder at fault. */
export class DataError extends Error {
  constructor(message: string, readonly path?: string) {
    super(message);
    this.name = 'DataError';
  }
}

/** The canonical expression classes, in the order every fermix dataset maps its labels to. */
export const EXPRESSION_CLASSES = ['angry', 'disgust', 'fear', 'happy', 'neutral', 'sad', 'surprise'] as const;
export type ExpressionClass = (typeof EXPRESSION_CLASSES)[number];
