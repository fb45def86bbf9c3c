/**
 * FER2013 in its original CSV: a header `emotion,pixels,Usage` (any column order and case), then one
 * row per face: emotion 0..6 = angry, disgust, fear, happy, sad, surprise, neutral (mapped to the
 * canonical classes), 48x48 gray pixels space-separated, Usage Training / PublicTest / PrivateTest
 * (splits train / val / test). A CSV without a Usage column puts every row in `train`.
 *
 * The file is streamed line by line (the full FER2013 CSV is ~300 MB) and every row is validated on
 * every pass, so a malformed row is a DataError naming its line whichever split is loaded.
 */
import { createReadStream, statSync } from 'node:fs';
import path from 'node:path';
import { toRgbResized } from './decode.js';
import { streamable } from './open-split.js';
import { FER2013_LABELS, labelIndexTable, quoted, requireEveryClass, type InventorySource, type SplitInventory } from './labels.js';
import { DataError, EXPRESSION_CLASSES, type ImageSet, type LoadOptions } from './source.js';

export interface Fer2013CsvOptions {
  /** The CSV file. */
  file: string;
}

export const FER2013_SIDE = 48;
const PIXEL_COUNT = FER2013_SIDE * FER2013_SIDE;
const SPLIT_OF_USAGE: Readonly<Record<string, string>> = { Training: 'train', PublicTest: 'val', PrivateTest: 'test' };
const SPLIT_ORDER = ['train', 'val', 'test'];

// ---------------------------------------------------------------------------------------------
// CSV reading (also used by affectnet.ts)

/**
 * Longer lines are refused (a FER2013 row is ~9 KB, an AffectNet row ~2 KB): a file without line
 * breaks must not be read into memory whole.
 */
export const MAX_LINE_CHARS = 1 << 20;

/**
 * The lines of a text file with their 1-based numbers, streamed; `\n`, `\r\n` and `\r` end a line.
 * A line longer than `maxChars` is a DataError naming it, raised before more than that is held.
 */
export async function* readLines(file: string, maxChars: number = MAX_LINE_CHARS): AsyncGenerator<{ text: string; line: number }> {
  const input = createReadStream(file, { encoding: 'utf8', highWaterMark: 1 << 16 });
  const tooLong = (line: number) => new DataError(`${file}:${line}: line longer than ${maxChars} characters (is this the right file?)`, file);
  let pending = '';
  let line = 0;
  const next = (text: string) => ({ text: line === 0 ? text.replace(/^\uFEFF/, '') : text, line: ++line });
  try {
    for await (const chunk of input as AsyncIterable<string>) {
      const text = pending + chunk;
      const breaks = /\r\n|\r|\n/g;
      let start = 0;
      for (let m = breaks.exec(text); m; m = breaks.exec(text)) {
        // A \r at the very end may be the first half of a \r\n split across chunks.
        if (m[0] === '\r' && m.index === text.length - 1) break;
        if (m.index - start > maxChars) throw tooLong(line + 1);
        yield next(text.slice(start, m.index));
        start = m.index + m[0].length;
      }
      pending = text.slice(start);
      if (pending.length > maxChars + 1) throw tooLong(line + 1);
    }
    if (pending.endsWith('\r')) pending = pending.slice(0, -1);
    if (pending.length > maxChars) throw tooLong(line + 1);
    if (pending.length > 0) yield next(pending);
  } finally {
    input.destroy();
  }
}

/** Splits one CSV line into fields; double-quoted fields may hold commas and `""` quotes. */
export function splitCsvLine(text: string): string[] {
  const fields: string[] = [];
  let i = 0;
  for (;;) {
    let field = '';
    if (text[i] === '"') [field, i] = quotedField(text, i + 1);
    const comma = text.indexOf(',', i);
    const end = comma < 0 ? text.length : comma;
    field += text.slice(i, end); // an unquoted field (or anything after a closing quote)
    i = end;
    fields.push(field);
    if (i >= text.length) return fields;
    i++; // the comma
  }
}

