import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { toRgbResized } from '../src/decode.js';
import { createFer2013CsvSource, parsePixels, splitCsvLine } from '../src/fer2013-csv.js';
import { DataError, EXPRESSION_CLASSES } from '../src/source.js';
import { silentLogger } from '@fermix/core';

const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

function csvFile(text: string): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'fermix-fer2013-'));
  dirs.push(dir);
  const file = path.join(dir, 'fer2013.csv');
  writeFileSync(file, text);
  return file;
}

/** 2304 pixel values: a gradient shifted by `seed`. */
const pixels = (seed: number) => Array.from({ length: 48 * 48 }, (_, i) => (i + seed) % 256).join(' ');
/** Every emotion 0..6 once in each of the three splits. */
function validRows(): string[] {
  return ['Training', 'PublicTest', 'PrivateTest'].flatMap((usage, u) => [0, 1, 2, 3, 4, 5, 6].map((e) => `${e},${pixels(e + 10 * u)},${usage}`));
}

function errorOf(fn: () => Promise<unknown>): Promise<Error> {
  return fn().then(
    () => {
      throw new Error('expected a rejection');
    },
    (err: Error) => err,
  );
}

describe('CSV helpers', () => {
  it('splits quoted and unquoted fields', () => {
    expect(splitCsvLine('0,"1 2 3",Training')).toEqual(['0', '1 2 3', 'Training']);
    expect(splitCsvLine('a,"b,""c""",,d')).toEqual(['a', 'b,"c"', '', 'd']);
    expect(splitCsvLine('')).toEqual(['']);
  });

  it('parses 2304 pixel values or says what is wrong', () => {
    expect(Array.from((parsePixels(pixels(3)) as Uint8Array).subarray(0, 3))).toEqual([3, 4, 5]);
    expect(parsePixels('1 2 3')).toMatch(/expected 2304 pixel values \(48x48\), found 3/);
    expect(parsePixels(pixels(0).replace(/^0/, '256'))).toMatch(/pixel value 1 is above 255/);
    expect(parsePixels(pixels(0).replace(/^0/, '-1'))).toMatch(/pixel value 1 is not an integer/);
  });
});

