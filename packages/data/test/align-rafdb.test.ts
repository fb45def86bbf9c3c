import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import jpeg from 'jpeg-js';
import { afterAll, describe, expect, it } from 'vitest';
import { alignmentTemplate, applyTransform, type FivePoints, type LandmarkDetector } from '../src/align.js';
import { isAlignable } from '../src/align-files.js';
import { ConfigError } from '@fermix/core';
import { DataSourceRegistry, validateConfig, validateDataConfig, type FermixConfigInput } from '@fermix/core';
import { registerDataFormats } from '../src/formats.js';
import { createRafdbSource } from '../src/rafdb.js';
import { parseRafdbLandmarks, rafdbAnnotationPath, rafdbOriginalPath } from '../src/rafdb-annotations.js';
import { DataError } from '../src/source.js';
import { createMemoryLogger, silentLogger } from '@fermix/core';

const roots: string[] = [];
afterAll(() => roots.forEach((r) => rmSync(r, { recursive: true, force: true })));

/** Where the synthetic face's landmarks are in its 160 x 140 photo: the 112 template turned 10°, x1.2, moved. */
const FACE: FivePoints = alignmentTemplate(112).map((p) =>
  applyTransform({ a: 1.2 * Math.cos(0.17), b: 1.2 * Math.sin(0.17), tx: 20, ty: -5 }, p),
) as FivePoints;

/** A 160 x 140 JPEG: grey background, dark discs at the five landmarks. */
function faceJpeg(): Uint8Array {
  const width = 160;
  const height = 140;
  const data = Buffer.alloc(width * height * 4, 150);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      if (FACE.some((p) => Math.hypot(x - p.x, y - p.y) <= 4)) data.fill(20, (y * width + x) * 4, (y * width + x) * 4 + 3);
    }
  }
  return jpeg.encode({ width, height, data }, 95).data;
}

const annotationText = (points: FivePoints) => points.map((p) => `${p.x.toFixed(2)}\t${p.y.toFixed(2)}`).join('\n') + '\n1\n2\n3\n';

/** RAF-DB originals + annotations, one train and one test image per class; `without` lacks its annotation. */
function rafdbOriginals(options: { without?: string; malformed?: string } = {}): string {
  const root = mkdtempSync(path.join(tmpdir(), 'fermix-raf-align-'));
  roots.push(root);
  for (const dir of ['EmoLabel', 'Image/original', 'Annotation/manual']) mkdirSync(path.join(root, dir), { recursive: true });
  const names = [1, 2, 3, 4, 5, 6, 7].flatMap((c) => [[`train_0000${c}.jpg`, c], [`test_000${c}.jpg`, c]] as const);
  writeFileSync(path.join(root, 'EmoLabel/list_patition_label.txt'), names.map(([n, c]) => `${n} ${c}`).join('\n'));
  const image = faceJpeg();
  for (const [name] of names) {
    writeFileSync(rafdbOriginalPath(root, name), image);
    if (name === options.without) continue;
    writeFileSync(rafdbAnnotationPath(root, name), name === options.malformed ? '12.5\t30\nleft eye?\n' : annotationText(FACE));
  }
  return root;
}

/** validateConfig, then the format's own checks, as the CLI runs them. */
function validateWithFormats(raw: FermixConfigInput, options: { baseDir: string }) {
  const config = validateConfig(raw, options);
  validateDataConfig(config, registerDataFormats(new DataSourceRegistry()));
  return config;
}

describe('data.align in the config', () => {
  const base = { data: { format: 'rafdb', root: '/data/raf' } };
  const validate = (data: Record<string, unknown>) => validateWithFormats({ data: { ...base.data, ...data } }, { baseDir: '/' });
  const issuesOf = (fn: () => unknown) => {
    try {
      fn();
    } catch (err) {
      if (err instanceof ConfigError) return err.issues.map((i) => `${i.path.join('.')}: ${i.expected}`);
      throw err;
    }
    throw new Error('expected a ConfigError');
  };

  it('sets imageSize to align.size when imageSize is left out; 48 without align', () => {
    expect(validate({ align: { landmarks: 'dataset', size: 112 } }).data.imageSize).toBe(112);
    expect(validate({ align: { landmarks: 'model', size: 100 }, imageSize: 100 }).data.imageSize).toBe(100);
    expect(validate({}).data.imageSize).toBe(48);
  });

  it('names the YAML path of each mistake', () => {
    expect(issuesOf(() => validate({ align: { landmarks: 'dataset', size: 112 }, imageSize: 100 }))).toEqual([
      'data.imageSize: 112, the size of the aligned faces (data.align.size); leave imageSize out when aligning',
    ]);
    expect(issuesOf(() => validate({ align: { landmarks: 'dlib', size: 128 } }))).toEqual([
      'data.align.landmarks: one of dataset | model',
      'data.align.size: one of 100 | 112',
    ]);
    expect(issuesOf(() => validate({ align: { size: 100 } }))).toEqual(['data.align.landmarks: one of dataset | model']);
    expect(issuesOf(() => validateWithFormats({ data: { format: 'fer2013-csv', root: 'x.csv', align: { landmarks: 'model', size: 100 } } }, { baseDir: '/' }))[0]).toMatch(
      /^data\.align: no align for format fer2013-csv/,
    );
    expect(issuesOf(() => validateWithFormats({ data: { format: 'imagefolder', root: 'x', align: { landmarks: 'dataset', size: 100 } } }, { baseDir: '/' }))).toEqual([
      'data.align.landmarks: model (an image folder has no landmark annotation: its faces are found by @fermix/landmarks)',
    ]);
    expect(validateWithFormats({ data: { format: 'imagefolder', root: 'x', align: { landmarks: 'model', size: 112 } } }, { baseDir: '/' }).data.imageSize).toBe(112);
    expect(validateWithFormats({ data: { format: 'affectnet', root: 'x', align: { landmarks: 'dataset', size: 100 } } }, { baseDir: '/' }).data.align).toEqual({ landmarks: 'dataset', size: 100 });
  });
});