/** The text of a quoted field starting after its opening quote, and the position after its closing quote. */
function quotedField(text: string, from: number): [string, number] {
  let field = '';
  for (let at = from; ; ) {
    const quote = text.indexOf('"', at);
    if (quote < 0) return [field + text.slice(at), text.length]; // unterminated: take the rest
    field += text.slice(at, quote);
    if (text[quote + 1] !== '"') return [field, quote + 1];
    field += '"';
    at = quote + 2;
  }
}

/** Column positions by header name, compared trimmed and lower-case. */
export function headerColumns(fields: string[]): Map<string, number> {
  return new Map(fields.map((name, i) => [name.trim().toLowerCase(), i]));
}

/** Rejects a file that is not there, or is a folder, before streaming it. */
export function requireFile(file: string, what: string): void {
  let isFile = false;
  try {
    isFile = statSync(file).isFile();
  } catch {
    throw new DataError(`${what} not found: ${file}`, file);
  }
  if (!isFile) throw new DataError(`${what} is not a file: ${file}`, file);
}

// ---------------------------------------------------------------------------------------------
// FER2013 rows

/** A validated row: its class index (canonical), split and 48x48 gray pixels. */
export interface Fer2013Row {
  line: number;
  label: number;
  split: string;
  pixels: Uint8Array;
}

/**
 * The 2304 space-separated values of a `pixels` field, or a reason they are wrong. A hand-written
 * scan: split(' ') + Number() on 35k rows x 2304 values is several times slower.
 */
export function parsePixels(text: string): Uint8Array | string {
  const out = new Uint8Array(PIXEL_COUNT);
  let count = 0;
  let value = -1; // -1: not inside a number
  for (let i = 0; i <= text.length; i++) {
    const c = i < text.length ? text.charCodeAt(i) : 32;
    if (c >= 48 && c <= 57) {
      value = (value < 0 ? 0 : value * 10) + (c - 48);
      if (value > 255) return `pixel value ${count + 1} is above 255`;
    } else if (c === 32 || c === 9) {
      if (value >= 0) {
        if (count < PIXEL_COUNT) out[count] = value;
        count++;
        value = -1;
      }
    } else {
      return `pixel value ${count + 1} is not an integer 0..255 (found ${quoted(text[i])})`;
    }
  }
  if (count !== PIXEL_COUNT) return `expected ${PIXEL_COUNT} pixel values (${FER2013_SIDE}x${FER2013_SIDE}), found ${count}`;
  return out;
}

/** Streams and validates every row; DataError `file:line: why` on the first malformed one. */
export async function* readFer2013Rows(file: string): AsyncGenerator<Fer2013Row> {
  requireFile(file, 'FER2013 CSV');
  const labelOf = labelIndexTable(FER2013_LABELS, EXPRESSION_CLASSES);
  let columns: { emotion: number; pixels: number; usage: number | undefined; count: number } | undefined;
  for await (const { text, line } of readLines(file)) {
    if (text.trim() === '') continue;
    const fail = (why: string) => new DataError(`${file}:${line}: ${why}`, file);
    const fields = splitCsvLine(text);
    if (!columns) {
      columns = fer2013Columns(fields);
      if (!columns) throw fail(`expected the header "emotion,pixels,Usage", found ${quoted(text)}`);
      continue;
    }
    if (fields.length !== columns.count) throw fail(`expected ${columns.count} fields, found ${fields.length}`);
    const emotion = fields[columns.emotion].trim();
    if (!/^[0-6]$/.test(emotion)) throw fail(`emotion must be 0..6 (${FER2013_LABELS.join(', ')}), found ${quoted(emotion)}`);
    const usage = columns.usage === undefined ? 'Training' : fields[columns.usage].trim();
    const split = SPLIT_OF_USAGE[usage];
    if (!split) throw fail(`unknown Usage ${quoted(usage)} (expected ${Object.keys(SPLIT_OF_USAGE).join(', ')})`);
    const pixels = parsePixels(fields[columns.pixels].trim());
    if (typeof pixels === 'string') throw fail(pixels);
    yield { line, label: labelOf[Number(emotion)], split, pixels };
  }
  if (!columns) throw new DataError(`${file}: empty FER2013 CSV (expected the header "emotion,pixels,Usage" and rows)`, file);
}

