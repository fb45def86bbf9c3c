import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import jpeg from 'jpeg-js';
import pngjs from 'pngjs';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { createAffectNetSource } from '../src/affectnet.js';
import { codecWith, DEFAULT_MAX_PIXELS, imageCodec, type DecodedImage, type DecodeItem } from '../src/decode.js';
import { decodeFiles } from '../src/decode-pool.js';
import { loadSharp } from '../src/sharp-decoder.js';
import { createMemoryLogger, silentLogger } from '@fermix/core';
import { Rng } from '@fermix/core';

const { PNG } = pngjs;
const HEADER = 'subDirectory_filePath,face_x,face_y,face_width,face_height,facial_landmarks,expression,valence,arousal';

/** A smooth picture with noise: JPEG-friendly, and every crop of it is different. */
function rgba(w: number, h: number, seed: number): Buffer {
  const rnd = new Rng(seed);
  const data = Buffer.alloc(w * h * 4);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const i = (y * w + x) * 4;
      data[i] = Math.min(255, (x * 255) / w + rnd.uniform() * 30);
      data[i + 1] = Math.min(255, (y * 255) / h + rnd.uniform() * 30);
      data[i + 2] = Math.min(255, ((x + y) * 128) / (w + h) + rnd.uniform() * 60);
      data[i + 3] = 255;
    }
  }
  return data;
}

const jpegFile = (w: number, h: number, seed: number) => jpeg.encode({ width: w, height: h, data: rgba(w, h, seed) }, 90).data;
function pngFile(w: number, h: number, seed: number): Buffer {
  const png = new PNG({ width: w, height: h });
  rgba(w, h, seed).copy(png.data);
  return PNG.sync.write(png, { colorType: 2 });
}

let root: string;
/** file, box, expression code (0 neutral ... 6 anger): large JPEGs (sharp, when installed), small JPEGs and PNGs. */
const ROWS: [string, number[], number, Uint8Array][] = [
  ['1/big-a.jpg', [40, 30, 90, 80], 0, jpegFile(200, 150, 1)],
  ['1/big-b.jpg', [150, 100, 80, 80], 1, jpegFile(200, 150, 2)], // overlaps the border: clipped
  ['2/small.jpg', [5, 5, 30, 30], 2, jpegFile(48, 48, 3)],
  ['2/face.png', [10, 6, 16, 16], 3, pngFile(40, 30, 4)],
  ['2/outside.png', [50, 50, 10, 10], 4, pngFile(40, 30, 5)], // lies outside: unreadable
  ['3/c.jpg', [0, 0, 120, 120], 5, jpegFile(120, 120, 6)],
  ['3/d.jpg', [10, 10, 60, 90], 6, jpegFile(100, 100, 7)],
  ['3/e.jpg', [0, 0, 70, 70], 4, jpegFile(80, 80, 8)], // fear, since outside.png is lost
];

