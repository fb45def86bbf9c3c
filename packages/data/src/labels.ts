/**
 * Canonical expression classes, and what the labelled dataset formats (RAF-DB, FER2013 CSV,
 * AffectNet) share: mapping their label codes to canonical names, refusing entries that point
 * outside the dataset, checking files exist cheaply, and assembling decoded files into an ImageSet.
 *
 * Every format maps its labels to `EXPRESSION_CLASSES` (angry, disgust, fear, happy, neutral, sad,
 * surprise; AffectNet's 8-class mode adds `contempt` at the end), so a model trained on one dataset
 * evaluates on another with the same label indices.
 */
import { readdirSync } from 'node:fs';
import path from 'node:path';
import type { Logger } from '@fermix/core';
import type { DecodeResult } from './decode-pool.js';
import { DataError, EXPRESSION_CLASSES, type DataSource, type ExpressionClass, type ImageSet } from './source.js';

export const CONTEMPT = 'contempt';
export type ExpressionName = ExpressionClass | typeof CONTEMPT;

/** The canonical classes plus contempt last: AffectNet's 8-class label order. */
export const EXPRESSION_CLASSES_WITH_CONTEMPT: readonly ExpressionName[] = [...EXPRESSION_CLASSES, CONTEMPT];

/** Other spellings datasets use for the canonical names (compared lower-case). */
const SYNONYMS: Readonly<Record<string, ExpressionName>> = {
  happiness: 'happy',
  sadness: 'sad',
  anger: 'angry',
  fearful: 'fear',
  disgusted: 'disgust',
  surprised: 'surprise',
};

/** Label codes as each dataset documents them, in code order. */
export const RAFDB_BASIC_LABELS = ['surprise', 'fear', 'disgust', 'happiness', 'sadness', 'anger', 'neutral'] as const; // codes 1..7
export const FER2013_LABELS = ['angry', 'disgust', 'fear', 'happy', 'sad', 'surprise', 'neutral'] as const; // codes 0..6
export const AFFECTNET_LABELS = ['neutral', 'happy', 'sad', 'surprise', 'fear', 'disgust', 'anger', 'contempt'] as const; // codes 0..7

/** The canonical name of a class name (any case, synonyms included), or undefined. */
export function canonicalExpression(name: string): ExpressionName | undefined {
  const key = name.trim().toLowerCase();
  if ((EXPRESSION_CLASSES_WITH_CONTEMPT as readonly string[]).includes(key)) return key as ExpressionName;
  return SYNONYMS[key];
}

/**
 * For each dataset label (in code order), its index in `classes`, or -1 when `classes` leaves it
 * out (contempt in a 7-class set).
 */
export function labelIndexTable(datasetLabels: readonly string[], classes: readonly string[]): Int32Array {
  return Int32Array.from(datasetLabels, (name) => {
    const canonical = canonicalExpression(name);
    if (!canonical) throw new Error(`no canonical expression for dataset label "${name}"`);
    return classes.indexOf(canonical);
  });
}

/**
 * Image folders: each folder name's canonical class when every name is an expression (any case or
 * synonym), otherwise null and the folder names stay as they are.
 */
export function canonicalFolderClasses(folderNames: Iterable<string>): Map<string, ExpressionName> | null {
  const map = new Map<string, ExpressionName>();
  for (const name of folderNames) {
    const canonical = canonicalExpression(name);
    if (!canonical) return null;
    map.set(name, canonical);
  }
  return map.size > 0 ? map : null;
}

/** `names` in canonical order (contempt last) when they are all canonical names, else null. */
export function canonicalOrder(names: readonly string[]): string[] | null {
  const order = EXPRESSION_CLASSES_WITH_CONTEMPT as readonly string[];
  if (!names.every((n) => order.includes(n))) return null;
  return order.filter((n) => names.includes(n));
}

// ---------------------------------------------------------------------------------------------
// Entries of label files and CSVs

