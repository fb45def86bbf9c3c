/**
 * Image fuzzing: real PNGs from ../shared/data/fer2013-mini, and JPEGs made from them (small ones
 * for jpeg-js, large ones for sharp), broken by fast-check: truncated, bits flipped, header bytes
 * overwritten, absurd dimensions in IHDR / SOF, chunk lengths corrupted. Every broken file is either
 * decoded whole or skipped with its path in the log, with the pure-JavaScript decoders and with
 * sharp, on this thread and on worker threads, loaded into memory and streamed; nothing throws,
 * hangs or runs out of memory.
 */
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import jpeg from 'jpeg-js';
import pngjs from 'pngjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fuzzRuns, fuzzSeed } from '../../../test-support/fuzz.js';
import { codecWith, decodeImage, toRgbResized } from '../src/decode.js';
import { decodeFiles, type DecodeResult } from '../src/decode-pool.js';
import { createImageFolderSource } from '../src/image-folder.js';
import { openSplit } from '../src/open-split.js';
import { loadSharp } from '../src/sharp-decoder.js';
import { createMemoryLogger } from '@fermix/core';

const here = path.dirname(fileURLToPath(import.meta.url));
const ferMini = path.resolve(here, '../../../../shared/data/fer2013-mini');
const hasData = existsSync(path.join(ferMini, 'train'));
const SIZE = 24;

type Damage =
  | { kind: 'truncate'; keep: number }
  | { kind: 'flip'; bits: { at: number; bit: number }[] }
  | { kind: 'header'; bytes: { at: number; value: number }[] }
  | { kind: 'dimensions'; width: number; height: number }
  | { kind: 'length'; at: number; value: number }
  | { kind: 'append'; bytes: number[] };

const absurd = fc.oneof(fc.constantFrom(0, 1, 65535, 50_000, 2 ** 31 - 1, 2 ** 32 - 1), fc.nat({ max: 2 ** 32 - 1 }));
const damage: fc.Arbitrary<Damage> = fc.oneof(
  fc.record({ kind: fc.constant('truncate' as const), keep: fc.double({ min: 0, max: 0.999, noNaN: true }) }),
  fc.record({ kind: fc.constant('flip' as const), bits: fc.array(fc.record({ at: fc.nat(), bit: fc.nat({ max: 7 }) }), { minLength: 1, maxLength: 8 }) }),
  fc.record({ kind: fc.constant('header' as const), bytes: fc.array(fc.record({ at: fc.nat({ max: 63 }), value: fc.nat({ max: 255 }) }), { minLength: 1, maxLength: 6 }) }),
  fc.record({ kind: fc.constant('dimensions' as const), width: absurd, height: absurd }),
  fc.record({ kind: fc.constant('length' as const), at: fc.nat(), value: fc.nat({ max: 2 ** 32 - 1 }) }),
  fc.record({ kind: fc.constant('append' as const), bytes: fc.array(fc.nat({ max: 255 }), { maxLength: 64 }) }),
);

/** Offset of the width in a PNG (IHDR) or of the height in a JPEG's start-of-frame, or -1. */
function dimensionsAt(bytes: Uint8Array): { at: number; png: boolean } {
  if (bytes[0] === 0x89) return { at: 16, png: true };
  for (let i = 2; i + 9 < bytes.length; i++) {
    if (bytes[i] === 0xff && (bytes[i + 1] === 0xc0 || bytes[i + 1] === 0xc2)) return { at: i + 5, png: false };
  }
  return { at: -1, png: false };
}

function broken(original: Uint8Array, d: Damage): Uint8Array {
  const bytes = Buffer.from(original);
  switch (d.kind) {
    case 'truncate':
      return bytes.subarray(0, Math.floor(bytes.length * d.keep));
    case 'flip':
      for (const { at, bit } of d.bits) bytes[at % bytes.length] ^= 1 << bit;
      return bytes;
    case 'header':
      for (const { at, value } of d.bytes) bytes[at % bytes.length] = value;
      return bytes;
    case 'dimensions': {
      const { at, png } = dimensionsAt(bytes);
      if (at < 0) return bytes;
      if (png) {
        bytes.writeUInt32BE(d.width, at);
        bytes.writeUInt32BE(d.height, at + 4);
      } else {
        bytes.writeUInt16BE(d.height & 0xffff, at);
        bytes.writeUInt16BE(d.width & 0xffff, at + 2);
      }
      return bytes;
    }
    case 'length':
      bytes.writeUInt32BE(d.value, d.at % Math.max(1, bytes.length - 4));
      return bytes;
    case 'append':
      return Buffer.concat([bytes, Buffer.from(d.bytes)]);
  }
}

