/**
 * AffectNet (manually annotated part): `<root>/training.csv` and `<root>/validation.csv` (splits
 * `train` and `val`; AffectNet has no public test set) with the columns
 * `subDirectory_filePath,face_x,face_y,face_width,face_height,facial_landmarks,expression,valence,arousal`,
 * and the images under `<root>/Manually_Annotated_Images/<subDirectory_filePath>`.
 *
 * Each image is decoded, cropped to its face box and resized. Expression codes 0..7 = neutral,
 * happy, sad, surprise, fear, disgust, anger, contempt are mapped to the canonical classes
 * (8-class mode adds contempt last); codes 8 None, 9 Uncertain and 10 No-Face are dropped, and so
 * is contempt in 7-class mode.
 */
import { existsSync, statSync } from 'node:fs';
import path from 'node:path';
import type { Logger } from '@fermix/core';
import { imageCodec, type DecodedImage, type FaceBox } from './decode.js';
import { decodeFiles } from './decode-pool.js';
import { headerColumns, readLines, requireFile, splitCsvLine } from './fer2013-csv.js';
import {
  AFFECTNET_LABELS,
  assembleImageSet,
  EXPRESSION_CLASSES_WITH_CONTEMPT,
  inventoryOfFiles,
  labelIndexTable,
  partitionMissing,
  quoted,
  requireEveryClass,
  unsafeEntryReason,
  type InventorySource,
  type LabelledFile,
  type OnMissing,
} from './labels.js';
import { DataError, EXPRESSION_CLASSES, type FileListSource, type ImageSet, type LoadOptions, type SplitFiles } from './source.js';
import { fivePointsFrom68, type FivePoints, type LandmarkDetector } from './align.js';
import type { AlignConfig, AlignItem, AlignableSource } from './align-files.js';
import { alignedSource } from './aligned-source.js';
import { streamable } from './open-split.js';

export type { FaceBox } from './decode.js';

export interface AffectNetOptions {
  /** The folder holding training.csv, validation.csv and Manually_Annotated_Images/. */
  root: string;
  /** 7: the canonical classes (contempt dropped); 8: contempt added last. Default 7. */
  classes?: 7 | 8;
  /** Listed images that are not on disk: one DataError (default), or skipped with a warning. */
  onMissing?: OnMissing;
  /** Decode worker threads (see `decodeFiles`); default picks by job size and cores. */
  workers?: number;
  /**
   * Align the whole images by five landmarks instead of cropping the face box (`data.align`): from
   * the CSV's 68 `facial_landmarks` (`dataset`) or a face-landmark model (`model`).
   */
  align?: AlignConfig & { detector?: LandmarkDetector };
}

/**
 * The five alignment points of a row's `facial_landmarks` (68 points, `x;y;x;y;...` in image
 * pixels). A DataError names what is wrong with it.
 */
export function affectNetFivePoints(text: string): FivePoints {
  const values = text.split(';').map((v) => v.trim());
  if (values.length !== 136) throw new DataError(`facial_landmarks must hold 68 points (136 numbers separated by ";"), found ${values.length} values`);
  const numbers = values.map(Number);
  const bad = values.findIndex((v, i) => v === '' || !Number.isFinite(numbers[i]));
  if (bad >= 0) throw new DataError(`facial_landmarks value ${bad + 1} is not a number, found ${quoted(values[bad])}`);
  return fivePointsFrom68(Array.from({ length: 68 }, (_, i) => ({ x: numbers[2 * i], y: numbers[2 * i + 1] })));
}

/** One kept row of an AffectNet CSV. */
export interface AffectNetSample extends LabelledFile {
  box: FaceBox;
  /** The row's `facial_landmarks` text (68 points as `x;y;x;y;...`), when the CSV has the column. */
  landmarks?: string;
  /** 1-based line in the CSV. */
  line: number;
}

const CSV_OF_SPLIT: Readonly<Record<string, string>> = { train: 'training.csv', val: 'validation.csv' };
/** Where the images are; the second is how the archive unpacks. */
const IMAGE_DIRS = ['Manually_Annotated_Images', 'Manually_Annotated/Manually_Annotated_Images'];
const REQUIRED_COLUMNS = ['subdirectory_filepath', 'face_x', 'face_y', 'face_width', 'face_height', 'expression'] as const;
/** Codes 8 None, 9 Uncertain, 10 No-Face. */
const MAX_CODE = 10;

/**
 * The face box cut out of an image. The box is clipped to the image; one that lies entirely
 * outside it is an error (the file is then skipped as unreadable). Decoding runs this same code in
 * the worker threads (decode.ts), so crops are made off the main thread.
 */
export function cropImage(img: DecodedImage, box: FaceBox): DecodedImage {
  return imageCodec.cropImage(img, box);
}