/**
 * Text from a data file for a message: quoted, control characters (NUL...) escaped, at most `max`
 * characters, so a malformed line of any length gives a readable error.
 */
export function quoted(text: string, max = 80): string {
  return JSON.stringify(text.length > max ? `${text.slice(0, max)}...` : text);
}

/**
 * Why a relative file name from a label file or CSV must not be used, or undefined when it is
 * safe: it must stay inside the dataset (no absolute path, drive letter or `..` segment).
 */
export function unsafeEntryReason(entry: string): string | undefined {
  if (entry.length === 0) return 'empty file name';
  if (entry.includes('\0')) return 'file name contains a NUL character';
  if (path.posix.isAbsolute(entry) || path.win32.isAbsolute(entry) || /^[A-Za-z]:/.test(entry)) {
    return `absolute path ${quoted(entry)} (entries must be relative to the dataset)`;
  }
  if (entry.split(/[\\/]+/).includes('..')) return `${quoted(entry)} escapes the dataset root (contains "..")`;
  return undefined;
}

/** `a, b, c, d, e and 7 more` */
export function firstFew(names: readonly string[], n = 5): string {
  const shown = names.slice(0, n).join(', ');
  return names.length > n ? `${shown} and ${names.length - n} more` : shown;
}

/**
 * Whether files exist, with one directory listing per folder instead of one stat per file
 * (RAF-DB: 15k files in one folder; AffectNet: 400k files in ~1,000 folders).
 */
export function createFileIndex(): (file: string) => boolean {
  const listings = new Map<string, Set<string>>();
  return (file) => {
    const dir = path.dirname(file);
    let names = listings.get(dir);
    if (!names) {
      names = listFiles(dir);
      listings.set(dir, names);
    }
    return names.has(path.basename(file));
  };
}

function listFiles(dir: string): Set<string> {
  try {
    // Symlinks count: a dataset assembled from links is common. A link to a folder fails at decode.
    return new Set(readdirSync(dir, { withFileTypes: true }).filter((e) => !e.isDirectory()).map((e) => e.name));
  } catch {
    return new Set();
  }
}

// ---------------------------------------------------------------------------------------------
// Labelled files → ImageSet

/** One sample of a labelled dataset: its image file and its class index. */
export interface LabelledFile {
  path: string;
  label: number;
}

/** How a format treats listed images that are not on disk. */
export type OnMissing = 'error' | 'skip';

/**
 * Splits `files` into those on disk and those missing. With `onMissing: 'error'` any missing file
 * is one DataError naming the first few (relative to `root`) and the total; with `'skip'` they are
 * logged with a count and returned as skipped.
 */
export function partitionMissing<T extends LabelledFile>(
  files: T[],
  options: { root: string; what: string; onMissing: OnMissing; logger: Logger },
): { present: T[]; skipped: ImageSet['skipped'] } {
  const exists = createFileIndex();
  const present: T[] = [];
  const missingPaths: string[] = [];
  for (const file of files) {
    if (exists(file.path)) present.push(file);
    else missingPaths.push(file.path);
  }
  if (missingPaths.length === 0) return { present, skipped: [] };
  const names = missingPaths.map((p) => path.relative(options.root, p));
  if (options.onMissing === 'error') {
    throw new DataError(
      `${options.what}: ${missingPaths.length} of ${files.length} images are missing under ${options.root}: ${firstFew(names)} ` +
        '(set data.onMissing: skip to use the images that exist)',
      missingPaths[0],
    );
  }
  options.logger.warn(`${options.what}: skipping ${missingPaths.length} of ${files.length} missing images (data.onMissing: skip), e.g. ${firstFew(names, 3)}`, {
    missing: missingPaths.length,
  });
  return { present, skipped: missingPaths.map((p) => ({ path: p, reason: 'file not found' })) };
}

/** Unreadable files each get a warning up to this many; the rest a debug line each, and the summary's count. */
export const MAX_FILE_WARNINGS = 10;

