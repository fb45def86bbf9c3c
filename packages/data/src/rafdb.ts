/**
 * RAF-DB basic emotions: `<root>/EmoLabel/list_patition_label.txt` (lines `train_00001.jpg 5`,
 * labels 1..7 = surprise, fear, disgust, happiness, sadness, anger, neutral) and the aligned faces
 * `<root>/Image/aligned/<stem>_aligned.jpg`. The split is the name's prefix (`train_`, `test_`);
 * labels are mapped to the canonical expression classes.
 *
 * With `align`, the source reads the original images `<root>/Image/original/<name>` instead and
 * aligns each by five landmarks: RAF-DB's own `Annotation/manual/<stem>_manu_attri.txt`
 * (`landmarks: 'dataset'`), or a LandmarkDetector (`landmarks: 'model'`).
 */
import { readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import type { Logger } from '@fermix/core';
import type { LandmarkDetector } from './align.js';
import { type AlignConfig, type AlignItem, type AlignPlan, type AlignableSource } from './align-files.js';
import { alignedSource } from './aligned-source.js';
import { decodeFiles } from './decode-pool.js';
import {
  assembleImageSet,
  createFileIndex,
  firstFew,
  inventoryOfFiles,
  labelIndexTable,
  partitionMissing,
  quoted,
  RAFDB_BASIC_LABELS,
  requireEveryClass,
  unsafeEntryReason,
  type InventorySource,
  type LabelledFile,
  type OnMissing,
} from './labels.js';
import { parseRafdbLandmarks, rafdbAnnotationPath, rafdbOriginalPath, RAFDB_ANNOTATION_DIR, RAFDB_ORIGINAL_DIR } from './rafdb-annotations.js';
import { DataError, EXPRESSION_CLASSES, type FileListSource, type ImageSet, type LoadOptions, type SplitFiles } from './source.js';
import { streamable } from './open-split.js';

export interface RafdbOptions {
  /** The folder holding EmoLabel/ and Image/. */
  root: string;
  /** Listed images that are not on disk: one DataError (default), or skipped with a warning. */
  onMissing?: OnMissing;
  /** Decode worker threads (see `decodeFiles`). */
  workers?: number;
  /**
   * Align the original images instead of reading RAF-DB's aligned ones (`data.align`). With
   * `landmarks: 'model'`, `detector` finds the landmarks (e.g. @fermix/landmarks'
   * createFaceLandmarker); without one, loading a split is an error that says to run `fermix prepare`.
   */
  align?: AlignConfig & { detector?: LandmarkDetector };
}

export const RAFDB_LABEL_FILE = 'EmoLabel/list_patition_label.txt';
export const RAFDB_IMAGE_DIR = 'Image/aligned';
const LAYOUT = `<root>/${RAFDB_LABEL_FILE} and <root>/${RAFDB_IMAGE_DIR}/<stem>_aligned.jpg`;
const SPLIT_PREFIXES = [
  ['train', 'train_'],
  ['test', 'test_'],
] as const;

/** One line of the label file. */
export interface RafdbEntry {
  /** As written, e.g. `train_00001.jpg`. */
  name: string;
  split: 'train' | 'test';
  /** RAF-DB's code, 1..7. */
  code: number;
  /** 1-based line number in the label file. */
  line: number;
}

/**
 * Parses the label file's text. Throws a DataError naming `file:line` for a malformed line, an
 * entry outside the dataset (`../x.jpg`, an absolute path), an unknown split prefix or a duplicate.
 */
export function parseRafdbLabels(text: string, file: string): RafdbEntry[] {
  const entries: RafdbEntry[] = [];
  const firstLine = new Map<string, number>();
  text.split('\n').forEach((raw, i) => {
    const line = i + 1;
    const content = raw.trim();
    if (content === '') return;
    const fail = (why: string) => new DataError(`${file}:${line}: ${why}`, file);
    const tokens = content.split(/\s+/);
    if (tokens.length !== 2) throw fail(`expected "<name>.jpg <label 1-7>", found ${quoted(content)}`);
    const [name, label] = tokens;
    const unsafe = unsafeEntryReason(name);
    if (unsafe) throw fail(`rejected entry: ${unsafe}`);
    if (!/^[1-7]$/.test(label)) throw fail(`label must be 1..7 (${RAFDB_BASIC_LABELS.join(', ')}), found ${quoted(label)}`);
    const split = SPLIT_PREFIXES.find(([, prefix]) => name.startsWith(prefix))?.[0];
    if (!split) throw fail(`${quoted(name)} starts with neither train_ nor test_, so it belongs to no split`);
    const seen = firstLine.get(name);
    if (seen !== undefined) throw fail(`duplicate entry ${quoted(name)} (first on line ${seen})`);
    firstLine.set(name, line);
    entries.push({ name, split, code: Number(label), line });
  });
  return entries;
}

/** Where an entry's aligned face is: `train_00001.jpg` → `<root>/Image/aligned/train_00001_aligned.jpg`. */
export function rafdbImagePath(root: string, name: string): string {
  const stem = name.slice(0, name.length - path.posix.extname(name).length);
  return path.join(root, RAFDB_IMAGE_DIR, `${stem}_aligned.jpg`);
}

export function createRafdbSource(options: RafdbOptions): (InventorySource & FileListSource) | (InventorySource & AlignableSource) {
  const root = path.resolve(options.root);
  const what = `rafdb ${options.root}`;
  const classes = [...EXPRESSION_CLASSES];
  const labelOf = labelIndexTable(RAFDB_BASIC_LABELS, classes);

  const entries = () => parseRafdbLabels(readLabelFile(root), path.join(root, RAFDB_LABEL_FILE));
  const entriesOf = (split: string): RafdbEntry[] => {
    const all = entries();
    const chosen = all.filter((e) => e.split === split);
    if (chosen.length === 0) {
      const found = splitsOf(all);
      throw new DataError(`${what}: no split "${split}" in ${RAFDB_LABEL_FILE} (splits: ${found.join(', ') || 'none'})`);
    }
    return chosen;
  };
  const filesOf = (split: string): LabelledFile[] => entriesOf(split).map((e) => ({ path: rafdbImagePath(root, e.name), label: labelOf[e.code - 1] }));

  const plain: InventorySource & FileListSource = {
    description: what,
    async classes() {
      return [...classes];
    },
    async splits() {
      return splitsOf(entries());
    },
    async load(split: string, loadOptions: LoadOptions): Promise<ImageSet> {
      const { imageSize: size, logger } = loadOptions;
      if (!Number.isInteger(size) || size < 1) throw new Error(`imageSize must be a positive integer, got ${size}`);
      const started = Date.now();
      const listed = filesOf(split);
      const { present, skipped } = partitionMissing(listed, { root, what, onMissing: options.onMissing ?? 'error', logger });
      const results = await decodeFiles(
        present.map((f) => f.path),
        size,
        { workers: options.workers, logger, maxPixels: loadOptions.maxPixels },
      );
      const set = assembleImageSet({ files: present, results, size, classes: [...classes], split, what, skipped, logger });
      requireEveryClass(set, split, what);
      logger.debug(`loaded split "${split}": ${set.count} images, ${classes.length} classes, ${size}x${size}`, { ms: Date.now() - started });
      return set;
    },
    async inventory(split: string) {
      return inventoryOfFiles(split, [...classes], filesOf(split));
    },
    /** The split's aligned faces in label-file order, so a split over the memory budget streams from disk. */
    async files(split: string, loadOptions: LoadOptions): Promise<SplitFiles> {
      const { imageSize: size, logger } = loadOptions;
      if (!Number.isInteger(size) || size < 1) throw new Error(`imageSize must be a positive integer, got ${size}`);
      const { present, skipped } = partitionMissing(filesOf(split), { root, what, onMissing: options.onMissing ?? 'error', logger });
      return { split, classes: [...classes], items: present.map((f) => ({ path: f.path })), labels: Int32Array.from(present, (f) => f.label), skipped, what };
    },
  };
  if (!options.align) return streamable(plain);

  const align = options.align;
  const alignWhat = `${what} (aligned from ${RAFDB_ORIGINAL_DIR}, ${align.landmarks === 'dataset' ? `landmarks from ${RAFDB_ANNOTATION_DIR}` : 'landmarks from a model'}, ${align.size}x${align.size})`;
  /** An entry's original image and, with dataset landmarks, its annotation. */
  const requiredFiles = (e: RafdbEntry) => [rafdbOriginalPath(root, e.name), ...(align.landmarks === 'dataset' ? [rafdbAnnotationPath(root, e.name)] : [])];

  const alignPlan = async (split: string, logger: Logger): Promise<AlignPlan> => {
    const onMissing = options.onMissing ?? 'error';
    const exists = createFileIndex();
    const chosen = entriesOf(split);
    const skipped: AlignPlan['skipped'] = [];
    const missing: string[] = [];
    const items: (AlignItem & { name: string })[] = [];
    for (const e of chosen) {
      const absent = requiredFiles(e).filter((f) => !exists(f));
      if (absent.length > 0) {
        missing.push(...absent);
        for (const f of absent) skipped.push({ path: f, reason: f.endsWith('_manu_attri.txt') ? `landmark annotation not found (for ${e.name})` : 'file not found' });
        continue;
      }
      items.push({ path: rafdbOriginalPath(root, e.name), label: labelOf[e.code - 1], name: e.name });
    }
    if (missing.length > 0) {
      const names = missing.map((p) => path.relative(root, p));
      if (onMissing === 'error') {
        throw new DataError(
          `${what}: ${missing.length} files needed to align ${chosen.length} images of split "${split}" are missing under ${root}: ${firstFew(names)} ` +
            `(each image needs ${RAFDB_ORIGINAL_DIR}/<name>${align.landmarks === 'dataset' ? ` and ${RAFDB_ANNOTATION_DIR}/<stem>_manu_attri.txt` : ''}; set data.onMissing: skip to use the ones that exist)`,
          missing[0],
        );
      }
      logger.warn(`${what}: skipping ${chosen.length - items.length} of ${chosen.length} images of split "${split}" with missing files (data.onMissing: skip), e.g. ${firstFew(names, 3)}`, { missing: missing.length });
    }
    if (align.landmarks === 'dataset') {
      const malformed: string[] = [];
      const usable: AlignItem[] = [];
      for (const { name, ...item } of items) {
        const file = rafdbAnnotationPath(root, name);
        try {
          usable.push({ ...item, points: parseRafdbLandmarks(readFileSync(file, 'utf8'), file), landmarksFile: file });
        } catch (err) {
          if (onMissing === 'error') {
            throw err instanceof DataError ? new DataError(`${what}: malformed landmark annotation: ${err.message} (set data.onMissing: skip to skip such images)`, file) : err;
          }
          malformed.push(file);
          skipped.push({ path: file, reason: (err as Error).message });
        }
      }
      if (malformed.length > 0) {
        logger.warn(`${what}: skipping ${malformed.length} images of split "${split}" whose landmark annotation is malformed (data.onMissing: skip), e.g. ${firstFew(malformed.map((p) => path.relative(root, p)), 3)}`, { malformed: malformed.length });
      }
      return { classes: [...classes], items: usable, skipped };
    }
    return { classes: [...classes], items: items.map(({ name: _name, ...item }) => item), skipped };
  };

  return alignedSource({
    base: plain,
    description: alignWhat,
    align,
    alignPlan,
    detectorHint: 'createRafdbSource({ align: { detector } })',
    async inventory(split: string) {
      const chosen = entriesOf(split);
      const inventory = inventoryOfFiles(split, [...classes], chosen.map((e) => ({ path: rafdbOriginalPath(root, e.name), label: labelOf[e.code - 1] })));
      if (align.landmarks === 'dataset') {
        const exists = createFileIndex();
        for (const e of chosen) {
          const file = rafdbAnnotationPath(root, e.name);
          if (!exists(file)) inventory.missing.push({ path: file, reason: `landmark annotation not found (for ${e.name})` });
        }
      }
      return inventory;
    },
  }) as InventorySource & AlignableSource;
}

function splitsOf(entries: RafdbEntry[]): string[] {
  return SPLIT_PREFIXES.map(([split]) => split).filter((split) => entries.some((e) => e.split === split));
}

/** RAF-DB's label file is ~300 KB; one far larger is not it, and is not read into memory. */
const MAX_LABEL_FILE_BYTES = 64 * 2 ** 20;

function readLabelFile(root: string): string {
  const file = path.join(root, RAFDB_LABEL_FILE);
  try {
    const bytes = statSync(file).size;
    if (bytes > MAX_LABEL_FILE_BYTES) {
      throw new DataError(`RAF-DB label file too large: ${file} is ${(bytes / 2 ** 20).toFixed(0)} MB (RAF-DB's is about 300 KB; expected ${LAYOUT})`, file);
    }
    return readFileSync(file, 'utf8');
  } catch (err) {
    if (err instanceof DataError) throw err;
    const reason = (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'not found' : `unreadable (${(err as Error).message})`;
    throw new DataError(`RAF-DB label file ${reason}: ${file} (expected ${LAYOUT})`, file);
  }
}
