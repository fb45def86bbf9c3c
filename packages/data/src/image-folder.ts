/**
 * The image-folder data source: `<root>/<split>/<class>/*.{png,jpg,jpeg}`.
 *
 * Label indices come from the sorted union of class folder names over all splits, so `happy` has
 * the same index in train and test even if one split were listed first. A class that exists in some
 * split but is missing or empty in another is an error here, before training, rather than a
 * silently shifted or absent class in the metrics.
 *
 * When every class folder names an expression (any case, or a synonym such as `Happiness` or
 * `surprised`), the classes are the canonical names in canonical order (see labels.ts), so the
 * labels match the other fermix datasets; otherwise folder names are kept, in code-unit order.
 */
import { readdirSync, statSync, type Dirent } from 'node:fs';
import path from 'node:path';
import { decodeFiles } from './decode-pool.js';
import { assembleImageSet, canonicalFolderClasses, canonicalOrder, type InventorySource, type SplitInventory } from './labels.js';
import { DataError, type FileListSource, type ImageSet, type LoadOptions, type SplitFiles } from './source.js';
import type { LandmarkDetector } from './align.js';
import type { AlignConfig, AlignableSource } from './align-files.js';
import { alignedSource } from './aligned-source.js';
import { streamable } from './open-split.js';

export interface ImageFolderOptions {
  root: string;
  /** Decode worker threads (see `decodeFiles`); default picks by job size and cores. */
  workers?: number;
  /** Align every image by five landmarks from a face-landmark model (`data.align`, `landmarks: model`). */
  align?: AlignConfig & { detector?: LandmarkDetector };
}

const IMAGE_EXTENSION = /\.(png|jpe?g)$/i;
const EXPECTED = '<root>/<split>/<class>/*.png (or .jpg, .jpeg)';

/** A class folder of one split: its path and its image files, sorted. */
interface ClassFolder {
  dir: string;
  paths: string[];
}

/** The folder tree as found on disk: split name → class name → its folder. */
type Layout = Map<string, Map<string, ClassFolder>>;

/** Without `align`: a source that loads or streams its files. With it: one that aligns them on load. */
export function createImageFolderSource(options: ImageFolderOptions & { align?: undefined }): InventorySource & FileListSource;
export function createImageFolderSource(options: ImageFolderOptions): (InventorySource & FileListSource) | (InventorySource & AlignableSource);
export function createImageFolderSource(options: ImageFolderOptions): (InventorySource & FileListSource) | (InventorySource & AlignableSource) {
  const root = path.resolve(options.root);
  const plain: InventorySource & FileListSource = {
    description: `imagefolder ${options.root}`,
    async classes() {
      return classNames(scanLayout(root));
    },
    async splits() {
      return [...scanLayout(root).keys()];
    },
    async load(split: string, loadOptions: LoadOptions) {
      return loadSplit(root, split, `imagefolder ${options.root}`, loadOptions, options.workers);
    },
    async inventory(split: string) {
      return inventory(root, split);
    },
    async files(split: string, loadOptions: LoadOptions) {
      checkSize(loadOptions.imageSize);
      return splitFiles(root, split, `imagefolder ${options.root}`);
    },
  };
  if (!options.align) return streamable(plain);

  const align = options.align;
  if (align.landmarks !== 'model') {
    throw new DataError(`imagefolder ${options.root}: an image folder has no landmark annotation to align by; use data.align.landmarks: model`);
  }
  return alignedSource({
    base: plain,
    description: `imagefolder ${options.root} (aligned, landmarks from a model, ${align.size}x${align.size})`,
    align,
    detectorHint: 'createImageFolderSource({ align: { detector } })',
    inventory: plain.inventory,
    async alignPlan(split) {
      const files = splitFiles(root, split, `imagefolder ${options.root}`);
      return { classes: files.classes, items: files.items.map((item, i) => ({ path: item.path, label: files.labels[i] })), skipped: [] };
    },
  }) as InventorySource & AlignableSource;
}

function checkSize(size: number): void {
  if (!Number.isInteger(size) || size < 1) throw new Error(`imageSize must be a positive integer, got ${size}`);
}

/** The split's files in label order, then name order: the order `load` keeps. */
function splitFiles(root: string, split: string, what: string): SplitFiles {
  const layout = scanLayout(root);
  const classes = classNames(layout);
  const folders = filesOfSplit(root, split, layout, classes);
  return {
    split,
    classes,
    items: folders.flatMap((f) => f.paths.map((p) => ({ path: p }))),
    labels: Int32Array.from(folders.flatMap((f, label) => f.paths.map(() => label))),
    skipped: [],
    what,
  };
}

/** Files per class of a split, from the listing alone; a class folder this split lacks counts 0. */
function inventory(root: string, split: string): SplitInventory {
  const layout = scanLayout(root);
  const classes = classNames(layout);
  const folders = layout.get(split);
  if (!folders) throw new DataError(`split "${split}" not found in ${root} (expected ${EXPECTED}; splits found: ${[...layout.keys()].join(', ')})`, path.join(root, split));
  const counts = classes.map((name) => folders.get(name)?.paths.length ?? 0);
  const files = classes.flatMap((name) => folders.get(name)?.paths ?? []);
  return { split, classes, counts, missing: [], files };
}