/** The `nth` unreadable image of a split, by path: a warning for the first few, then debug lines. */
export function logUnreadable(logger: Logger, nth: number, file: string, reason: string): void {
  const log = nth <= MAX_FILE_WARNINGS ? logger.warn : logger.debug;
  log.call(logger, `skipping unreadable image ${file}: ${reason}`, { path: file, reason });
}

/**
 * Packs decoded images into an ImageSet. A failed decode is skipped with a warning (the first few
 * by name, then a count); `skipped` starts with files the caller already left out (missing).
 */
export function assembleImageSet(args: {
  files: LabelledFile[];
  results: DecodeResult[];
  size: number;
  classes: string[];
  split: string;
  what: string;
  skipped?: ImageSet['skipped'];
  logger: Logger;
}): ImageSet {
  const { files, results, size, logger } = args;
  const pixels = size * size * 3;
  const okCount = results.filter((r) => r.ok).length;
  const set: ImageSet = {
    images: new Uint8Array(okCount * pixels),
    labels: new Int32Array(okCount),
    count: 0,
    size,
    classes: args.classes,
    sources: [],
    skipped: [...(args.skipped ?? [])],
  };
  let unreadable = 0;
  results.forEach((result, i) => {
    if (result.ok) {
      set.images.set(result.data, set.count * pixels);
      set.labels[set.count++] = files[i].label;
      set.sources.push(files[i].path);
      return;
    }
    set.skipped.push({ path: files[i].path, reason: result.reason });
    logUnreadable(logger, ++unreadable, files[i].path, result.reason);
  });
  if (unreadable > 0) {
    logger.warn(`${args.what}: skipped ${unreadable} of ${files.length} unreadable images in split "${args.split}"`, { split: args.split, skipped: unreadable });
  }
  return set;
}

/** An empty split or class is an error before training, not a silently absent class in the metrics. */
export function requireEveryClass(set: ImageSet, split: string, what: string): void {
  if (set.count === 0) {
    throw new DataError(`${what}: split "${split}" has no usable images${set.skipped.length ? ` (${set.skipped.length} skipped)` : ''}`);
  }
  const counts = new Array<number>(set.classes.length).fill(0);
  for (const label of set.labels) counts[label]++;
  const empty = set.classes.filter((_, c) => counts[c] === 0);
  if (empty.length > 0) {
    throw new DataError(
      `${what}: split "${split}" has no usable images of class ${empty.join(', ')} ` +
        `(an empty class is an error before training${set.skipped.length ? `; ${set.skipped.length} images were skipped` : ''})`,
    );
  }
}

// ---------------------------------------------------------------------------------------------
// Inventories: what a split holds, without decoding it

/** A split as its labels describe it: cheap to compute for labelled formats (no decoding). */
export interface SplitInventory {
  split: string;
  classes: string[];
  /** Samples listed per class (index = label), missing ones included. */
  counts: number[];
  /** Listed image files that are not on disk, with the reason. */
  missing: { path: string; reason: string }[];
  /** The image files on disk, for a full decode check; absent when pixels live in the label file (CSV). */
  files?: string[];
}

/** A data source that can describe a split without decoding it (`fermix data`). */
export interface InventorySource extends DataSource {
  inventory(split: string): Promise<SplitInventory>;
}

export function hasInventory(source: DataSource): source is InventorySource {
  return typeof (source as Partial<InventorySource>).inventory === 'function';
}

/** The inventory of labelled files: counts per class and the files not on disk. */
export function inventoryOfFiles(split: string, classes: string[], files: LabelledFile[]): SplitInventory {
  const exists = createFileIndex();
  const counts = new Array<number>(classes.length).fill(0);
  const missing: SplitInventory['missing'] = [];
  const present: string[] = [];
  for (const file of files) {
    counts[file.label]++;
    if (exists(file.path)) present.push(file.path);
    else missing.push({ path: file.path, reason: 'file not found' });
  }
  return { split, classes, counts, missing, files: present };
}