/**
 * Reads an AffectNet CSV: the kept rows (with the class index into `classes`) and how many were
 * dropped. A malformed row, or a path leaving the images folder, is a DataError naming its line.
 */
export async function readAffectNetCsv(
  file: string,
  imagesDir: string,
  classes: readonly string[],
): Promise<{ samples: AffectNetSample[]; dropped: number }> {
  requireFile(file, 'AffectNet CSV');
  const labelOf = labelIndexTable(AFFECTNET_LABELS, classes);
  const samples: AffectNetSample[] = [];
  let dropped = 0;
  let columns: number[] | undefined;
  let fieldCount = 0;
  let landmarksColumn: number | undefined;
  for await (const { text, line } of readLines(file)) {
    if (text.trim() === '') continue;
    const fail = (why: string) => new DataError(`${file}:${line}: ${why}`, file);
    const fields = splitCsvLine(text);
    if (!columns) {
      const byName = headerColumns(fields);
      if (!REQUIRED_COLUMNS.every((c) => byName.has(c))) {
        throw fail(`expected a header with subDirectory_filePath, face_x, face_y, face_width, face_height and expression, found ${quoted(text, 120)}`);
      }
      columns = REQUIRED_COLUMNS.map((c) => byName.get(c)!);
      landmarksColumn = byName.get('facial_landmarks');
      fieldCount = fields.length;
      continue;
    }
    if (fields.length !== fieldCount) throw fail(`expected ${fieldCount} fields, found ${fields.length}`);
    const [entry, x, y, width, height, expression] = columns.map((c) => fields[c].trim());
    if (!/^\d+$/.test(expression) || Number(expression) > MAX_CODE) throw fail(`expression must be an integer 0..${MAX_CODE}, found ${quoted(expression)}`);
    const unsafe = unsafeEntryReason(entry);
    if (unsafe) throw fail(`rejected entry: ${unsafe}`);
    const code = Number(expression);
    const label = code < labelOf.length ? labelOf[code] : -1;
    if (label < 0) {
      dropped++;
      continue;
    }
    const box = { x: Number(x), y: Number(y), width: Number(width), height: Number(height) };
    const bad = badBox(box, [x, y, width, height]);
    if (bad) throw fail(bad);
    const landmarks = landmarksColumn === undefined ? undefined : fields[landmarksColumn].trim();
    samples.push({ path: path.join(imagesDir, entry), label, box, line, ...(landmarks ? { landmarks } : {}) });
  }
  if (!columns) throw new DataError(`${file}: empty AffectNet CSV (expected a header and rows)`, file);
  return { samples, dropped };
}

function badBox(box: FaceBox, texts: string[]): string | undefined {
  const values = [box.x, box.y, box.width, box.height];
  const at = values.findIndex((v, i) => texts[i] === '' || !Number.isFinite(v));
  if (at >= 0) return `${['face_x', 'face_y', 'face_width', 'face_height'][at]} is not a number, found ${quoted(texts[at])}`;
  if (!(box.width > 0 && box.height > 0)) return `face box must have a positive size, found ${box.width}x${box.height}`;
  return undefined;
}

