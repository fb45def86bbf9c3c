import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import jpeg from 'jpeg-js';
import pngjs from 'pngjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createImageFolderSource } from '../src/image-folder.js';
import { DataError, EXPRESSION_CLASSES, type ImageSet } from '../src/source.js';
import { createMemoryLogger, silentLogger } from '@fermix/core';

const { PNG } = pngjs;

function png(width: number, height: number, rgba: (i: number) => number[], options: { colorType?: 0 | 2 | 6; bitDepth?: 8 | 16 } = {}): Buffer {
  const image = new PNG({ width, height });
  const samples = Array.from({ length: width * height }, (_, i) => rgba(i)).flat();
  // pngjs reads 16-bit input as native-endian uint16 samples
  image.data = options.bitDepth === 16 ? Buffer.from(Uint16Array.from(samples).buffer) : Buffer.from(samples);
  return PNG.sync.write(image, options);
}

function jpg(width: number, height: number, rgb: [number, number, number]): Buffer {
  const data = Buffer.alloc(width * height * 4);
  for (let i = 0; i < width * height; i++) data.set([...rgb, 255], i * 4);
  return jpeg.encode({ width, height, data }, 95).data;
}

const gray = (v: number) => () => [v, v, v, 255];

/** Writes `files` (relative path → bytes, or null for an empty folder) under a new temp root. */
function makeTree(files: Record<string, Uint8Array | null>): string {
  const root = mkdtempSync(path.join(tmpdir(), 'fermix-imagefolder-'));
  for (const [rel, bytes] of Object.entries(files)) {
    const full = path.join(root, rel);
    if (bytes === null) {
      mkdirSync(full, { recursive: true });
    } else {
      mkdirSync(path.dirname(full), { recursive: true });
      writeFileSync(full, bytes);
    }
  }
  return root;
}

function pixel(set: ImageSet, index: number, x: number, y: number): number[] {
  const at = index * set.size * set.size * 3 + (y * set.size + x) * 3;
  return Array.from(set.images.subarray(at, at + 3));
}

function errorOf(fn: () => Promise<unknown>): Promise<unknown> {
  return fn().then(
    () => {
      throw new Error('expected a rejection');
    },
    (err: unknown) => err,
  );
}

const roots: string[] = [];
afterAll(() => roots.forEach((root) => rmSync(root, { recursive: true, force: true })));
function tree(files: Record<string, Uint8Array | null>): string {
  const root = makeTree(files);
  roots.push(root);
  return root;
}