function fer2013Columns(fields: string[]) {
  const byName = headerColumns(fields);
  const emotion = byName.get('emotion');
  const pixels = byName.get('pixels');
  if (emotion === undefined || pixels === undefined) return undefined;
  return { emotion, pixels, usage: byName.get('usage'), count: fields.length };
}

// ---------------------------------------------------------------------------------------------
// The data source

/** Rows per split and class: one pass over the file, kept until the file changes. */
interface Summary {
  key: string;
  counts: Map<string, number[]>;
}

export function createFer2013CsvSource(options: Fer2013CsvOptions): InventorySource {
  const file = path.resolve(options.file);
  const what = `fer2013-csv ${options.file}`;
  const classes = [...EXPRESSION_CLASSES];
  let cached: Summary | undefined;

  const summarize = async (): Promise<Summary> => {
    const key = fileKey(file);
    if (cached?.key === key) return cached;
    const counts = new Map<string, number[]>();
    for await (const row of readFer2013Rows(file)) {
      if (!counts.has(row.split)) counts.set(row.split, new Array<number>(classes.length).fill(0));
      counts.get(row.split)![row.label]++;
    }
    cached = { key, counts };
    return cached;
  };
  const countsOf = async (split: string): Promise<number[]> => {
    const { counts } = await summarize();
    const found = counts.get(split);
    if (!found) throw new DataError(`${what}: no rows for split "${split}" (splits: ${splitsIn(counts).join(', ') || 'none'}; Usage Training → train, PublicTest → val, PrivateTest → test)`, file);
    return found;
  };

  return streamable({
    description: what,
    async classes() {
      return [...classes];
    },
    async splits() {
      return splitsIn((await summarize()).counts);
    },
    async load(split: string, { imageSize: size, logger }: LoadOptions): Promise<ImageSet> {
      if (!Number.isInteger(size) || size < 1) throw new Error(`imageSize must be a positive integer, got ${size}`);
      const started = Date.now();
      const expected = (await countsOf(split)).reduce((a, b) => a + b, 0);
      const set = await readSplit(file, split, expected, size, classes);
      requireEveryClass(set, split, what);
      logger.debug(`loaded split "${split}": ${set.count} images, ${classes.length} classes, ${size}x${size}`, { ms: Date.now() - started });
      return set;
    },
    async inventory(split: string): Promise<SplitInventory> {
      return { split, classes: [...classes], counts: [...(await countsOf(split))], missing: [] };
    },
  });
}

/** The rows of one split, resized to `size` RGB; `expected` rows (from the summary) preallocate the buffer. */
async function readSplit(file: string, split: string, expected: number, size: number, classes: string[]): Promise<ImageSet> {
  const pixels = size * size * 3;
  const set: ImageSet = {
    images: new Uint8Array(expected * pixels),
    labels: new Int32Array(expected),
    count: 0,
    size,
    classes: [...classes],
    sources: [],
    skipped: [],
  };
  for await (const row of readFer2013Rows(file)) {
    if (row.split !== split) continue;
    if (set.count === expected) throw new DataError(`${file} changed while it was being read; load again`, file);
    const image = toRgbResized({ width: FER2013_SIDE, height: FER2013_SIDE, channels: 1, data: row.pixels }, size);
    set.images.set(image, set.count * pixels);
    set.labels[set.count++] = row.label;
    set.sources.push(`${file}:${row.line}`);
  }
  if (set.count !== expected) throw new DataError(`${file} changed while it was being read; load again`, file);
  return set;
}

function splitsIn(counts: Map<string, number[]>): string[] {
  return SPLIT_ORDER.filter((s) => counts.has(s));
}

function fileKey(file: string): string {
  try {
    const s = statSync(file);
    return `${s.ino}:${s.size}:${s.mtimeMs}`;
  } catch {
    return 'missing'; // readFer2013Rows reports it
  }
}