describe('createFer2013CsvSource', () => {
  it('maps Usage to splits and emotions to the canonical classes, resizing with toRgbResized', async () => {
    const file = csvFile(['emotion,pixels,Usage', ...validRows()].join('\r\n') + '\r\n');
    const source = createFer2013CsvSource({ file });
    expect(await source.splits()).toEqual(['train', 'val', 'test']);
    expect(await source.classes()).toEqual([...EXPRESSION_CLASSES]);
    const set = await source.load('val', { imageSize: 20, logger: silentLogger });
    expect(set.count).toBe(7);
    expect(set.images.length).toBe(7 * 20 * 20 * 3);
    // FER2013 codes 0..6 = angry, disgust, fear, happy, sad, surprise, neutral
    expect(Array.from(set.labels, (l) => set.classes[l])).toEqual(['angry', 'disgust', 'fear', 'happy', 'sad', 'surprise', 'neutral']);
    expect(set.sources[0]).toBe(`${file}:9`);
    const gray = parsePixels(pixels(10)) as Uint8Array;
    expect(set.images.subarray(0, 20 * 20 * 3)).toEqual(toRgbResized({ width: 48, height: 48, channels: 1, data: gray }, 20));
  });

  it('puts every row in train when there is no Usage column, and finds columns by name', async () => {
    const file = csvFile(' Usage , emotion ,pixels\n' + [0, 1, 2, 3, 4, 5, 6].map((e) => `Training,${e},"${pixels(e)}"`).join('\n'));
    expect(await createFer2013CsvSource({ file }).splits()).toEqual(['train']);
    const noUsage = csvFile('emotion,pixels\n' + [0, 1, 2, 3, 4, 5, 6].map((e) => `${e},${pixels(e)}`).join('\n'));
    const set = await createFer2013CsvSource({ file: noUsage }).load('train', { imageSize: 48, logger: silentLogger });
    expect(set.count).toBe(7);
  });

  it.each([
    ['a wrong pixel count', (rows: string[]) => (rows[4] = `3,1 2 3,Training`), /:7: expected 2304 pixel values/],
    ['a label out of range', (rows: string[]) => (rows[4] = `7,${pixels(0)},Training`), /:7: emotion must be 0\.\.6.*found "7"/],
    ['an unknown Usage', (rows: string[]) => (rows[4] = `3,${pixels(0)},Validation`), /:7: unknown Usage "Validation"/],
    ['a missing field', (rows: string[]) => (rows[4] = `3,${pixels(0)}`), /:7: expected 3 fields, found 2/],
  ])('rejects %s, naming its line, whichever split is loaded', async (_, spoil, message) => {
    const rows = validRows();
    spoil(rows);
    const file = csvFile(['emotion,pixels,Usage', '', ...rows].join('\n')); // line 2 is blank: line numbers count it
    const err = await errorOf(() => createFer2013CsvSource({ file }).load('test', { imageSize: 48, logger: silentLogger }));
    expect(err).toBeInstanceOf(DataError);
    expect(err.message).toContain(file);
    expect(err.message).toMatch(message);
  });

  it('rejects a file without the header, a missing file and an unknown split', async () => {
    const noHeader = await errorOf(() => createFer2013CsvSource({ file: csvFile(validRows().join('\n')) }).splits());
    expect(noHeader.message).toMatch(/:1: expected the header "emotion,pixels,Usage"/);
    const missing = await errorOf(() => createFer2013CsvSource({ file: '/nonexistent/fer2013.csv' }).splits());
    expect(missing.message).toMatch(/FER2013 CSV not found: \/nonexistent\/fer2013\.csv/);
    const file = csvFile(['emotion,pixels,Usage', ...validRows().slice(0, 7)].join('\n'));
    const unknown = await errorOf(() => createFer2013CsvSource({ file }).load('test', { imageSize: 48, logger: silentLogger }));
    expect(unknown.message).toMatch(/no rows for split "test" \(splits: train;/);
  });

  it('rejects a split lacking a class', async () => {
    const file = csvFile(['emotion,pixels,Usage', ...validRows().filter((r) => !r.startsWith('1,'))].join('\n'));
    const err = await errorOf(() => createFer2013CsvSource({ file }).load('train', { imageSize: 48, logger: silentLogger }));
    expect(err.message).toMatch(/split "train" has no usable images of class disgust/);
  });
});

const SAMPLE = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../../shared/data/fer2013-format-sample.csv');
const haveSample = existsSync(SAMPLE);
if (!haveSample) console.warn(`skipping the FER2013 sample CSV tests: ${SAMPLE} not found`);

describe.skipIf(!haveSample)(`the FER2013 sample CSV (${SAMPLE})`, () => {
  it('loads 70 train, 35 val and 35 test faces, 10/5/5 per class, at 48x48x3', async () => {
    const source = createFer2013CsvSource({ file: SAMPLE });
    expect(await source.splits()).toEqual(['train', 'val', 'test']);
    for (const [split, perClass] of [['train', 10], ['val', 5], ['test', 5]] as const) {
      const set = await source.load(split, { imageSize: 48, logger: silentLogger });
      expect(set.count).toBe(7 * perClass);
      expect(set.size).toBe(48);
      expect(set.images.length).toBe(7 * perClass * 48 * 48 * 3);
      expect((await source.inventory(split)).counts).toEqual(new Array(7).fill(perClass));
      const counts = new Array(7).fill(0);
      for (const label of set.labels) counts[label]++;
      expect(counts).toEqual(new Array(7).fill(perClass));
    }
  });

  it("keeps each row's pixels and label: R = G = B = the CSV value at 48", async () => {
    const [, first] = readFileSync(SAMPLE, 'utf8').split('\n');
    const [emotion, values] = first.split(',');
    const set = await createFer2013CsvSource({ file: SAMPLE }).load('train', { imageSize: 48, logger: silentLogger });
    expect(set.sources[0]).toBe(`${SAMPLE}:2`);
    expect(set.classes[set.labels[0]]).toBe(['angry', 'disgust', 'fear', 'happy', 'sad', 'surprise', 'neutral'][Number(emotion)]);
    const gray = values.split(' ').map(Number);
    for (const p of [0, 817, 2303]) expect(Array.from(set.images.subarray(p * 3, p * 3 + 3))).toEqual([gray[p], gray[p], gray[p]]);
  });
});