beforeAll(() => {
  root = mkdtempSync(path.join(tmpdir(), 'fermix-affectnet-workers-'));
  const lines = ROWS.map(([file, [x, y, w, h], code, bytes]) => {
    const full = path.join(root, 'Manually_Annotated_Images', file);
    mkdirSync(path.dirname(full), { recursive: true });
    writeFileSync(full, bytes);
    return `${file},${x},${y},${w},${h},,${code},0,0`;
  });
  writeFileSync(path.join(root, 'training.csv'), [HEADER, ...lines].join('\n') + '\n');
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

const items = (): DecodeItem[] =>
  ROWS.map(([file, [x, y, width, height]]) => ({ path: path.join(root, 'Manually_Annotated_Images', file), box: { x, y, width, height } }));

describe('AffectNet crops on workers', () => {
  it('decode + crop + resize in workers equals the same steps in-process, file by file', async () => {
    const logger = createMemoryLogger();
    const onWorkers = await decodeFiles(items(), 16, { workers: 2, chunkSize: 2, logger });
    expect(logger.lines).toEqual([]); // the workers ran: no fallback to this thread
    expect(onWorkers).toEqual(await decodeFiles(items(), 16, { workers: 0 }));

    // The reference, one step at a time on this thread, with the decoder the rule picks.
    const sharp = await loadSharp();
    const codec = codecWith(sharp?.decode);
    for (const [k, item] of items().entries()) {
      const bytes = readFileSync(item.path);
      let expected;
      try {
        const img: DecodedImage = codec.usesNativeDecoder(bytes) ? await sharp!.decode(bytes, DEFAULT_MAX_PIXELS) : codec.decodeImage(bytes, item.path, DEFAULT_MAX_PIXELS);
        expected = { ok: true, data: codec.toRgbResized(codec.cropImage(img, item.box!), 16) };
      } catch (err) {
        expected = { ok: false, reason: (err as Error).message };
      }
      expect(onWorkers[k]).toEqual(expected);
    }
    expect(onWorkers.filter((r) => !r.ok)).toHaveLength(1);
  });

  it('createAffectNetSource decodes the same set on workers and in-process', async () => {
    const load = (workers: number) => createAffectNetSource({ root, workers }).load('train', { imageSize: 12, logger: silentLogger });
    const [a, b] = [await load(2), await load(0)];
    expect(a.count).toBe(7);
    expect(a.images).toEqual(b.images);
    expect(a.skipped).toEqual(b.skipped);
    expect(a.skipped.map((s) => path.basename(s.path))).toEqual(['outside.png']);
  });

  it('works without sharp (decoder: js), on workers and in-process alike', async () => {
    const onWorkers = await decodeFiles(items(), 16, { workers: 1, decoder: 'js' });
    const reference = await Promise.all(
      items().map(async (item) => {
        try {
          const img = imageCodec.decodeImage(readFileSync(item.path), item.path, DEFAULT_MAX_PIXELS);
          return { ok: true, data: imageCodec.toRgbResized(imageCodec.cropImage(img, item.box!), 16) };
        } catch (err) {
          return { ok: false, reason: (err as Error).message };
        }
      }),
    );
    expect(onWorkers).toEqual(reference);
  });
});

describe('a worker that cannot load sharp', () => {
  afterEach(() => {
    vi.doUnmock('../src/sharp-decoder.js');
    vi.resetModules();
  });

  it('dies at its first large JPEG, and its batches are redone on the main thread, not skipped', async (ctx) => {
    if (!(await loadSharp())) return ctx.skip('sharp is not installed (an optionalDependency): nothing to fail to load');
    vi.resetModules();
    vi.doMock('../src/sharp-decoder.js', async (importOriginal) => {
      const real = await importOriginal<typeof import('../src/sharp-decoder.js')>();
      const loadSharp = async () => {
        const found = await real.loadSharp();
        return found && { ...found, path: path.join(root, 'no-such-sharp.js') }; // this thread has sharp, workers do not
      };
      return { ...real, loadSharp };
    });
    const { decodeFiles: decodeWithBrokenWorkers } = await import('../src/decode-pool.js');
    const logger = createMemoryLogger();
    const results = await decodeWithBrokenWorkers(items(), 16, { workers: 1, logger });
    expect(results).toEqual(await decodeFiles(items(), 16, { workers: 0 }));
    expect(logger.lines).toMatchObject([{ level: 'warn', message: expect.stringMatching(/decoding on the main thread instead: cannot load sharp in a decode worker/) }]);
  });
});

describe('which decoder decodes a file', () => {
  const fake = async (): Promise<DecodedImage> => ({ width: 1, height: 1, channels: 3, data: new Uint8Array(3) });

  it('sends JPEGs from 64x64 up to the native decoder, smaller JPEGs and every PNG to JavaScript', () => {
    const codec = codecWith(fake);
    expect(codec.usesNativeDecoder(jpegFile(64, 64, 1))).toBe(true);
    expect(codec.usesNativeDecoder(jpegFile(200, 150, 1))).toBe(true);
    expect(codec.usesNativeDecoder(jpegFile(63, 64, 1))).toBe(false);
    expect(codec.usesNativeDecoder(jpegFile(48, 48, 1))).toBe(false);
    expect(codec.usesNativeDecoder(pngFile(300, 300, 1))).toBe(false);
    expect(codec.usesNativeDecoder(jpegFile(200, 150, 1).subarray(0, 40))).toBe(false); // no frame header: JS reports it
    expect(imageCodec.usesNativeDecoder(jpegFile(200, 150, 1))).toBe(false); // no native decoder at all
  });

  it('sharp decodes a JPEG to the pixels jpeg-js gives, within a few levels', async (ctx) => {
    const sharp = await loadSharp();
    if (!sharp) return ctx.skip('sharp is not installed (an optionalDependency): nothing to compare');
    const bytes = jpegFile(200, 150, 9);
    const native = await sharp.decode(bytes, DEFAULT_MAX_PIXELS);
    const js = imageCodec.decodeImage(bytes, 'x.jpg', DEFAULT_MAX_PIXELS);
    expect([native.width, native.height, native.channels]).toEqual([200, 150, 3]);
    let diff = 0;
    for (let i = 0; i < js.data.length; i++) diff += Math.abs(js.data[i] - native.data[i]);
    expect(diff / js.data.length).toBeLessThan(3);
    await expect(sharp.decode(bytes.subarray(0, bytes.length >> 1), DEFAULT_MAX_PIXELS)).rejects.toThrow();
  });
});