describe('RAF-DB landmark annotations', () => {
  it('reads the first five lines as x<TAB>y (tabs or spaces); later lines are ignored', () => {
    const points = parseRafdbLandmarks('100.5\t131.2\n176 128.7\n 140.1   170 \n110\t200\n170\t199\n0\n1\n2\n', 'a_manu_attri.txt');
    expect(points).toEqual([
      { x: 100.5, y: 131.2 },
      { x: 176, y: 128.7 },
      { x: 140.1, y: 170 },
      { x: 110, y: 200 },
      { x: 170, y: 199 },
    ]);
  });

  it('names the file and line of a malformed or short annotation', () => {
    expect(() => parseRafdbLandmarks('1\t2\n3\tx\n', '/r/a_manu_attri.txt')).toThrow('/r/a_manu_attri.txt:2: expected the right eye as "x<TAB>y", found "3\\tx"'); // quoted: the tab shows
    expect(() => parseRafdbLandmarks('1\t2\n3\t4\n', '/r/a_manu_attri.txt')).toThrow(/a_manu_attri\.txt:3: expected the nose tip .* found an empty line/);
  });
});

describe('RAF-DB with data.align', () => {
  it('loads aligned originals: every image at align.size, landmarks on the template', async () => {
    const root = rafdbOriginals();
    const source = createRafdbSource({ root, align: { landmarks: 'dataset', size: 100 } });
    expect(isAlignable(source)).toBe(true);
    const set = await source.load('train', { imageSize: 100, logger: silentLogger });
    expect(set.count).toBe(7);
    expect(set.size).toBe(100);
    expect(set.sources[0]).toBe(rafdbOriginalPath(root, 'train_00001.jpg'));
    // The dark disc of the left eye lands on the template's left eye.
    const t = alignmentTemplate(100)[0];
    const px = (u: number, v: number) => set.images[(v * 100 + u) * 3];
    expect(px(Math.round(t.x), Math.round(t.y))).toBeLessThan(60);
    expect(px(50, 10)).toBeGreaterThan(120);
  });

  it('names a missing annotation, or skips it with data.onMissing: skip (logged)', async () => {
    const root = rafdbOriginals({ without: 'train_00003.jpg' });
    const err = await createRafdbSource({ root, align: { landmarks: 'dataset', size: 100 } })
      .load('train', { imageSize: 100, logger: silentLogger })
      .catch((e: Error) => e);
    expect(err).toBeInstanceOf(DataError);
    expect((err as Error).message).toContain('Annotation/manual/train_00003_manu_attri.txt');
    expect((err as Error).message).toContain('data.onMissing: skip');

    const logger = createMemoryLogger();
    const source = createRafdbSource({ root, onMissing: 'skip', align: { landmarks: 'dataset', size: 100 } });
    const plan = isAlignable(source) ? await source.alignPlan('train', logger) : undefined;
    expect(plan!.items).toHaveLength(6);
    expect(plan!.skipped).toEqual([{ path: rafdbAnnotationPath(root, 'train_00003.jpg'), reason: 'landmark annotation not found (for train_00003.jpg)' }]);
    expect(logger.lines.some((l) => l.level === 'warn' && l.message.includes('Annotation/manual/train_00003_manu_attri.txt'))).toBe(true);
    const inventory = await source.inventory('train');
    expect(inventory.missing.map((m) => m.path)).toEqual([rafdbAnnotationPath(root, 'train_00003.jpg')]);
  });

  it('names a malformed annotation by file and line', async () => {
    const root = rafdbOriginals({ malformed: 'test_0002.jpg' });
    const source = createRafdbSource({ root, align: { landmarks: 'dataset', size: 112 } });
    await expect(source.load('test', { imageSize: 112, logger: silentLogger })).rejects.toThrow(/test_0002_manu_attri\.txt:2: expected the right eye/);
  });

  it('with landmarks: model and no detector, says to run fermix prepare; with one, uses it', async () => {
    const root = rafdbOriginals();
    await expect(createRafdbSource({ root, align: { landmarks: 'model', size: 100 } }).load('train', { imageSize: 100, logger: silentLogger })).rejects.toThrow(
      /fermix prepare/,
    );
    const seen: number[] = [];
    const detector: LandmarkDetector = {
      async detect(_rgb, width, height) {
        seen.push(width * height);
        return seen.length === 2 ? null : { points: FACE };
      },
      dispose() {},
    };
    const logger = createMemoryLogger();
    const set = await createRafdbSource({ root, align: { landmarks: 'model', size: 100, detector } })
      .load('train', { imageSize: 100, logger })
      .catch((e: Error) => e);
    // The second image had no face: it is skipped by name, and its class is then empty, which is an error.
    expect(seen).toEqual(Array(7).fill(160 * 140));
    expect(logger.lines.some((l) => l.message.includes('train_00002.jpg') && l.message.includes('no face found'))).toBe(true);
    expect((set as Error).message).toMatch(/no usable images of class fear/);
  });
});