/** Real faces as PNG (48x48 gray, as shipped), JPEG 48x48 (jpeg-js decodes it) and JPEG 96x96 (sharp does, when installed). */
function originals(): { name: string; bytes: Uint8Array }[] {
  const out: { name: string; bytes: Uint8Array }[] = [];
  for (const cls of readdirSync(path.join(ferMini, 'train')).sort().slice(0, 4)) {
    const file = path.join(ferMini, 'train', cls, readdirSync(path.join(ferMini, 'train', cls)).sort()[0]);
    const png = readFileSync(file);
    const img = decodeImage(png, file);
    const rgba = (rgb: Uint8Array, n: number) => Buffer.from(Uint8Array.from({ length: n * n * 4 }, (_, i) => (i % 4 === 3 ? 255 : rgb[Math.floor(i / 4) * 3 + (i % 4)])));
    const small = toRgbResized(img, 48);
    const large = toRgbResized(img, 96);
    const colour = new pngjs.PNG({ width: 96, height: 96 });
    rgba(large, 96).copy(colour.data);
    out.push(
      { name: `${cls}-gray.png`, bytes: png },
      { name: `${cls}-rgb.png`, bytes: pngjs.PNG.sync.write(colour, { colorType: 2 }) },
      { name: `${cls}-48.jpg`, bytes: jpeg.encode({ width: 48, height: 48, data: rgba(small, 48) }, 90).data },
      { name: `${cls}-96.jpg`, bytes: jpeg.encode({ width: 96, height: 96, data: rgba(large, 96) }, 90).data },
    );
  }
  return out;
}

let root: string;
let files: string[];
let seed: number;

beforeAll(() => {
  if (!hasData) return;
  seed = fuzzSeed('images');
  root = mkdtempSync(path.join(tmpdir(), 'fermix-fuzz-images-'));
  const sources = originals();
  const cases = fc.sample(fc.tuple(fc.nat({ max: sources.length - 1 }), damage), { seed, numRuns: fuzzRuns(240) });
  files = [];
  // Each class folder of the split gets intact files too, so the split as a whole stays usable.
  for (const [i, s] of sources.entries()) {
    const file = path.join(root, 'train', `class${i % 2}`, `intact-${s.name}`);
    mkdirSync(path.dirname(file), { recursive: true });
    writeFileSync(file, s.bytes);
  }
  cases.forEach(([which, d], i) => {
    const s = sources[which];
    const file = path.join(root, 'train', `class${i % 2}`, `case-${i}-${d.kind}-${s.name}`);
    writeFileSync(file, broken(s.bytes, d));
    files.push(file);
  });
  console.log(`fuzz images: ${files.length} broken files from ${sources.length} originals (seed ${seed})`);
});
afterAll(() => root && rmSync(root, { recursive: true, force: true }));

/** Each result is a whole decoded image or a reason; returns the paths that failed. */
function checkResults(results: DecodeResult[]): Set<string> {
  const failed = new Set<string>();
  expect(results).toHaveLength(files.length);
  results.forEach((r, i) => {
    if (r.ok) expect(r.data.length).toBe(SIZE * SIZE * 3);
    else {
      expect(typeof r.reason).toBe('string');
      expect(r.reason.length).toBeGreaterThan(0);
      failed.add(files[i]);
    }
  });
  return failed;
}