/** Without `align`: a source that loads or streams its files. With it: one that aligns them on load. */
export function createAffectNetSource(options: AffectNetOptions & { align?: undefined }): InventorySource & FileListSource;
export function createAffectNetSource(options: AffectNetOptions): (InventorySource & FileListSource) | (InventorySource & AlignableSource);
export function createAffectNetSource(options: AffectNetOptions): (InventorySource & FileListSource) | (InventorySource & AlignableSource) {
  const root = path.resolve(options.root);
  const mode = options.classes ?? 7;
  if (mode !== 7 && mode !== 8) throw new DataError(`AffectNet classes must be 7 or 8, got ${String(mode)}`);
  const what = `affectnet ${options.root}`;
  const classes: string[] = mode === 8 ? [...EXPRESSION_CLASSES_WITH_CONTEMPT] : [...EXPRESSION_CLASSES];
  const imagesDir = () => IMAGE_DIRS.map((d) => path.join(root, d)).find(isDirectory) ?? path.join(root, IMAGE_DIRS[0]);

  const samplesOf = async (split: string, logger?: Logger): Promise<AffectNetSample[]> => {
    const csv = CSV_OF_SPLIT[split];
    if (!csv || !existsSync(path.join(root, csv))) {
      throw new DataError(`${what}: no split "${split}" (splits: ${splitsIn(root).join(', ') || 'none'}; expected ${describeLayout(root)})`, path.join(root, csv ?? ''));
    }
    const { samples, dropped } = await readAffectNetCsv(path.join(root, csv), imagesDir(), classes);
    logger?.info(`${what}: ${csv}: ${samples.length} faces, ${dropped} rows dropped (None, Uncertain, No-Face${mode === 7 ? ', contempt' : ''})`, { split, dropped });
    return samples;
  };

  /** The listed samples whose files exist (missing ones: an error, or skipped with data.onMissing: skip). */
  const presentSamples = async (split: string, size: number, logger: Logger) => {
    if (!Number.isInteger(size) || size < 1) throw new Error(`imageSize must be a positive integer, got ${size}`);
    const listed = await samplesOf(split, logger);
    if (!isDirectory(imagesDir())) throw new DataError(`${what}: images folder not found: ${imagesDir()} (expected ${describeLayout(root)})`, imagesDir());
    return partitionMissing(listed, { root, what, onMissing: options.onMissing ?? 'error', logger });
  };

  const plain: InventorySource & FileListSource = {
    description: what,
    async classes() {
      return [...classes];
    },
    async splits() {
      const found = splitsIn(root);
      if (found.length === 0) throw new DataError(`${what}: no AffectNet CSVs found (expected ${describeLayout(root)})`, root);
      return found;
    },
    async load(split: string, { imageSize: size, logger, maxPixels }: LoadOptions): Promise<ImageSet> {
      const started = Date.now();
      const { present, skipped } = await presentSamples(split, size, logger);
      // Decode + crop + resize in worker threads (large JPEGs with sharp when installed).
      const results = await decodeFiles(present.map(({ path: p, box }) => ({ path: p, box })), size, { workers: options.workers, logger, maxPixels });
      const set = assembleImageSet({ files: present, results, size, classes: [...classes], split, what, skipped, logger });
      requireEveryClass(set, split, what);
      logger.debug(`loaded split "${split}": ${set.count} images, ${classes.length} classes, ${size}x${size}`, { ms: Date.now() - started });
      return set;
    },
    async inventory(split: string) {
      return inventoryOfFiles(split, [...classes], await samplesOf(split));
    },
    async files(split: string, { imageSize: size, logger }: LoadOptions): Promise<SplitFiles> {
      const { present, skipped } = await presentSamples(split, size, logger);
      return {
        split,
        classes: [...classes],
        items: present.map(({ path: p, box }) => ({ path: p, box })),
        labels: Int32Array.from(present, (s) => s.label),
        skipped,
        what,
      };
    },
  };
  if (!options.align) return streamable(plain);

  const align = options.align;
  const onMissing = options.onMissing ?? 'error';
  const description = `${what} (whole images aligned, landmarks from ${align.landmarks === 'dataset' ? 'the CSV\'s facial_landmarks' : 'a model'}, ${align.size}x${align.size})`;
  return alignedSource({
    base: plain,
    description,
    align,
    detectorHint: 'createAffectNetSource({ align: { detector } })',
    inventory: plain.inventory,
    async alignPlan(split, logger) {
      // The size only matters to the checks of presentSamples; alignment decodes at full size.
      const { present, skipped } = await presentSamples(split, align.size, logger);
      if (align.landmarks === 'model') return { classes: [...classes], items: present.map(({ path: p, label }) => ({ path: p, label })), skipped };
      const items: AlignItem[] = [];
      const csv = path.join(root, CSV_OF_SPLIT[split]);
      for (const sample of present) {
        try {
          if (!sample.landmarks) throw new DataError('no facial_landmarks in this row (or no such column in the CSV); use data.align.landmarks: model');
          items.push({ path: sample.path, label: sample.label, points: affectNetFivePoints(sample.landmarks), landmarksFile: `${csv}:${sample.line}` });
        } catch (err) {
          const reason = `${csv}:${sample.line}: ${(err as Error).message}`;
          if (onMissing === 'error') throw new DataError(`${what}: ${reason} (set data.onMissing: skip to skip such rows)`, csv);
          skipped.push({ path: sample.path, reason });
        }
      }
      const unusable = present.length - items.length;
      if (unusable > 0) logger.warn(`${what}: skipping ${unusable} rows of split "${split}" without usable facial_landmarks (data.onMissing: skip)`, { skipped: unusable });
      return { classes: [...classes], items, skipped };
    },
  }) as InventorySource & AlignableSource;
}

function splitsIn(root: string): string[] {
  return Object.entries(CSV_OF_SPLIT)
    .filter(([, csv]) => existsSync(path.join(root, csv)))
    .map(([split]) => split);
}

function describeLayout(root: string): string {
  return `${path.join(root, 'training.csv')}, ${path.join(root, 'validation.csv')} and ${path.join(root, IMAGE_DIRS[0])}/<subDirectory_filePath>`;
}

function isDirectory(p: string): boolean {
  try {
    return statSync(p).isDirectory();
  } catch {
    return false;
  }
}
