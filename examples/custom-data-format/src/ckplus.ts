/**
 * A CK+-style dataset: `<root>/<class>/S###_###_*.png`, where `S###` is the subject and the next
 * number the sequence (CK+'s file names, e.g. `S005_001_00000011.png`, with the peak frames sorted
 * into one folder per expression). There are no given splits: subjects are drawn into `test` with a
 * configurable fraction, and every image of a subject lands in the same split, so no face is seen in
 * training and test.
 */
import { readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { DataError, Rng } from '@fermix/core';
import { canonicalFolderClasses, canonicalOrder, fileListSource, type FileListSpec, type SplitFiles } from '@fermix/data';

export interface CkPlusOptions {
  root: string;
  /** Share of the subjects (not images) in `test`, in (0, 1): round(fraction x subjects), at least 1 each side. */
  testFraction?: number;
  /** Seeds the subject draw; the same seed gives the same split. */
  seed: number;
}

/** `S005_001_00000011.png`: subject 005, sequence 001. */
const FILE_NAME = /^S(\d{3})_(\d{3})_[^/\\]*\.png$/i;
export const CKPLUS_SPLITS = ['train', 'test'] as const;

interface Listed {
  path: string;
  subject: string;
  className: string;
}

/** Every image under root with its subject and class folder; a PNG whose name is not CK+'s is a DataError naming it. */
function listImages(root: string): Listed[] {
  if (!isDirectory(root)) throw new DataError(`ckplus: folder not found: ${root} (expected <root>/<class>/S###_###_*.png)`, root);
  const out: Listed[] = [];
  for (const className of sorted(readdirSync(root)).filter((n) => !n.startsWith('.') && isDirectory(path.join(root, n)))) {
    for (const name of sorted(readdirSync(path.join(root, className))).filter((n) => /\.png$/i.test(n) && !n.startsWith('.'))) {
      const match = FILE_NAME.exec(name);
      const file = path.join(root, className, name);
      if (!match) throw new DataError(`ckplus: ${file} is not named S###_###_*.png (subject, sequence), so its subject is unknown`, file);
      out.push({ path: file, subject: `S${match[1]}`, className });
    }
  }
  if (out.length === 0) throw new DataError(`ckplus: no S###_###_*.png images under ${root} (expected <root>/<class>/S###_###_*.png)`, root);
  return out;
}

/**
 * The test subjects: the sorted subjects shuffled by `seed`, the first round(fraction x n) of them
 * (at least one, and at least one left for training).
 */
export function testSubjects(subjects: readonly string[], fraction: number, seed: number): Set<string> {
  const unique = sorted([...new Set(subjects)]);
  if (unique.length < 2) throw new DataError(`ckplus: ${unique.length} subject found; a split by subject needs at least 2`);
  const count = Math.min(unique.length - 1, Math.max(1, Math.round(fraction * unique.length)));
  const order = new Rng(seed).fork('ckplus-subjects').permutation(unique.length);
  return new Set(Array.from(order.slice(0, count), (i) => unique[i]));
}

export function createCkPlusSource(options: CkPlusOptions) {
  const root = path.resolve(options.root);
  const fraction = options.testFraction ?? 0.2;
  if (!(fraction > 0 && fraction < 1)) throw new DataError(`ckplus: testFraction must be in (0, 1), got ${fraction}`);
  const description = `ckplus ${options.root}`;

  const layout = () => {
    const images = listImages(root);
    const folders = [...new Set(images.map((i) => i.className))];
    // Folders named after expressions (anger, Happy, sadness...) take fermix's canonical names and order.
    const canonical = canonicalFolderClasses(folders);
    const classOf = (folder: string) => canonical?.get(folder) ?? folder;
    const classes = canonicalOrder(folders.map(classOf)) ?? sorted(folders.map(classOf));
    const test = testSubjects(images.map((i) => i.subject), fraction, options.seed);
    return { images, classes, classOf, test };
  };

  const spec: FileListSpec = {
    description,
    classes: async () => layout().classes,
    splits: async () => [...CKPLUS_SPLITS],
    async files(split): Promise<SplitFiles> {
      if (!(CKPLUS_SPLITS as readonly string[]).includes(split)) throw new DataError(`${description}: no split "${split}" (the splits are ${CKPLUS_SPLITS.join(', ')})`);
      const { images, classes, classOf, test } = layout();
      const chosen = images.filter((i) => test.has(i.subject) === (split === 'test'));
      return {
        split,
        classes,
        items: chosen.map((i) => ({ path: i.path })),
        labels: Int32Array.from(chosen, (i) => classes.indexOf(classOf(i.className))),
        skipped: [],
        what: description,
      };
    },
  };
  return fileListSource(spec);
}

function sorted(names: string[]): string[] {
  return names.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
}

function isDirectory(p: string): boolean {
  try {
    return statSync(p).isDirectory();
  } catch {
    return false;
  }
}
