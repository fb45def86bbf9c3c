/**
 * Decompression bombs: a PNG or JPEG of a few KB that declares 50,000 x 50,000 pixels is refused
 * from its header (PNG's IHDR, JPEG's start-of-frame) before any decoder allocates for it, against
 * a configurable limit (`data.maxPixels`, default 40 MP); sharp gets the limit as its
 * limitInputPixels too. Checked for RAF-DB, AffectNet (with its face boxes), image folders, in
 * memory and streamed. (`fermix prepare` is checked in packages/cli/test/prepare.test.ts.)
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { deflateSync } from 'node:zlib';
import jpeg from 'jpeg-js';
import { afterAll, describe, expect, it } from 'vitest';
import { validateConfig } from '@fermix/core';
import { createAffectNetSource } from '../src/affectnet.js';
import { decodeImage, DEFAULT_MAX_PIXELS } from '../src/decode.js';
import { encodeRgbPng } from '@fermix/core';
import { decodeFiles } from '../src/decode-pool.js';
import { createImageFolderSource } from '../src/image-folder.js';
import { openSplit } from '../src/open-split.js';
import { createRafdbSource, rafdbImagePath, RAFDB_LABEL_FILE } from '../src/rafdb.js';
import { createSharpDecode, loadSharp } from '../src/sharp-decoder.js';
import type { DataSource } from '../src/source.js';
import { createMemoryLogger } from '@fermix/core';
import { chunk, PNG_SIGNATURE } from '../../../test-support/png-bytes.js';

const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));
const scratch = () => {
  const d = mkdtempSync(path.join(tmpdir(), 'fermix-bomb-'));
  dirs.push(d);
  return d;
};

/**
 * A valid PNG (correct CRCs) declaring width x height RGB pixels whose IDAT is the start of a zlib
 * stream of zero rows: a decoder without a size check would allocate the whole image first.
 */
function bombPng(width: number, height: number): Buffer {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr.set([8, 2, 0, 0, 0], 8);
  return Buffer.concat([PNG_SIGNATURE, chunk('IHDR', ihdr), chunk('IDAT', deflateSync(Buffer.alloc(1 << 20))), chunk('IEND', new Uint8Array(0))]);
}

const flatRgba = (n: number, level: number) => Buffer.alloc(n * n * 4, level);
const smallJpeg = (n: number, level = 120) => Buffer.from(jpeg.encode({ width: n, height: n, data: flatRgba(n, level) }, 90).data);
/** A real JPEG whose start-of-frame says width x height. */
function bombJpeg(width: number, height: number): Buffer {
  const bytes = smallJpeg(16);
  const sof = bytes.indexOf(Buffer.from([0xff, 0xc0]));
  bytes.writeUInt16BE(height, sof + 5);
  bytes.writeUInt16BE(width, sof + 7);
  return bytes;
}

/** Memory the process holds outside the JS heap (pixel buffers live there), in MB. */
const externalMB = () => (process.memoryUsage().arrayBuffers + process.memoryUsage().external) / 2 ** 20;

describe('decompression bombs', () => {
  it('a few-KB PNG or JPEG declaring 50,000 x 50,000 pixels is refused from its header, with nothing large allocated', () => {
    const png = bombPng(50_000, 50_000);
    const jpg = bombJpeg(50_000, 50_000);
    expect(png.length).toBeLessThan(8 * 1024);
    expect(jpg.length).toBeLessThan(8 * 1024);
    const before = externalMB();
    expect(() => decodeImage(png, 'bomb.png')).toThrow('cannot decode bomb.png: image too large (50000x50000 = 2500000000 pixels exceeds data.maxPixels 40000000)');
    expect(() => decodeImage(jpg, 'bomb.jpg')).toThrow('cannot decode bomb.jpg: image too large (50000x50000 = 2500000000 pixels exceeds data.maxPixels 40000000)');
    // Decoded, either would be 7.5 GB of RGB; a refusal before decoding allocates nothing of the kind.
    expect(externalMB() - before).toBeLessThan(64);
  });

  it('data.maxPixels sets the limit: a 100x100 image passes at 10,000 and is refused at 9,999, by every decoder', async () => {
    const dir = scratch();
    const files = [path.join(dir, 'a.png'), path.join(dir, 'b.jpg')];
    writeFileSync(files[0], encodeRgbPng(new Uint8Array(100 * 100 * 3).fill(7), 100, 100));
    writeFileSync(files[1], smallJpeg(100)); // 100x100 goes to sharp when it is installed
    for (const decoder of ['js', 'auto'] as const) {
      for (const workers of [0, 1]) {
        const ok = await decodeFiles(files, 8, { decoder, workers, maxPixels: 10_000 });
        expect(ok.map((r) => r.ok)).toEqual([true, true]);
        const refused = await decodeFiles(files, 8, { decoder, workers, maxPixels: 9_999 });
        for (const r of refused) expect(r).toEqual({ ok: false, reason: 'image too large (100x100 = 10000 pixels exceeds data.maxPixels 9999)' });
      }
    }
  });

  it("sharp checks the limit itself too (limitInputPixels), should an image reach it unchecked", async () => {
    const loaded = await loadSharp();
    if (!loaded) return console.log('sharp is not installed here: nothing to check');
    const sharp = (await import(pathToFileURL(loaded.path).href)).default;
    const decode = createSharpDecode(sharp);
    await expect(decode(smallJpeg(100), 10_000)).resolves.toMatchObject({ width: 100, height: 100 });
    await expect(decode(smallJpeg(100), 9_999)).rejects.toThrow(/pixel limit/);
  });

  it('data.maxPixels is in the config: 40 MP by default, a positive integer up to 250 M', () => {
    expect(validateConfig({}, { baseDir: '/' }).data.maxPixels).toBe(DEFAULT_MAX_PIXELS);
    expect(validateConfig({ data: { format: 'synthetic', maxPixels: 1_000_000 } }, { baseDir: '/' }).data.maxPixels).toBe(1_000_000);
    for (const bad of [0, -1, 1.5, 1e12, Number.NaN, '40MP']) {
      expect(() => validateConfig({ data: { format: 'synthetic', maxPixels: bad } }, { baseDir: '/' })).toThrow(/data\.maxPixels/);
    }
  });
});

