import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import jpeg from 'jpeg-js';
import pngjs from 'pngjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createImageFolderSource } from '../src/image-folder.js';
import { openSplit } from '../src/open-split.js';
import {
  AFFECTNET_LABELS,
  canonicalExpression,
  canonicalFolderClasses,
  canonicalOrder,
  EXPRESSION_CLASSES_WITH_CONTEMPT,
  FER2013_LABELS,
  labelIndexTable,
  RAFDB_BASIC_LABELS,
} from '../src/labels.js';
import { createRafdbSource, parseRafdbLabels, rafdbImagePath, RAFDB_LABEL_FILE } from '../src/rafdb.js';
import { DataError, EXPRESSION_CLASSES } from '../src/source.js';
import { createMemoryLogger, silentLogger } from '@fermix/core';

/** A flat gray 8x8 JPEG whose level tells the RAF-DB code 1..7 back: 30 * code. */
const jpegOfCode = Array.from({ length: 8 }, (_, code) => {
  const data = Buffer.alloc(8 * 8 * 4, 30 * code);
  return jpeg.encode({ width: 8, height: 8, data }, 95).data;
});
const codeOfLevel = (v: number) => Math.round(v / 30);

const roots: string[] = [];
afterAll(() => roots.forEach((r) => rmSync(r, { recursive: true, force: true })));

/** A RAF-DB root with this label file text and the aligned images of `withImages` entries. */
function rafdbRoot(labels: string, withImages: (name: string) => boolean = () => true): string {
  const root = mkdtempSync(path.join(tmpdir(), 'fermix-rafdb-'));
  roots.push(root);
  mkdirSync(path.join(root, 'EmoLabel'), { recursive: true });
  mkdirSync(path.join(root, 'Image/aligned'), { recursive: true });
  writeFileSync(path.join(root, RAFDB_LABEL_FILE), labels);
  writeImages(root, labels, withImages);
  return root;
}

function writeImages(root: string, labels: string, withImages: (name: string) => boolean): void {
  for (const line of labels.split('\n')) {
    const [name, code] = line.trim().split(/\s+/);
    if (name && /^[1-7]$/.test(code) && !name.includes('..') && !path.isAbsolute(name) && withImages(name)) {
      writeFileSync(rafdbImagePath(root, name), jpegOfCode[Number(code)]);
    }
  }
}

function errorOf(fn: () => Promise<unknown>): Promise<Error> {
  return fn().then(
    () => {
      throw new Error('expected a rejection');
    },
    (err: Error) => err,
  );
}

/** One train and one test image per class, codes 1..7. */
const SMALL = [1, 2, 3, 4, 5, 6, 7].flatMap((c) => [`train_0000${c}.jpg ${c}`, `test_0000${c}.jpg ${c}`]).join('\n');

describe('RAF-DB label file', () => {
  it('parses names, splits and codes', () => {
    expect(parseRafdbLabels('train_00001.jpg 5\r\ntest_00002.jpg 1\n\n', 'f')).toEqual([
      { name: 'train_00001.jpg', split: 'train', code: 5, line: 1 },
      { name: 'test_00002.jpg', split: 'test', code: 1, line: 2 },
    ]);
  });

  it.each([
    ['train_1.jpg 5\n../x.jpg 3', /f:2: rejected entry: "..\/x.jpg" escapes the dataset root/],
    ['train_1.jpg 5\n/etc/passwd 3', /f:2: rejected entry: absolute path/],
    ['train_1.jpg 5\nC:\\x.jpg 3', /f:2: rejected entry: absolute path/],
    ['train_1.jpg 5\ntrain_2.jpg 8', /f:2: label must be 1..7/],
    ['train_1.jpg 5\ntrain_2.jpg', /f:2: expected "<name>.jpg <label 1-7>"/],
    ['train_1.jpg 5\nval_2.jpg 1', /f:2: "val_2.jpg" starts with neither train_ nor test_/],
    ['train_1.jpg 5\n\ntrain_1.jpg 4', /f:3: duplicate entry "train_1.jpg" \(first on line 1\)/],
  ])('rejects %j naming the line', (text, message) => {
    expect(() => parseRafdbLabels(text, 'f')).toThrow(DataError);
    expect(() => parseRafdbLabels(text, 'f')).toThrow(message);
  });

  it('maps an entry to its aligned image', () => {
    expect(rafdbImagePath('/r', 'train_00001.jpg')).toBe(path.join('/r', 'Image/aligned/train_00001_aligned.jpg'));
  });
});