describe('createImageFolderSource', () => {
  let root: string;
  let valid: Buffer;

  beforeAll(() => {
    valid = png(16, 16, (i) => [i % 256, 0, 0, 255]);
    root = tree({
      'train/happy/b-gray.png': png(8, 8, gray(90), { colorType: 0 }),
      'train/happy/a-rgba.png': png(8, 8, () => [200, 100, 50, 128]),
      'train/happy/c-16bit.PNG': png(8, 8, () => [257 * 10, 257 * 20, 257 * 30, 65535], { bitDepth: 16, colorType: 6 }),
      'train/happy/notes.txt': Buffer.from('not an image'),
      'train/happy/._a-rgba.png': Buffer.from('macOS resource fork'),
      'train/angry/photo.JPG': jpg(16, 16, [220, 40, 40]),
      'train/angry/other.jpeg': jpg(8, 8, [10, 200, 10]),
      'train/angry/corrupt.png': Buffer.from(Array.from({ length: 200 }, (_, i) => (i * 131 + 7) % 256)),
      'train/angry/truncated.png': valid.subarray(0, valid.length >> 1),
      'train/sad/x.png': valid,
      'test/angry/t.png': valid,
      'test/happy/t.png': valid,
      'test/sad/t.png': valid,
      'README.md': Buffer.from('a file in the root is not a split'),
      'extras/readme.txt': Buffer.from('a folder without class folders is not a split'),
    });
  });

  it('lists sorted splits and the sorted union of classes', async () => {
    const source = createImageFolderSource({ root });
    expect(await source.splits()).toEqual(['test', 'train']);
    expect(await source.classes()).toEqual(['angry', 'happy', 'sad']);
    expect(source.description).toBe(`imagefolder ${root}`);
  });

  it('loads a split: RGB at the requested size, labels by class, files sorted by name', async () => {
    const set = await createImageFolderSource({ root }).load('train', { imageSize: 8, logger: silentLogger });
    expect(set.classes).toEqual(['angry', 'happy', 'sad']);
    expect(set.size).toBe(8);
    expect(set.count).toBe(6);
    expect(set.images.length).toBe(6 * 8 * 8 * 3);
    expect(set.sources.map((s) => path.relative(root, s))).toEqual([
      'train/angry/other.jpeg',
      'train/angry/photo.JPG',
      'train/happy/a-rgba.png',
      'train/happy/b-gray.png',
      'train/happy/c-16bit.PNG',
      'train/sad/x.png',
    ]);
    expect(Array.from(set.labels)).toEqual([0, 0, 1, 1, 1, 2]);

    const near = (got: number[], want: number[], tol: number) => got.forEach((v, i) => expect(Math.abs(v - want[i])).toBeLessThanOrEqual(tol));
    near(pixel(set, 0, 3, 3), [10, 200, 10], 4); // JPEG
    near(pixel(set, 1, 3, 3), [220, 40, 40], 4); // JPEG, shrunk 16 -> 8
    expect(pixel(set, 2, 5, 5)).toEqual([100, 50, 25]); // RGBA, alpha 128 composited over black
    expect(pixel(set, 3, 5, 5)).toEqual([90, 90, 90]); // gray replicated
    expect(pixel(set, 4, 5, 5)).toEqual([10, 20, 30]); // 16-bit scaled to 8
  });

  it('skips a corrupt and a truncated file, reporting each path in skipped and in a warning', async () => {
    const logger = createMemoryLogger();
    const set = await createImageFolderSource({ root }).load('train', { imageSize: 8, logger });
    const corrupt = path.join(root, 'train/angry/corrupt.png');
    const truncated = path.join(root, 'train/angry/truncated.png');
    expect(set.skipped).toEqual([
      { path: corrupt, reason: expect.stringMatching(/unsupported format/) },
      { path: truncated, reason: expect.stringMatching(/truncated or corrupt PNG/) },
    ]);
    const warnings = logger.lines.filter((l) => l.level === 'warn').map((l) => l.message);
    expect(warnings).toHaveLength(3);
    expect(warnings[0]).toContain(corrupt);
    expect(warnings[1]).toContain(truncated);
    expect(warnings[2]).toMatch(/imagefolder .*: skipped 2 of 8 unreadable images in split "train"/);
  });

  it('gives the same images on workers and in-process', async () => {
    const load = (workers: number) => createImageFolderSource({ root, workers }).load('train', { imageSize: 20, logger: silentLogger });
    const [inProcess, onWorkers] = await Promise.all([load(0), load(2)]);
    expect(onWorkers).toEqual(inProcess);
  });

  it('rejects a missing split, naming the folder and the expected layout', async () => {
    const err = await errorOf(() => createImageFolderSource({ root }).load('validation', { imageSize: 8, logger: silentLogger }));
    expect(err).toBeInstanceOf(DataError);
    expect((err as DataError).path).toBe(path.join(root, 'validation'));
    expect((err as Error).message).toContain(path.join(root, 'validation'));
    expect((err as Error).message).toMatch(/not found.*expected <root>\/<split>\/<class>\/\*\.png.*splits found: test, train/);
  });

  it('rejects a split folder without class folders', async () => {
    const err = await errorOf(() => createImageFolderSource({ root }).load('extras', { imageSize: 8, logger: silentLogger }));
    expect(err).toBeInstanceOf(DataError);
    expect((err as Error).message).toMatch(/split "extras" has no class folders/);
  });

  it('rejects a missing root', async () => {
    const missing = path.join(root, 'nope');
    const source = createImageFolderSource({ root: missing });
    for (const call of [() => source.splits(), () => source.classes(), () => source.load('train', { imageSize: 8, logger: silentLogger })]) {
      const err = await errorOf(call);
      expect(err).toBeInstanceOf(DataError);
      expect((err as Error).message).toMatch(/image folder not found: .*nope \(expected <root>\/<split>\/<class>/);
    }
  });

  it('rejects an empty class folder, naming it', async () => {
    const r = tree({ 'train/a/x.png': valid, 'train/b': null, 'test/a/x.png': valid, 'test/b/x.png': valid });
    const source = createImageFolderSource({ root: r });
    const err = await errorOf(() => source.load('train', { imageSize: 8, logger: silentLogger }));
    expect(err).toBeInstanceOf(DataError);
    expect((err as DataError).path).toBe(path.join(r, 'train', 'b'));
    expect((err as Error).message).toMatch(/class folder is empty: .*train\/b .*an empty class or split is an error before training/);
    expect((await source.load('test', { imageSize: 8, logger: silentLogger })).count).toBe(2);
  });

  it('rejects a class that another split has but this one lacks', async () => {
    const r = tree({ 'train/a/x.png': valid, 'train/b/x.png': valid, 'test/a/x.png': valid });
    const err = await errorOf(() => createImageFolderSource({ root: r }).load('test', { imageSize: 8, logger: silentLogger }));
    expect(err).toBeInstanceOf(DataError);
    expect((err as Error).message).toMatch(/class folder missing: .*test\/b/);
  });

  it('rejects a class whose every image is unreadable, after warning about each', async () => {
    const r = tree({ 'train/a/x.png': valid, 'train/b/bad.png': Buffer.from('garbage') });
    const logger = createMemoryLogger();
    const err = await errorOf(() => createImageFolderSource({ root: r }).load('train', { imageSize: 8, logger }));
    expect(err).toBeInstanceOf(DataError);
    expect((err as Error).message).toMatch(/no readable images: .*train\/b/);
    expect(logger.lines.some((l) => l.level === 'warn' && l.message.includes('bad.png'))).toBe(true);
  });
});

const FER_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../../shared/data/fer2013-mini');
const haveFer = existsSync(FER_ROOT);
if (!haveFer) console.warn(`skipping the fer2013-mini tests: ${FER_ROOT} not found`);

describe.skipIf(!haveFer)(`fer2013-mini (${FER_ROOT})`, () => {
  const source = () => createImageFolderSource({ root: FER_ROOT });

  it('has the seven expression classes and train/test splits', async () => {
    expect(await source().classes()).toEqual([...EXPRESSION_CLASSES]);
    expect(await source().splits()).toEqual(expect.arrayContaining(['test', 'train']));
  });

  it.each([
    ['train', 200],
    ['test', 50],
  ])('loads %s: %i per class, minus any unreadable file', async (split, perClass) => {
    const set = await source().load(split, { imageSize: 48, logger: silentLogger });
    expect(set.count + set.skipped.length).toBe(7 * perClass);
    expect(set.skipped.length).toBeLessThanOrEqual(2);
    const counts = new Array(7).fill(0);
    for (const label of set.labels) counts[label]++;
    counts.forEach((n, label) => {
      const skippedHere = set.skipped.filter((s) => path.basename(path.dirname(s.path)) === set.classes[label]).length;
      expect(n + skippedHere).toBe(perClass);
    });

    // 48x48 gray at 48: the pixels are the file's own, on all three channels.
    const { data } = PNG.sync.read(readFileSync(set.sources[0]));
    for (const [x, y] of [[0, 0], [24, 17], [47, 47]]) {
      const v = data[(y * 48 + x) * 4];
      expect(pixel(set, 0, x, y)).toEqual([v, v, v]);
    }
    // An all-black image (train/angry has one) is valid data, not a decoding failure: it is loaded.
    const pixels = 48 * 48 * 3;
    const black = set.sources.filter((_, i) => set.images.subarray(i * pixels, (i + 1) * pixels).every((v) => v === 0));
    const knownBlack = path.join(FER_ROOT, split, 'angry', 'Training_10131352.png');
    if (existsSync(knownBlack)) expect(black).toContain(knownBlack);
  });
});