/** Opens the split in memory and streamed; both must skip exactly `bombs`, each logged by path with the reason. */
async function expectBombsSkipped(source: DataSource, split: string, bombs: string[], good: number): Promise<void> {
  for (const budgetBytes of [2 ** 30, 0]) {
    const logger = createMemoryLogger();
    const data = await openSplit(source, split, { imageSize: 8, logger, prefetch: 2, budgetBytes, workers: 1, maxPixels: 1_000_000 });
    expect(data.streamed).toBe(budgetBytes === 0);
    let images = data.count;
    if (data.streamed) {
      images = 0;
      const order = Array.from({ length: data.count }, (_, i) => i);
      for await (const batch of data.batches(order, [[0, data.count]])) images += batch.count;
    }
    expect(images).toBe(good);
    expect(data.skipped.map((s) => s.path).sort()).toEqual([...bombs].sort());
    for (const s of data.skipped) expect(s.reason).toMatch(/^image too large \(\d+x\d+ = \d+ pixels exceeds data\.maxPixels 1000000\)$/);
    for (const bomb of bombs) expect(logger.lines.some((l) => l.message.includes(bomb) && /image too large/.test(l.message))).toBe(true);
  }
}

describe('decompression bombs in datasets: skipped by path, in memory and streamed', () => {
  it('RAF-DB: a bomb among the aligned faces', async () => {
    const root = scratch();
    mkdirSync(path.join(root, 'EmoLabel'), { recursive: true });
    mkdirSync(path.join(root, 'Image/aligned'), { recursive: true });
    const names = [1, 2, 3, 4, 5, 6, 7].map((c) => [`train_0000${c}.jpg`, c] as const);
    const lines = [...names, ['train_00008.jpg', 1] as const, ['train_00009.jpg', 2] as const];
    writeFileSync(path.join(root, RAFDB_LABEL_FILE), lines.map(([n, c]) => `${n} ${c}`).join('\n'));
    for (const [n] of names) writeFileSync(rafdbImagePath(root, n), smallJpeg(12));
    writeFileSync(rafdbImagePath(root, 'train_00008.jpg'), bombJpeg(50_000, 50_000));
    writeFileSync(rafdbImagePath(root, 'train_00009.jpg'), bombJpeg(2000, 1000)); // 2 MP: over this test's 1 MP limit
    await expectBombsSkipped(createRafdbSource({ root }), 'train', [rafdbImagePath(root, 'train_00008.jpg'), rafdbImagePath(root, 'train_00009.jpg')], 7);
  });

  it('AffectNet: a bomb behind a face box, and absurd face boxes on real images (clipped, never enlarged)', async () => {
    const root = scratch();
    const images = path.join(root, 'Manually_Annotated_Images', '1');
    mkdirSync(images, { recursive: true });
    const header = 'subDirectory_filePath,face_x,face_y,face_width,face_height,facial_landmarks,expression,valence,arousal';
    const rows = [0, 1, 2, 3, 4, 5, 6].map((code) => {
      writeFileSync(path.join(images, `f${code}.jpg`), smallJpeg(20, 30 * code));
      // Boxes far larger than the image, or at huge offsets partly inside: clipped to the 20x20 image.
      const box = code % 2 === 0 ? '0,0,1e9,1e9' : '-1e12,-1e12,1000000000010,1000000000010';
      return `1/f${code}.jpg,${box},,${code},0,0`;
    });
    writeFileSync(path.join(images, 'bomb.png'), bombPng(50_000, 50_000));
    rows.push('1/bomb.png,10,10,100,100,,1,0,0');
    writeFileSync(path.join(root, 'training.csv'), [header, ...rows].join('\n') + '\n');
    await expectBombsSkipped(createAffectNetSource({ root }), 'train', [path.join(images, 'bomb.png')], 7);
  });

  it('image folders: a PNG and a JPEG bomb among real images', async () => {
    const root = scratch();
    for (const cls of ['happy', 'sad']) {
      mkdirSync(path.join(root, 'train', cls), { recursive: true });
      for (let i = 0; i < 3; i++) writeFileSync(path.join(root, 'train', cls, `${i}.jpg`), smallJpeg(10, 40 * i));
    }
    const bombs = [path.join(root, 'train', 'happy', 'bomb.png'), path.join(root, 'train', 'sad', 'bomb.jpg')];
    writeFileSync(bombs[0], bombPng(50_000, 50_000));
    writeFileSync(bombs[1], bombJpeg(65_535, 65_535));
    await expectBombsSkipped(createImageFolderSource({ root }), 'train', bombs, 6);
  });
});