describe('createRafdbSource', () => {
  it('loads a split with labels mapped to the canonical classes', async () => {
    const source = createRafdbSource({ root: rafdbRoot(SMALL) });
    expect(await source.classes()).toEqual([...EXPRESSION_CLASSES]);
    expect(await source.splits()).toEqual(['train', 'test']);
    const set = await source.load('test', { imageSize: 4, logger: silentLogger });
    expect(set.count).toBe(7);
    const canonical = ['surprise', 'fear', 'disgust', 'happy', 'sad', 'angry', 'neutral'];
    for (let i = 0; i < set.count; i++) {
      const code = codeOfLevel(set.images[i * 4 * 4 * 3]);
      expect(set.classes[set.labels[i]]).toBe(canonical[code - 1]);
      expect(path.basename(set.sources[i])).toBe(`test_0000${code}_aligned.jpg`);
    }
  });

  it('streams a split over the memory budget: the same images, labels and order as in memory', async () => {
    const root = rafdbRoot(SMALL);
    const inMemory = await openSplit(createRafdbSource({ root }), 'train', { imageSize: 4, logger: silentLogger, budgetBytes: 1 << 20, prefetch: 2 });
    const streamed = await openSplit(createRafdbSource({ root }), 'train', { imageSize: 4, logger: silentLogger, budgetBytes: 0, prefetch: 2 });
    expect(inMemory.streamed).toBe(false);
    expect(streamed.streamed).toBe(true);
    expect(Array.from(streamed.labels)).toEqual(Array.from(inMemory.labels));
    expect(streamed.sources).toEqual(inMemory.sources);
    const order = [6, 0, 3, 2, 5, 1, 4];
    const collect = async (split: typeof inMemory) => {
      const out: number[][] = [];
      for await (const b of split.batches(order, [[0, 4], [4, 7]])) out.push([...Array.from(b.labels), ...Array.from(b.x.subarray(0, 3))]);
      return out;
    };
    expect(await collect(streamed)).toEqual(await collect(inMemory));
  });

  it('opened in memory, a split is listed once: its missing images are reported once (onMissing: skip)', async () => {
    const root = rafdbRoot(`${SMALL}\ntrain_00008.jpg 4`, (name) => name !== 'train_00008.jpg');
    const logger = createMemoryLogger();
    const split = await openSplit(createRafdbSource({ root, onMissing: 'skip' }), 'train', { imageSize: 4, logger, budgetBytes: 1 << 20, prefetch: 2 });
    expect(split.streamed).toBe(false);
    expect(split.count).toBe(7);
    expect(split.skipped.map((s) => path.basename(s.path))).toEqual(['train_00008_aligned.jpg']);
    expect(logger.lines.filter((l) => l.level === 'warn' && l.message.includes('train_00008'))).toHaveLength(1);
  });

  it('rejects a missing image by name, with the count; onMissing: skip loads the rest with a warning', async () => {
    const labels = `${SMALL}\ntest_00008.jpg 4\ntest_00009.jpg 4`;
    const root = rafdbRoot(labels, (name) => name !== 'test_00008.jpg' && name !== 'test_00009.jpg');
    const err = await errorOf(() => createRafdbSource({ root }).load('test', { imageSize: 4, logger: silentLogger }));
    expect(err).toBeInstanceOf(DataError);
    expect(err.message).toContain('2 of 9 images are missing');
    expect(err.message).toContain(path.join('Image/aligned', 'test_00008_aligned.jpg'));
    expect(err.message).toContain('data.onMissing: skip');
    // the other split is complete and loads
    expect((await createRafdbSource({ root }).load('train', { imageSize: 4, logger: silentLogger })).count).toBe(7);

    const logger = createMemoryLogger();
    const set = await createRafdbSource({ root, onMissing: 'skip' }).load('test', { imageSize: 4, logger });
    expect(set.count).toBe(7);
    expect(set.skipped.map((s) => path.basename(s.path))).toEqual(['test_00008_aligned.jpg', 'test_00009_aligned.jpg']);
    expect(logger.lines.some((l) => l.level === 'warn' && /skipping 2 of 9 missing images/.test(l.message))).toBe(true);
  });

  it('skips an unreadable image with a warning naming it', async () => {
    const root = rafdbRoot(`${SMALL}\ntest_00010.jpg 4`);
    writeFileSync(rafdbImagePath(root, 'test_00010.jpg'), 'not a jpeg');
    const logger = createMemoryLogger();
    const set = await createRafdbSource({ root }).load('test', { imageSize: 4, logger });
    expect(set.count).toBe(7);
    expect(set.skipped).toEqual([{ path: rafdbImagePath(root, 'test_00010.jpg'), reason: expect.stringMatching(/unsupported format/) }]);
    expect(logger.lines.some((l) => l.level === 'warn' && l.message.includes('test_00010_aligned.jpg'))).toBe(true);
  });

  it('rejects an entry that escapes the root with its line, before reading any image', async () => {
    const root = rafdbRoot(`train_00001.jpg 1\ntest_00001.jpg 1\n../x.jpg 3`);
    const err = await errorOf(() => createRafdbSource({ root }).load('train', { imageSize: 4, logger: silentLogger }));
    expect(err).toBeInstanceOf(DataError);
    expect(err.message).toMatch(/list_patition_label\.txt:3: rejected entry: "\.\.\/x\.jpg" escapes the dataset root/);
  });

  it('rejects a split whose class has no images, and an unknown split', async () => {
    const root = rafdbRoot(SMALL.replace('test_00003.jpg 3', 'test_00003.jpg 4'));
    const err = await errorOf(() => createRafdbSource({ root }).load('test', { imageSize: 4, logger: silentLogger }));
    expect(err.message).toMatch(/split "test" has no usable images of class disgust/);
    const unknown = await errorOf(() => createRafdbSource({ root }).load('val', { imageSize: 4, logger: silentLogger }));
    expect(unknown.message).toMatch(/no split "val" .*splits: train, test/);
  });

  it('names the expected layout when the label file is missing', async () => {
    const root = mkdtempSync(path.join(tmpdir(), 'fermix-rafdb-'));
    roots.push(root);
    const err = await errorOf(() => createRafdbSource({ root }).splits());
    expect(err).toBeInstanceOf(DataError);
    expect(err.message).toMatch(/RAF-DB label file not found: .*EmoLabel\/list_patition_label\.txt \(expected <root>\/EmoLabel/);
  });

  it('inventories a split from the labels, listing missing images without decoding', async () => {
    const root = rafdbRoot(SMALL, (name) => name !== 'train_00002.jpg');
    const inventory = await createRafdbSource({ root }).inventory('train');
    expect(inventory.counts).toEqual([1, 1, 1, 1, 1, 1, 1]);
    expect(inventory.missing).toEqual([{ path: rafdbImagePath(root, 'train_00002.jpg'), reason: 'file not found' }]);
    expect(inventory.files).toHaveLength(6);
  });
});

const LABELS = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../../shared/data/rafdb-labels/EmoLabel/list_patition_label.txt');
const haveLabels = existsSync(LABELS);
if (!haveLabels) console.warn(`skipping the real RAF-DB label file tests: ${LABELS} not found`);

describe.skipIf(!haveLabels)(`the real RAF-DB label file (${LABELS})`, () => {
  let root: string;
  // Counts RAF-DB publishes, in canonical order: angry, disgust, fear, happy, neutral, sad, surprise.
  const TRAIN = [705, 717, 281, 4772, 2524, 1982, 1290];
  const TEST = [162, 160, 74, 1185, 680, 478, 329];

  beforeAll(() => {
    // 15,339 placeholder JPEGs (the same 7 blobs) take ~1-2 s to write.
    root = mkdtempSync(path.join(tmpdir(), 'fermix-rafdb-real-'));
    roots.push(root);
    mkdirSync(path.join(root, 'EmoLabel'), { recursive: true });
    mkdirSync(path.join(root, 'Image/aligned'), { recursive: true });
    copyFileSync(LABELS, path.join(root, RAFDB_LABEL_FILE));
    writeImages(root, readFileSync(LABELS, 'utf8'), () => true);
  });

  it('has 12,271 train and 3,068 test entries with the published class counts', async () => {
    const source = createRafdbSource({ root });
    expect(await source.splits()).toEqual(['train', 'test']);
    expect((await source.inventory('train')).counts).toEqual(TRAIN);
    const test = await source.inventory('test');
    expect(test.counts).toEqual(TEST);
    expect(test.counts.reduce((a, b) => a + b)).toBe(3068);
    expect(TRAIN.reduce((a, b) => a + b)).toBe(12271);
    expect(test.missing).toEqual([]);
  });

  it('loads the test split: every image, each with its own label', async () => {
    const set = await createRafdbSource({ root }).load('test', { imageSize: 8, logger: silentLogger });
    expect(set.count).toBe(3068);
    const counts = new Array(7).fill(0);
    for (const label of set.labels) counts[label]++;
    expect(counts).toEqual(TEST);
    const canonical = ['surprise', 'fear', 'disgust', 'happy', 'sad', 'angry', 'neutral'];
    for (let i = 0; i < set.count; i += 97) {
      expect(set.classes[set.labels[i]]).toBe(canonical[codeOfLevel(set.images[i * 8 * 8 * 3]) - 1]);
    }
  });

  it('reports a missing image by name', async () => {
    const gone = rafdbImagePath(root, 'test_0042.jpg');
    const bytes = readFileSync(gone);
    unlinkSync(gone);
    try {
      const err = await errorOf(() => createRafdbSource({ root }).load('test', { imageSize: 8, logger: silentLogger }));
      expect(err.message).toContain('1 of 3068 images are missing');
      expect(err.message).toContain('test_0042_aligned.jpg');
      expect((await createRafdbSource({ root }).inventory('test')).missing.map((m) => m.path)).toEqual([gone]);
    } finally {
      writeFileSync(gone, bytes);
    }
  });
});

// labels.ts has no test file of its own: the canonical mapping that every format uses is tested here.
describe('canonical expression classes (labels.ts)', () => {
  it('maps names in any case and the common synonyms', () => {
    const names = ['Happiness', 'SADNESS', 'anger', 'fearful', 'Disgusted', 'surprised', 'Neutral', 'contempt', 'fear'];
    expect(names.map(canonicalExpression)).toEqual(['happy', 'sad', 'angry', 'fear', 'disgust', 'surprise', 'neutral', 'contempt', 'fear']);
    expect(canonicalExpression('other')).toBeUndefined();
  });

  it('maps each dataset code to the canonical index', () => {
    expect(Array.from(labelIndexTable(RAFDB_BASIC_LABELS, EXPRESSION_CLASSES))).toEqual([6, 2, 1, 3, 5, 0, 4]);
    expect(Array.from(labelIndexTable(FER2013_LABELS, EXPRESSION_CLASSES))).toEqual([0, 1, 2, 3, 5, 6, 4]);
    expect(Array.from(labelIndexTable(AFFECTNET_LABELS, EXPRESSION_CLASSES))).toEqual([4, 3, 5, 6, 2, 1, 0, -1]);
    expect(Array.from(labelIndexTable(AFFECTNET_LABELS, EXPRESSION_CLASSES_WITH_CONTEMPT))).toEqual([4, 3, 5, 6, 2, 1, 0, 7]);
  });

  it('orders canonical names canonically (contempt last), and leaves other name sets alone', () => {
    expect(canonicalOrder(['surprise', 'contempt', 'angry', 'happy'])).toEqual(['angry', 'happy', 'surprise', 'contempt']);
    expect(canonicalOrder(['happy', 'other'])).toBeNull();
    expect(canonicalFolderClasses(['Happiness', 'sad'])).toEqual(new Map([['Happiness', 'happy'], ['sad', 'sad']]));
    expect(canonicalFolderClasses(['Happiness', 'cats'])).toBeNull();
  });

  describe('image folders', () => {
    const png = (() => {
      const image = new pngjs.PNG({ width: 2, height: 2 });
      image.data.fill(255);
      return pngjs.PNG.sync.write(image);
    })();
    function folders(files: string[]): string {
      const root = mkdtempSync(path.join(tmpdir(), 'fermix-folders-'));
      roots.push(root);
      for (const file of files) {
        mkdirSync(path.dirname(path.join(root, file)), { recursive: true });
        writeFileSync(path.join(root, file), png);
      }
      return root;
    }

    it('map expression folders (any case, synonyms) to canonical names in canonical order', async () => {
      const root = folders(['train/Surprised/a.png', 'train/Happiness/a.png', 'train/anger/a.png', 'train/contempt/a.png', 'test/surprise/a.png', 'test/happy/a.png', 'test/Angry/a.png', 'test/Contempt/a.png']);
      const source = createImageFolderSource({ root });
      expect(await source.classes()).toEqual(['angry', 'happy', 'surprise', 'contempt']);
      const train = await source.load('train', { imageSize: 2, logger: silentLogger });
      expect(train.sources.map((s) => path.relative(root, s))).toEqual(['train/anger/a.png', 'train/Happiness/a.png', 'train/Surprised/a.png', 'train/contempt/a.png']);
      expect(Array.from(train.labels)).toEqual([0, 1, 2, 3]);
      expect((await source.load('test', { imageSize: 2, logger: silentLogger })).labels).toEqual(train.labels);
      expect((await source.inventory('test')).counts).toEqual([1, 1, 1, 1]);
    });

    it('keep folder names and code-unit order when some folder is not an expression', async () => {
      const root = folders(['train/Happy/a.png', 'train/cats/a.png', 'train/Angry/a.png']);
      expect(await createImageFolderSource({ root }).classes()).toEqual(['Angry', 'Happy', 'cats']);
    });

    it('reject two folders of one split that name the same class', async () => {
      const root = folders(['train/happy/a.png', 'train/Happiness/a.png']);
      const err = await errorOf(() => createImageFolderSource({ root }).classes());
      expect(err).toBeInstanceOf(DataError);
      expect(err.message).toMatch(/class folders .*train\/Happiness and .*train\/happy are both class "happy"/);
    });
  });
});