describe.skipIf(!hasData)('broken PNG and JPEG files (fast-check)', () => {
  it('pure JavaScript (pngjs, jpeg-js): every file decodes whole or fails with a reason, the same on this thread and on workers', async () => {
    const started = performance.now();
    const inProcess = await decodeFiles(files, SIZE, { workers: 0, decoder: 'js' });
    const failed = checkResults(inProcess);
    const onWorkers = await decodeFiles(files, SIZE, { workers: 2, chunkSize: 16, decoder: 'js' });
    expect(onWorkers).toEqual(inProcess);
    console.log(`fuzz images (js): ${files.length} files, ${failed.size} unreadable, ${files.length - failed.size} decoded, ${((performance.now() - started) / 1000).toFixed(1)} s`);
    // The damage is real: most files break; the absurd sizes are refused from the header.
    expect(failed.size).toBeGreaterThan(files.length / 3);
    const reasons = inProcess.flatMap((r) => (r.ok ? [] : [r.reason]));
    expect(reasons.some((r) => /image too large/.test(r))).toBe(true);
    expect(reasons.some((r) => /truncated or corrupt PNG/.test(r))).toBe(true);
    expect(reasons.some((r) => /truncated or corrupt JPEG/.test(r))).toBe(true);
  });

  it('with sharp for the large JPEGs (when installed): the same property, on this thread and on workers', async () => {
    const sharp = await loadSharp();
    if (!sharp) {
      console.log('sharp is not installed here: the sharp half of this test has nothing to run');
      return;
    }
    const inProcess = await decodeFiles(files, SIZE, { workers: 0, decoder: 'auto' });
    const failed = checkResults(inProcess);
    const onWorkers = await decodeFiles(files, SIZE, { workers: 2, chunkSize: 16, decoder: 'auto' });
    // The same pixels, and the same files refused. (libvips words one failure differently from
    // thread to thread, e.g. "premature end of data segment" or "Warning treated as error".)
    const outcome = (r: DecodeResult) => (r.ok ? r.data : 'unreadable');
    expect(onWorkers.map(outcome)).toEqual(inProcess.map(outcome));
    for (const r of [...inProcess, ...onWorkers]) if (!r.ok) expect(r.reason).not.toContain('\n');
    console.log(`fuzz images (sharp + js): ${failed.size} unreadable of ${files.length}`);
    // Files whose header does not send them to sharp (PNGs, JPEGs that declare under 64x64) decode
    // exactly as without it.
    const js = await decodeFiles(files, SIZE, { workers: 0, decoder: 'js' });
    const withSharp = codecWith(sharp.decode);
    files.forEach((f, i) => {
      if (!withSharp.usesNativeDecoder(readFileSync(f))) expect(inProcess[i]).toEqual(js[i]);
    });
  });

  it('a data source skips each unreadable file with its path in the log, in memory and streamed, and trains on the rest', async () => {
    const source = createImageFolderSource({ root });
    const memoryLog = createMemoryLogger();
    const inMemory = await openSplit(source, 'train', { imageSize: SIZE, logger: memoryLog, prefetch: 2, budgetBytes: 2 ** 30 });
    expect(inMemory.streamed).toBe(false);
    const skipped = new Set(inMemory.skipped.map((s) => s.path));
    expect(skipped.size).toBeGreaterThan(0);
    for (const file of skipped) expect(memoryLog.lines.some((l) => l.message.includes(file))).toBe(true);

    const streamLog = createMemoryLogger();
    const streamed = await openSplit(source, 'train', { imageSize: SIZE, logger: streamLog, prefetch: 2, budgetBytes: 0, workers: 1 });
    expect(streamed.streamed).toBe(true);
    const order = Array.from({ length: streamed.count }, (_, i) => i);
    const ranges = Array.from({ length: Math.ceil(streamed.count / 16) }, (_, b) => [b * 16, Math.min(streamed.count, (b + 1) * 16)] as const);
    let images = 0;
    for await (const batch of streamed.batches(order, ranges)) images += batch.count;
    // The stream skips exactly the files the in-memory load skipped, each logged by path.
    expect(new Set(streamed.skipped.map((s) => s.path))).toEqual(skipped);
    for (const file of skipped) expect(streamLog.lines.some((l) => l.message.includes(file))).toBe(true);
    // Every readable image is trained on, except a batch left with one image (batch norm needs two).
    expect(images).toBeLessThanOrEqual(inMemory.count);
    expect(images).toBeGreaterThanOrEqual(inMemory.count - ranges.length);
  });
});
