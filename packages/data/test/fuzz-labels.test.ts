/**
 * Label and CSV fuzzing: RAF-DB label lines, FER2013 CSV rows and AffectNet CSV rows, mutated by
 * fast-check (wrong column counts, non-numeric pixels, labels out of range, paths with `..`,
 * absolute paths, NUL bytes, very long lines, junk). Each file is either read whole, with every
 * image path inside the dataset root, or refused with a DataError that names a line that was
 * broken; a message stays short whatever the line. Listed images that are absent are skipped (and
 * named) with data.onMissing: skip. Nothing outside the dataset root is ever listed for reading.
 */
import { mkdirSync, mkdtempSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { checkAsyncProperty, checkProperty, nastyString } from '../../../test-support/fuzz.js';
import { readAffectNetCsv } from '../src/affectnet.js';
import { MAX_LINE_CHARS, readFer2013Rows } from '../src/fer2013-csv.js';
import { EXPRESSION_CLASSES_WITH_CONTEMPT } from '../src/labels.js';
import { createRafdbSource, parseRafdbLabels, rafdbImagePath, RAFDB_LABEL_FILE } from '../src/rafdb.js';
import { DataError, type FileListSource } from '../src/source.js';

/** RAF-DB without alignment: a source that lists its files. */
const rafdb = (options: Parameters<typeof createRafdbSource>[0]) => createRafdbSource(options) as FileListSource;
import { createMemoryLogger } from '@fermix/core';

const scratch = mkdtempSync(path.join(tmpdir(), 'fermix-fuzz-labels-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

/** Inside `root` (or `root` itself): not through `..`, not absolute elsewhere. */
function inside(root: string, file: string): boolean {
  const rel = path.relative(root, file);
  return !rel.startsWith('..') && !path.isAbsolute(rel);
}

/** A broken line: which line, and what is put there. */
interface Edit {
  line: number;
  text: string;
}

/** Applies edits (replacing lines); returns the text and the 1-based numbers of the lines changed. */
function edited(lines: string[], edits: Edit[], offset = 0): { text: string; changed: Set<number> } {
  const out = [...lines];
  const changed = new Set<number>();
  for (const e of edits) {
    const i = offset + (e.line % (lines.length - offset));
    out[i] = e.text;
    changed.add(i + 1);
  }
  return { text: out.join('\n'), changed };
}

/** The 1-based line a DataError names (`file:12: why`), after checking the message is short and has no stack. */
function namedLine(err: unknown, file: string): number {
  if (!(err instanceof DataError)) throw new Error(`not a DataError: ${(err as Error)?.stack ?? String(err)}`);
  expect(err.message.length).toBeLessThan(600);
  expect(err.message).not.toMatch(/\n\s+at /);
  const m = new RegExp(`^${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:(\\d+): `).exec(err.message);
  if (!m) throw new Error(`the message names no line of ${file}: ${err.message}`);
  return Number(m[1]);
}

const longText = fc.constantFrom(100_000, MAX_LINE_CHARS + 10).map((n) => 'y'.repeat(n));

// ---------------------------------------------------------------------------------------------

const RAF_LINES = Array.from({ length: 14 }, (_, i) => `${i < 10 ? 'train' : 'test'}_${String(i + 1).padStart(5, '0')}.jpg ${(i % 7) + 1}`);
const badRafLine: fc.Arbitrary<string> = fc.oneof(
  fc.constantFrom(
    'train_00100.jpg',
    'train_00100.jpg 1 2',
    'train_00100.jpg 0',
    'train_00100.jpg 8',
    'train_00100.jpg -1',
    'train_00100.jpg 1.5',
    'train_00100.jpg x',
    '../secret.jpg 1',
    'train_x/../../../secret.jpg 1',
    'train_..\\..\\secret.jpg 2',
    '/etc/passwd 1',
    'C:\\secret.jpg 1',
    '\\\\server\\share\\x.jpg 1',
    'train_\0.jpg 1',
    'train_00001.jpg 1',
    'other_00100.jpg 1',
  ),
  longText.map((t) => `train_${t}.jpg 1`),
  nastyString.map((s) => `${s} 3`),
  fc.string({ unit: 'binary', maxLength: 40 }),
);

describe('RAF-DB label lines (fast-check)', () => {
  const root = path.join(scratch, 'raf');
  const file = path.join(root, RAFDB_LABEL_FILE);

  it('a mutated label file is read with every image inside the root, or refused naming a broken line', () => {
    let accepted = 0;
    const arb = fc.array(fc.record({ line: fc.nat(), text: badRafLine }), { minLength: 1, maxLength: 3 });
    checkProperty(
      'rafdb label lines',
      arb,
      (edits) => {
        const { text, changed } = edited(RAF_LINES, edits);
        let entries;
        try {
          entries = parseRafdbLabels(text, file);
        } catch (err) {
          expect(changed).toContain(namedLine(err, file));
          return;
        }
        accepted++;
        for (const e of entries) expect(inside(root, rafdbImagePath(root, e.name)), e.name).toBe(true);
      },
      400,
    );
    expect(accepted).toBeGreaterThan(5); // some mutations leave a valid file (a different label, a junk line that is blank)
  });

  it('listed images that are absent: named with data.onMissing: error, skipped and named with skip; nothing outside the root is listed', async () => {
    mkdirSync(path.join(root, 'Image/aligned'), { recursive: true });
    mkdirSync(path.dirname(file), { recursive: true });
    // A file outside the root that a hostile label file would point at.
    writeFileSync(path.join(scratch, 'secret.jpg'), 'not yours');
    writeFileSync(file, [...RAF_LINES, 'train_00020.jpg 4'].join('\n'));
    for (const line of RAF_LINES.slice(0, 10)) writeFileSync(rafdbImagePath(root, line.split(' ')[0]), 'x');
    const error = await rafdb({ root })
      .files('train', { imageSize: 8, logger: createMemoryLogger() })
      .then(() => null, (e: unknown) => e as Error);
    expect(error).toBeInstanceOf(DataError);
    expect(error!.message).toMatch(/1 of 11 images are missing .*Image\/aligned\/train_00020_aligned\.jpg.*data\.onMissing: skip/);
    const logger = createMemoryLogger();
    const files = await rafdb({ root, onMissing: 'skip' }).files('train', { imageSize: 8, logger });
    expect(files.items).toHaveLength(10);
    expect(files.skipped).toEqual([{ path: rafdbImagePath(root, 'train_00020.jpg'), reason: 'file not found' }]);
    expect(logger.lines.some((l) => l.level === 'warn' && l.message.includes('train_00020_aligned.jpg'))).toBe(true);
    for (const item of files.items) expect(inside(root, item.path)).toBe(true);
    writeFileSync(file, [...RAF_LINES, 'train_x/../../../secret.jpg 4'].join('\n'));
    await expect(rafdb({ root, onMissing: 'skip' }).files('train', { imageSize: 8, logger })).rejects.toThrow(`${file}:15: rejected entry: "train_x/../../../secret.jpg" escapes the dataset root`);
    // A label file of 100 MB (sparse: no line break in it) is not RAF-DB's, and is not read into memory.
    truncateSync(file, 100 * 2 ** 20);
    await expect(rafdb({ root }).splits()).rejects.toThrow(`RAF-DB label file too large: ${file} is 100 MB`);
  });
});

// ---------------------------------------------------------------------------------------------

const pixels = (seed: number) => Array.from({ length: 48 * 48 }, (_, i) => (i * 31 + seed * 7) % 256).join(' ');
const FER_LINES = ['emotion,pixels,Usage', ...Array.from({ length: 8 }, (_, i) => `${i % 7},${pixels(i)},${i < 5 ? 'Training' : 'PublicTest'}`)];
const badFerRow: fc.Arbitrary<string> = fc.oneof(
  fc.constantFrom(`3,${pixels(1)}`, `3,${pixels(1)},Training,extra`, `7,${pixels(1)},Training`, `-1,${pixels(1)},Training`, `x,${pixels(1)},Training`, `,${pixels(1)},Training`, `3,${pixels(1)},Validation`),
  fc.constantFrom('x', '-1', '256', '1.5', '', '\0', '1e3', '0x10').map((v) => `3,${pixels(2).replace(/^\d+/, v)},Training`),
  fc.constantFrom(2303, 2305, 0).map((n) => `3,${Array(n).fill(9).join(' ')},Training`),
  fc.constantFrom(`3,"${pixels(3)}",Training`, `"3","${pixels(3)}","Training"`), // quoted: valid
  longText.map((t) => `3,${t},Training`),
  fc.constant(`3,${Array(300_000).fill(255).join(' ')},Training`), // 1.2 MB: over the line limit
  nastyString,
);

describe('FER2013 CSV rows (fast-check)', () => {
  it('a mutated FER2013 CSV is read whole, or refused naming a broken line; a line over 1 MiB is refused without being held whole', async () => {
    const file = path.join(scratch, 'fer2013.csv');
    let accepted = 0;
    const arb = fc.tuple(fc.array(fc.record({ line: fc.nat(), text: badFerRow }), { minLength: 1, maxLength: 2 }), fc.boolean());
    await checkAsyncProperty(
      'fer2013 rows',
      arb,
      async ([edits, crlf]) => {
        const { text, changed } = edited(FER_LINES, edits, 1);
        writeFileSync(file, crlf ? text.replace(/\n/g, '\r\n') : text);
        try {
          let rows = 0;
          for await (const row of readFer2013Rows(file)) {
            expect(row.pixels).toHaveLength(48 * 48);
            expect(row.label).toBeGreaterThanOrEqual(0);
            expect(row.label).toBeLessThan(7);
            rows++;
          }
          expect(rows).toBeGreaterThan(0);
          accepted++;
        } catch (err) {
          expect(changed).toContain(namedLine(err, file));
        }
      },
      200,
    );
    expect(accepted).toBeGreaterThan(5);
  });
});

// ---------------------------------------------------------------------------------------------

const AFFECTNET_HEADER = 'subDirectory_filePath,face_x,face_y,face_width,face_height,facial_landmarks,expression,valence,arousal';
const AFFECTNET_LINES = [AFFECTNET_HEADER, ...Array.from({ length: 9 }, (_, i) => `${i % 3}/f${i}.jpg,${i},${i},40,40,,${i},0.1,-0.2`)];
const badAffectNetRow: fc.Arbitrary<string> = fc.oneof(
  fc.constantFrom(
    '1/a.jpg,1,1,40,40,,3,0',
    '1/a.jpg,1,1,40,40,,3,0,0,0',
    '1/a.jpg,1,1,40,40,,11,0,0',
    '1/a.jpg,1,1,40,40,,-1,0,0',
    '1/a.jpg,1,1,40,40,,happy,0,0',
    '1/a.jpg,x,1,40,40,,3,0,0',
    '1/a.jpg,1,1,0,40,,3,0,0',
    '1/a.jpg,1,1,-5,40,,3,0,0',
    '1/a.jpg,1,1,1e999,40,,3,0,0',
    '1/a.jpg,,1,40,40,,3,0,0',
    '../../secret.jpg,1,1,40,40,,3,0,0',
    '1/../../../secret.jpg,1,1,40,40,,3,0,0',
    '/etc/passwd,1,1,40,40,,3,0,0',
    'C:\\x.jpg,1,1,40,40,,3,0,0',
    '1/a\0.jpg,1,1,40,40,,3,0,0',
    ',1,1,40,40,,3,0,0',
    '"1/a,b.jpg",1,1,40,40,,3,0,0', // quoted comma: valid
    '"1/a.jpg,1,1,40,40,,3,0,0', // unterminated quote: one field
  ),
  longText.map((t) => `1/${t}.jpg,1,1,40,40,,3,0,0`),
  nastyString.map((s) => `${s},1,1,40,40,,3,0,0`),
  nastyString,
);

describe('AffectNet CSV rows (fast-check)', () => {
  it('a mutated AffectNet CSV is read with every image inside the images folder, or refused naming a broken line', async () => {
    const file = path.join(scratch, 'training.csv');
    const imagesDir = path.join(scratch, 'affectnet', 'Manually_Annotated_Images');
    let accepted = 0;
    const arb = fc.array(fc.record({ line: fc.nat(), text: badAffectNetRow }), { minLength: 1, maxLength: 3 });
    await checkAsyncProperty(
      'affectnet rows',
      arb,
      async (edits) => {
        const { text, changed } = edited(AFFECTNET_LINES, edits, 1);
        writeFileSync(file, text + '\n');
        try {
          const { samples } = await readAffectNetCsv(file, imagesDir, EXPRESSION_CLASSES_WITH_CONTEMPT);
          accepted++;
          for (const s of samples) {
            expect(inside(imagesDir, s.path), s.path).toBe(true);
            expect(s.box.width).toBeGreaterThan(0);
            expect(Number.isFinite(s.box.x + s.box.y + s.box.width + s.box.height)).toBe(true);
          }
        } catch (err) {
          expect(changed).toContain(namedLine(err, file));
        }
      },
      300,
    );
    expect(accepted).toBeGreaterThan(5);
  });
});
