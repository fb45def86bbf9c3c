/**
 * RAF-DB basic emotions: `<root>/EmoLabel/list_patition_label.txt` (lines `train_00001.jpg 5`,
 * labels 1..7 = surprise, fear, disgust, happiness, sadness, anger, neutral) and the aligned faces
 * `<root>/Image/aligned/<stem>_aligned.jpg`. The split is the name's prefix (`train_`, `test_`);
 * labels are mapped to the canonical expression classes.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { decodeFiles } from './decode-pool.js';
import {
  assembleImageSet,
  inventoryOfFiles,
  labelIndexTable,
  partitionMissing,
  RAFDB_BASIC_LABELS,
  requireEveryClass,
  unsafeEntryReason,
  type InventorySource,
  type LabelledFile,
  type OnMissing,
} from './labels.js';
import { DataError, EXPRESSION_CLASSES, type ImageSet, type LoadOptions } from './source.js';

export interface RafdbOptions {
  /** The folder holding EmoLabel/ and Image/. */
  root: string;
  /** Listed images that are not on disk: one DataError (default), or skipped with a warning. */
  onMissing?: OnMissing;
  /** Decode worker threads (see `decodeFiles`). */
  workers?: number;
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
    if (tokens.length !== 2) throw fail(`expected "<name>.jpg <label 1-7>", found "${content}"`);
    const [name, label] = tokens;
    const unsafe = unsafeEntryReason(name);
    if (unsafe) throw fail(`rejected entry: ${unsafe}`);
    if (!/^[1-7]$/.test(label)) throw fail(`label must be 1..7 (${RAFDB_BASIC_LABELS.join(', ')}), found "${label}"`);
    const split = SPLIT_PREFIXES.find(([, prefix]) => name.startsWith(prefix))?.[0];
    if (!split) throw fail(`"${name}" starts with neither train_ nor test_, so it belongs to no split`);
    const seen = firstLine.get(name);
    if (seen !== undefined) throw fail(`duplicate entry "${name}" (first on line ${seen})`);
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

export function createRafdbSource(options: RafdbOptions): InventorySource {
  const root = path.resolve(options.root);
  const what = `rafdb ${options.root}`;
  const classes = [...EXPRESSION_CLASSES];
  const labelOf = labelIndexTable(RAFDB_BASIC_LABELS, classes);

  const entries = () => parseRafdbLabels(readLabelFile(root), path.join(root, RAFDB_LABEL_FILE));
  const filesOf = (split: string): LabelledFile[] => {
    const all = entries();
    const chosen = all.filter((e) => e.split === split);
    if (chosen.length === 0) {
      const found = splitsOf(all);
      throw new DataError(`${what}: no split "${split}" in ${RAFDB_LABEL_FILE} (splits: ${found.join(', ') || 'none'})`);
    }
    return chosen.map((e) => ({ path: rafdbImagePath(root, e.name), label: labelOf[e.code - 1] }));
  };

  return {
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
        { workers: options.workers, logger },
      );
      const set = assembleImageSet({ files: present, results, size, classes: [...classes], split, what, skipped, logger });
      requireEveryClass(set, split, what);
      logger.debug(`loaded split "${split}": ${set.count} images, ${classes.length} classes, ${size}x${size}`, { ms: Date.now() - started });
      return set;
    },
    async inventory(split: string) {
      return inventoryOfFiles(split, [...classes], filesOf(split));
    },
  };
}

function splitsOf(entries: RafdbEntry[]): string[] {
  return SPLIT_PREFIXES.map(([split]) => split).filter((split) => entries.some((e) => e.split === split));
}

function readLabelFile(root: string): string {
  const file = path.join(root, RAFDB_LABEL_FILE);
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    const reason = (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'not found' : `unreadable (${(err as Error).message})`;
    throw new DataError(`RAF-DB label file ${reason}: ${file} (expected ${LAYOUT})`, file);
  }
}
