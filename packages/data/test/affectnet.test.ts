import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pngjs from 'pngjs';
import { afterAll, describe, expect, it } from 'vitest';
import { createAffectNetSource, cropImage } from '../src/affectnet.js';
import { DataError, EXPRESSION_CLASSES, type ImageSet } from '../src/source.js';
import { createMemoryLogger, silentLogger } from '@fermix/core';

const { PNG } = pngjs;
const HEADER = 'subDirectory_filePath,face_x,face_y,face_width,face_height,facial_landmarks,expression,valence,arousal';
const RED = [255, 0, 0];
const GREEN = [0, 255, 0];
const BLUE = [0, 0, 255];
const WHITE = [255, 255, 255];
const GRAY = [128, 128, 128];

/**
 * A 40x30 picture, gray except the face box x 10..26, y 6..22, which has four colour quadrants:
 * red top-left, green top-right, blue bottom-left, white bottom-right.
 */
function patternPng(): Buffer {
  const png = new PNG({ width: 40, height: 30 });
  for (let y = 0; y < 30; y++) {
    for (let x = 0; x < 40; x++) {
      const inBox = x >= 10 && x < 26 && y >= 6 && y < 22;
      const colour = !inBox ? GRAY : y < 14 ? (x < 18 ? RED : GREEN) : x < 18 ? BLUE : WHITE;
      png.data.set([...colour, 255], (y * 40 + x) * 4);
    }
  }
  return PNG.sync.write(png);
}

const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

/** `rows` are [file, expression] or full CSV lines; images are written for every [file, …] row unless `noImage`. */
function affectnetRoot(splits: { training?: (string | [string, number])[]; validation?: (string | [string, number])[] }, noImage: string[] = []): string {
  const root = mkdtempSync(path.join(tmpdir(), 'fermix-affectnet-'));
  dirs.push(root);
  const image = patternPng();
  for (const [name, rows] of Object.entries(splits)) {
    const lines = rows!.map((row) => {
      if (typeof row === 'string') return row;
      const [file, expression] = row;
      if (!noImage.includes(file)) {
        const full = path.join(root, 'Manually_Annotated_Images', file);
        mkdirSync(path.dirname(full), { recursive: true });
        writeFileSync(full, image);
      }
      return `${file},10,6,16,16,1.5;2.5;3.5;4.5,${expression},0.5,-0.25`;
    });
    writeFileSync(path.join(root, `${name}.csv`), [HEADER, ...lines].join('\n') + '\n');
  }
  return root;
}

function pixel(set: ImageSet, index: number, x: number, y: number): number[] {
  const at = index * set.size * set.size * 3 + (y * set.size + x) * 3;
  return Array.from(set.images.subarray(at, at + 3));
}

function errorOf(fn: () => Promise<unknown>): Promise<Error> {
  return fn().then(
    () => {
      throw new Error('expected a rejection');
    },
    (err: Error) => err,
  );
}

/** Codes 0..10, one image each, in two sub-folders. */
const ALL_CODES: [string, number][] = Array.from({ length: 11 }, (_, code) => [`${100 + (code % 2)}/face${code}.jpg`, code]);

describe('cropImage', () => {
  const img = { width: 4, height: 3, channels: 1 as const, data: Uint8Array.from({ length: 12 }, (_, i) => i) };

  it('cuts the box out, clipping it to the image', () => {
    expect(cropImage(img, { x: 1, y: 1, width: 2, height: 2 })).toEqual({ width: 2, height: 2, channels: 1, data: Uint8Array.from([5, 6, 9, 10]) });
    expect(cropImage(img, { x: -5, y: 2, width: 7, height: 9 })).toEqual({ width: 2, height: 1, channels: 1, data: Uint8Array.from([8, 9]) });
  });

  it('rejects a box outside the image', () => {
    expect(() => cropImage(img, { x: 4, y: 0, width: 3, height: 3 })).toThrow(/face box x=4 y=0 3x3 lies outside the 4x3 image/);
  });
});