async function loadSplit(root: string, split: string, what: string, options: LoadOptions, workers: number | undefined): Promise<ImageSet> {
  const { imageSize: size, logger } = options;
  checkSize(size);
  const layout = scanLayout(root);
  const classes = classNames(layout);
  const folders = filesOfSplit(root, split, layout, classes);
  const files = folders.flatMap((f, label) => f.paths.map((p) => ({ path: p, label })));
  const started = Date.now();
  const results = await decodeFiles(files.map((f) => f.path), size, { workers, logger, maxPixels: options.maxPixels });
  const set = assembleImageSet({ files, results, size, classes, split, what, logger });
  checkNoClassLost(set, folders, split);
  logger.debug(`loaded split "${split}": ${set.count} images, ${classes.length} classes, ${size}x${size}`, {
    ms: Date.now() - started,
  });
  return set;
}

/**
 * The image files of each class of `split`, in label order. Throws DataError for a missing split
 * and for a class folder that is missing or has no images while another split has that class.
 */
function filesOfSplit(root: string, split: string, layout: Layout, classes: string[]): { dir: string; paths: string[] }[] {
  const splitDir = path.join(root, split);
  const classDirs = layout.get(split);
  if (!classDirs) {
    const reason = isDirectory(splitDir) ? 'has no class folders' : 'not found';
    throw new DataError(
      `split "${split}" ${reason}: ${splitDir} (expected ${EXPECTED}; splits found: ${[...layout.keys()].join(', ')})`,
      splitDir,
    );
  }
  return classes.map((name) => {
    const folder = classDirs.get(name);
    if (!folder) {
      const dir = path.join(splitDir, name);
      throw new DataError(`class folder missing: ${dir} (other splits have class "${name}"; an empty class or split is an error before training)`, dir);
    }
    const { dir, paths } = folder;
    if (paths.length === 0) {
      throw new DataError(`class folder is empty: ${dir} (expected *.png, *.jpg or *.jpeg files; an empty class or split is an error before training)`, dir);
    }
    return { dir, paths };
  });
}

/** A class whose every file was unreadable is as empty as an empty folder. */
function checkNoClassLost(set: ImageSet, files: { dir: string }[], split: string): void {
  const counts = new Array<number>(files.length).fill(0);
  for (const label of set.labels) counts[label]++;
  const lost = counts.findIndex((n) => n === 0);
  if (lost >= 0) {
    throw new DataError(
      `class folder has no readable images: ${files[lost].dir} (all skipped in split "${split}"; an empty class or split is an error before training)`,
      files[lost].dir,
    );
  }
}

/**
 * Reads the tree. Splits are sorted subfolders of root holding at least one class folder. Class
 * folders are keyed by their canonical class when every folder names an expression.
 */
function scanLayout(root: string): Layout {
  if (!isDirectory(root)) {
    throw new DataError(`image folder not found: ${root} (expected ${EXPECTED})`, root);
  }
  const found = new Map<string, string[]>(); // split → class folder names
  for (const split of subfolders(root)) {
    const names = subfolders(path.join(root, split));
    if (names.length > 0) found.set(split, names);
  }
  if (found.size === 0) {
    throw new DataError(`no splits found in ${root} (expected ${EXPECTED})`, root);
  }
  const canonical = canonicalFolderClasses([...found.values()].flat());
  const layout: Layout = new Map();
  for (const [split, names] of found) {
    const classes = new Map<string, ClassFolder>();
    for (const name of names) {
      const dir = path.join(root, split, name);
      const className = canonical?.get(name) ?? name;
      const other = classes.get(className);
      if (other) {
        throw new DataError(`class folders ${other.dir} and ${dir} are both class "${className}"; merge them or rename one`, dir);
      }
      classes.set(className, { dir, paths: imageFiles(dir) });
    }
    layout.set(split, classes);
  }
  return layout;
}

/** The union of class names over splits: canonical order when all are expressions, else code-unit order. */
function classNames(layout: Layout): string[] {
  const names = new Set<string>();
  for (const classes of layout.values()) for (const name of classes.keys()) names.add(name);
  return canonicalOrder([...names]) ?? sortNames([...names]);
}

/** Code-unit order, not locale order: the same on every machine, so labels are reproducible. */
function sortNames(names: string[]): string[] {
  return names.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
}

function entries(dir: string): Dirent[] {
  try {
    return readdirSync(dir, { withFileTypes: true });
  } catch (err) {
    throw new DataError(`cannot read folder ${dir}: ${err instanceof Error ? err.message : String(err)}`, dir);
  }
}

/** Visible subfolders, sorted; hidden ones (.git, .cache) are not splits or classes. Follows symlinks. */
function subfolders(dir: string): string[] {
  const names = entries(dir)
    .filter((e) => !e.name.startsWith('.'))
    .filter((e) => e.isDirectory() || (e.isSymbolicLink() && isDirectory(path.join(dir, e.name))))
    .map((e) => e.name);
  return sortNames(names);
}

/**
 * Image files by extension (any case), sorted by name. Other files (notes, Thumbs.db) are ignored, and
 * so are dotfiles: macOS copies leave `._face.png` resource forks that are not images.
 */
function imageFiles(dir: string): string[] {
  const names = entries(dir)
    .filter((e) => IMAGE_EXTENSION.test(e.name) && !e.name.startsWith('.'))
    .filter((e) => e.isFile() || (e.isSymbolicLink() && !isDirectory(path.join(dir, e.name))))
    .map((e) => e.name);
  return sortNames(names).map((name) => path.join(dir, name));
}

function isDirectory(p: string): boolean {
  try {
    return statSync(p).isDirectory();
  } catch {
    return false;
  }
}