describe('createAffectNetSource', () => {
  it('crops each face box, then resizes: the quadrants of the pattern land in the right place', async () => {
    const root = affectnetRoot({ training: ALL_CODES, validation: ALL_CODES });
    const source = createAffectNetSource({ root });
    expect(await source.splits()).toEqual(['train', 'val']);
    const set = await source.load('val', { imageSize: 8, logger: silentLogger });
    expect(set.size).toBe(8);
    for (let i = 0; i < set.count; i++) {
      expect(pixel(set, i, 1, 1)).toEqual(RED);
      expect(pixel(set, i, 6, 1)).toEqual(GREEN);
      expect(pixel(set, i, 1, 6)).toEqual(BLUE);
      expect(pixel(set, i, 6, 6)).toEqual(WHITE);
    }
  });

  it('7 classes: maps codes to the canonical classes, dropping contempt, None, Uncertain and No-Face', async () => {
    const root = affectnetRoot({ training: ALL_CODES });
    const logger = createMemoryLogger();
    const source = createAffectNetSource({ root, classes: 7 });
    expect(await source.classes()).toEqual([...EXPRESSION_CLASSES]);
    const set = await source.load('train', { imageSize: 8, logger });
    expect(set.count).toBe(7);
    // codes 0..6 = neutral, happy, sad, surprise, fear, disgust, anger
    expect(Array.from(set.labels, (l) => set.classes[l])).toEqual(['neutral', 'happy', 'sad', 'surprise', 'fear', 'disgust', 'angry']);
    expect(set.sources.map((s) => path.relative(root, s))).toEqual(
      ALL_CODES.slice(0, 7).map(([file]) => path.join('Manually_Annotated_Images', file)),
    );
    expect(logger.lines.some((l) => /training\.csv: 7 faces, 4 rows dropped \(None, Uncertain, No-Face, contempt\)/.test(l.message))).toBe(true);
  });

  it('8 classes: keeps contempt as the last class', async () => {
    const root = affectnetRoot({ training: ALL_CODES });
    const source = createAffectNetSource({ root, classes: 8 });
    expect(await source.classes()).toEqual([...EXPRESSION_CLASSES, 'contempt']);
    const set = await source.load('train', { imageSize: 8, logger: silentLogger });
    expect(set.count).toBe(8);
    expect(set.labels[7]).toBe(7);
    expect((await source.inventory('train')).counts).toEqual([1, 1, 1, 1, 1, 1, 1, 1]);
  });

  it('skips a face box outside its image as unreadable, and clips one that overlaps the border', async () => {
    const rows = [...ALL_CODES.slice(0, 7), 'out.jpg,50,40,10,10,,3,0,0', 'edge.jpg,30,20,20,20,,3,0,0'];
    const root = affectnetRoot({ training: rows });
    writeFileSync(path.join(root, 'Manually_Annotated_Images/out.jpg'), patternPng());
    writeFileSync(path.join(root, 'Manually_Annotated_Images/edge.jpg'), patternPng());
    const set = await createAffectNetSource({ root }).load('train', { imageSize: 4, logger: silentLogger });
    expect(set.count).toBe(8);
    expect(set.skipped).toEqual([{ path: path.join(root, 'Manually_Annotated_Images/out.jpg'), reason: expect.stringMatching(/lies outside the 40x30 image/) }]);
    expect(pixel(set, 7, 2, 2)).toEqual(GRAY); // x 30..40, y 20..30: all background
  });

  it('rejects missing images by name, or skips them with data.onMissing: skip', async () => {
    const root = affectnetRoot({ training: ALL_CODES }, ['101/face3.jpg']);
    const err = await errorOf(() => createAffectNetSource({ root }).load('train', { imageSize: 8, logger: silentLogger }));
    expect(err).toBeInstanceOf(DataError);
    expect(err.message).toMatch(/1 of 7 images are missing .*Manually_Annotated_Images\/101\/face3\.jpg/);
    const inventory = await createAffectNetSource({ root }).inventory('train');
    expect(inventory.missing.map((m) => path.basename(m.path))).toEqual(['face3.jpg']);

    const root2 = affectnetRoot({ training: [...ALL_CODES, ['102/extra.jpg', 3]] }, ['102/extra.jpg']);
    const set = await createAffectNetSource({ root: root2, onMissing: 'skip' }).load('train', { imageSize: 8, logger: silentLogger });
    expect(set.count).toBe(7);
    expect(set.skipped).toEqual([{ path: path.join(root2, 'Manually_Annotated_Images/102/extra.jpg'), reason: 'file not found' }]);
  });

  it.each([
    ['../x.jpg,10,6,16,16,,3,0,0', /training\.csv:3: rejected entry: "\.\.\/x\.jpg" escapes the dataset root/],
    ['/etc/x.jpg,10,6,16,16,,3,0,0', /training\.csv:3: rejected entry: absolute path/],
    ['a.jpg,10,6,16,16,,11,0,0', /training\.csv:3: expression must be an integer 0\.\.10, found "11"/],
    ['a.jpg,ten,6,16,16,,3,0,0', /training\.csv:3: face_x is not a number, found "ten"/],
    ['a.jpg,10,6,0,16,,3,0,0', /training\.csv:3: face box must have a positive size/],
    ['a.jpg,10,6,16,16,3,0,0', /training\.csv:3: expected 9 fields, found 8/],
  ])('rejects the row %j, naming its line', async (row, message) => {
    const root = affectnetRoot({ training: [ALL_CODES[0], row] });
    const err = await errorOf(() => createAffectNetSource({ root }).load('train', { imageSize: 8, logger: silentLogger }));
    expect(err).toBeInstanceOf(DataError);
    expect(err.message).toMatch(message);
  });

  it('names the expected layout for a missing split or images folder', async () => {
    const root = affectnetRoot({ training: ALL_CODES });
    const noVal = await errorOf(() => createAffectNetSource({ root }).load('val', { imageSize: 8, logger: silentLogger }));
    expect(noVal.message).toMatch(/no split "val" \(splits: train; expected .*validation\.csv/);
    rmSync(path.join(root, 'Manually_Annotated_Images'), { recursive: true });
    const noImages = await errorOf(() => createAffectNetSource({ root }).load('train', { imageSize: 8, logger: silentLogger }));
    expect(noImages.message).toMatch(/images folder not found: .*Manually_Annotated_Images/);
  });
});
