import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { deflateSync } from 'node:zlib';
import '@tensorflow/tfjs-backend-cpu';
import * as tf from '@tensorflow/tfjs-core';
import jpeg from 'jpeg-js';
import pngjs from 'pngjs';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { decodeFiles } from '../src/decode-pool.js';
import { decodeImage, toRgbResized, type DecodedImage } from '../src/decode.js';
import { createMemoryLogger } from '@fermix/core';
import { chunk, PNG_SIGNATURE } from '../../../test-support/png-bytes.js';

const { PNG } = pngjs;

// ---- PNG writing by hand: pngjs cannot write palette images, and exact 16-bit samples are easier
// to control this way.

interface RawPng {
  width: number;
  height: number;
  colorType: 0 | 2 | 3 | 4 | 6;
  bitDepth: 8 | 16;
  /** Samples row-major, in units of the bit depth (palette: indices). */
  samples: number[];
  palette?: [number, number, number][];
  /** tRNS: one alpha per palette entry. */
  paletteAlpha?: number[];
}

function encodeRawPng(spec: RawPng): Buffer {
  const perPixel = { 0: 1, 2: 3, 3: 1, 4: 2, 6: 4 }[spec.colorType];
  const bytesPerSample = spec.bitDepth / 8;
  const rowBytes = spec.width * perPixel * bytesPerSample;
  const raw = Buffer.alloc((rowBytes + 1) * spec.height); // filter byte 0 (none) before each row
  spec.samples.forEach((v, i) => {
    const row = Math.floor(i / (spec.width * perPixel));
    const at = row * (rowBytes + 1) + 1 + (i % (spec.width * perPixel)) * bytesPerSample;
    if (bytesPerSample === 2) raw.writeUInt16BE(v, at);
    else raw[at] = v;
  });
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(spec.width, 0);
  ihdr.writeUInt32BE(spec.height, 4);
  ihdr[8] = spec.bitDepth;
  ihdr[9] = spec.colorType;
  return Buffer.concat([
    PNG_SIGNATURE,
    chunk('IHDR', ihdr),
    ...(spec.palette ? [chunk('PLTE', Uint8Array.from(spec.palette.flat()))] : []),
    ...(spec.paletteAlpha ? [chunk('tRNS', Uint8Array.from(spec.paletteAlpha))] : []),
    chunk('IDAT', deflateSync(raw)),
    chunk('IEND', new Uint8Array(0)),
  ]);
}

function pngjsFile(width: number, height: number, rgba: number[], options: { colorType?: 0 | 2 | 4 | 6 } = {}): Buffer {
  const png = new PNG({ width, height });
  png.data = Buffer.from(rgba);
  return PNG.sync.write(png, options);
}

function grayImage(width: number, height: number, value: (x: number, y: number) => number): DecodedImage {
  const data = new Uint8Array(width * height);
  for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) data[y * width + x] = value(x, y);
  return { width, height, channels: 1, data };
}

/** The red channel of an RGB result, as rows. */
function rows(rgb: Uint8Array, size: number): number[][] {
  return Array.from({ length: size }, (_, y) => Array.from({ length: size }, (_, x) => rgb[(y * size + x) * 3]));
}

function seeded(seed: number): () => number {
  let s = seed >>> 0;
  return () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32);
}

describe('decodeImage', () => {
  it('decodes an 8-bit gray PNG to one channel, and toRgbResized replicates it to three', () => {
    const gray = [0, 50, 100, 150, 200, 250];
    const file = encodeRawPng({ width: 3, height: 2, colorType: 0, bitDepth: 8, samples: gray });
    const img = decodeImage(file, 'gray.png');
    expect(img).toMatchObject({ width: 3, height: 2, channels: 1 });
    expect(Array.from(img.data)).toEqual(gray);
    const rgb = toRgbResized(decodeImage(pngjsFile(2, 1, [10, 10, 10, 255, 90, 90, 90, 255], { colorType: 0 }), 'g.png'), 2);
    expect(Array.from(rgb.subarray(0, 6))).toEqual([10, 10, 10, 90, 90, 90]);
  });

  it('decodes gray+alpha and RGBA, compositing alpha over black', () => {
    const ga = decodeImage(encodeRawPng({ width: 2, height: 1, colorType: 4, bitDepth: 8, samples: [200, 255, 200, 51] }), 'ga.png');
    expect(ga.channels).toBe(4);
    expect(Array.from(toRgbResized(ga, 2).subarray(0, 6))).toEqual([200, 200, 200, 40, 40, 40]);

    const rgba = decodeImage(pngjsFile(3, 1, [200, 100, 50, 255, 200, 100, 50, 128, 255, 255, 255, 0]), 'rgba.png');
    expect(rgba).toMatchObject({ width: 3, height: 1, channels: 4 });
    // 200 * 128 / 255 = 100.4, 100 * 128 / 255 = 50.2, 50 * 128 / 255 = 25.1
    expect(Array.from(toRgbResized(rgba, 3).subarray(0, 9))).toEqual([200, 100, 50, 100, 50, 25, 0, 0, 0]);
  });

  it('decodes RGB and palette PNGs; a palette with tRNS keeps its alpha', () => {
    const rgb = decodeImage(encodeRawPng({ width: 2, height: 1, colorType: 2, bitDepth: 8, samples: [1, 2, 3, 4, 5, 6] }), 'rgb.png');
    expect(rgb.channels).toBe(3);
    expect(Array.from(rgb.data)).toEqual([1, 2, 3, 4, 5, 6]);

    const palette: [number, number, number][] = [[255, 0, 0], [0, 128, 255], [7, 8, 9]];
    const pal = decodeImage(encodeRawPng({ width: 3, height: 1, colorType: 3, bitDepth: 8, samples: [2, 0, 1], palette }), 'p.png');
    expect(pal.channels).toBe(3);
    expect(Array.from(toRgbResized(pal, 3).subarray(0, 9))).toEqual([7, 8, 9, 255, 0, 0, 0, 128, 255]);

    const file = encodeRawPng({ width: 2, height: 1, colorType: 3, bitDepth: 8, samples: [0, 1], palette, paletteAlpha: [255, 0] });
    const palAlpha = decodeImage(file, 'pa.png');
    expect(palAlpha.channels).toBe(4);
    expect(Array.from(toRgbResized(palAlpha, 2).subarray(0, 6))).toEqual([255, 0, 0, 0, 0, 0]);
  });

  it('scales 16-bit PNGs to 8 bits', () => {
    const gray16 = decodeImage(encodeRawPng({ width: 3, height: 1, colorType: 0, bitDepth: 16, samples: [0, 257 * 77, 65535] }), 'g16.png');
    expect(gray16.channels).toBe(1);
    expect(Array.from(gray16.data)).toEqual([0, 77, 255]);
    const samples = [257 * 10, 257 * 20, 257 * 30, 65535, 0, 0, 0, 0];
    const rgba16 = decodeImage(encodeRawPng({ width: 2, height: 1, colorType: 6, bitDepth: 16, samples }), 'c16.png');
    expect(rgba16.channels).toBe(4);
    expect(Array.from(toRgbResized(rgba16, 2).subarray(0, 6))).toEqual([10, 20, 30, 0, 0, 0]);
  });

  it('decodes a JPEG to RGB', () => {
    const width = 16;
    const height = 8;
    const rgba = Buffer.alloc(width * height * 4);
    for (let i = 0; i < width * height; i++) rgba.set([200, 60, 30, 255], i * 4);
    const img = decodeImage(jpeg.encode({ width, height, data: rgba }, 95).data, 'flat.jpg');
    expect(img).toMatchObject({ width, height, channels: 3 });
    const rgb = toRgbResized(img, 4);
    for (let i = 0; i < rgb.length; i += 3) {
      expect(Math.abs(rgb[i] - 200)).toBeLessThanOrEqual(3);
      expect(Math.abs(rgb[i + 1] - 60)).toBeLessThanOrEqual(3);
      expect(Math.abs(rgb[i + 2] - 30)).toBeLessThanOrEqual(3);
    }
  });

  it('detects the format by content, not by extension', () => {
    const png = encodeRawPng({ width: 1, height: 1, colorType: 0, bitDepth: 8, samples: [9] });
    expect(decodeImage(png, 'actually-a-png.jpg').data[0]).toBe(9);
    const jpg = jpeg.encode({ width: 8, height: 8, data: Buffer.alloc(256, 255) }, 90).data;
    expect(decodeImage(jpg, 'actually-a-jpeg.png').channels).toBe(3);
  });

  it('accepts bytes after IEND', () => {
    const png = encodeRawPng({ width: 1, height: 1, colorType: 0, bitDepth: 8, samples: [9] });
    expect(decodeImage(Buffer.concat([png, Buffer.alloc(10)]), 'padded.png').data[0]).toBe(9);
  });

  it('throws errors that name the path and the reason', () => {
    const png = pngjsFile(8, 8, Array.from({ length: 256 }, (_, i) => (i * 7) % 256));
    const jpg = jpeg.encode({ width: 16, height: 16, data: Buffer.alloc(1024, 128) }, 90).data;
    const hugeHeader = Buffer.from(png);
    hugeHeader.writeUInt32BE(100_000, 16); // IHDR width and height: rejected before pngjs allocates
    hugeHeader.writeUInt32BE(100_000, 20);
    const hugeJpeg = Buffer.from(jpg);
    const sof = hugeJpeg.indexOf(Buffer.from([0xff, 0xc0])); // baseline frame header: FFC0 len(2) precision(1) h(2) w(2)
    hugeJpeg.writeUInt16BE(60_000, sof + 5);
    hugeJpeg.writeUInt16BE(60_000, sof + 7);
    const cases: [Uint8Array, RegExp][] = [
      [hugeJpeg, /image too large \(60000x60000 = 3600000000 pixels exceeds data.maxPixels 40000000\)/], // our SOF check, before jpeg-js
      [new Uint8Array(0), /empty file/],
      [Buffer.from('GIF89a......'), /unsupported format \(GIF\)/],
      [Uint8Array.from({ length: 64 }, (_, i) => (i * 97 + 13) % 256), /unsupported format \(unknown/],
      [png.subarray(0, png.length >> 1), /truncated or corrupt PNG/],
      [png.subarray(0, 20), /truncated or corrupt PNG \(no IHDR/],
      [jpg.subarray(0, jpg.length >> 1), /truncated or corrupt JPEG/],
      [hugeHeader, /image too large \(100000x100000/],
    ];
    for (const [bytes, reason] of cases) {
      expect(() => decodeImage(bytes, '/data/x/bad.png')).toThrow(reason);
      expect(() => decodeImage(bytes, '/data/x/bad.png')).toThrow('/data/x/bad.png');
    }
  });
});

describe('toRgbResized', () => {
  it('enlarges bilinearly with half-pixel centres', () => {
    // Output centres fall at input positions j/2 - 0.25, clamped to [0, 3].
    const img = grayImage(4, 4, (x) => x * 40);
    expect(rows(toRgbResized(img, 8), 8)[3]).toEqual([0, 10, 30, 50, 70, 90, 110, 120]);
    const transposed = grayImage(4, 4, (_, y) => y * 40);
    expect(rows(toRgbResized(transposed, 8), 8).map((r) => r[5])).toEqual([0, 10, 30, 50, 70, 90, 110, 120]);
  });

  it('shrinks by area averaging, also for non-integer ratios', () => {
    expect(rows(toRgbResized(grayImage(8, 8, (x) => x * 30), 4), 4)[0]).toEqual([15, 75, 135, 195]);
    // 6 -> 4: each output covers 1.5 inputs, e.g. (0 * 1 + 30 * 0.5) / 1.5 = 10.
    expect(rows(toRgbResized(grayImage(6, 6, (x) => x * 30), 4), 4)[2]).toEqual([10, 50, 100, 140]);
  });

  it('handles each axis on its own (shrink x, enlarge y) for non-square images', () => {
    // A separable image a(x) + b(y) resizes to A(x') + B(y'): the resize is linear and weights sum to 1.
    const a = [0, 30, 60, 90, 120, 150]; // 6 -> 4 by area: [10, 50, 100, 140]
    const b = [0, 16, 32]; // 3 -> 4 bilinear, centres at 0.75 j - 0.125: [0, 10, 22, 32]
    const out = rows(toRgbResized(grayImage(6, 3, (x, y) => a[x] + b[y]), 4), 4);
    const A = [10, 50, 100, 140];
    const B = [0, 10, 22, 32];
    expect(out).toEqual(B.map((by) => A.map((ax) => ax + by)));
  });

  it('keeps a same-size image exactly', () => {
    const rnd = seeded(3);
    const data = Uint8Array.from({ length: 48 * 48 * 3 }, () => Math.floor(rnd() * 256));
    expect(toRgbResized({ width: 48, height: 48, channels: 3, data }, 48)).toEqual(data);
  });

  it('matches tf.image.resizeBilinear(halfPixelCenters) when enlarging', async () => {
    await tf.setBackend('cpu');
    const rnd = seeded(7);
    const [w, h, size] = [7, 5, 16];
    const data = Uint8Array.from({ length: w * h * 3 }, () => Math.floor(rnd() * 256));
    const ours = toRgbResized({ width: w, height: h, channels: 3, data }, size);
    const theirs = tf.tidy(() =>
      tf.round(tf.image.resizeBilinear(tf.tensor3d(Float32Array.from(data), [h, w, 3]), [size, size], false, true)).dataSync(),
    );
    const maxDiff = ours.reduce((m, v, i) => Math.max(m, Math.abs(v - theirs[i])), 0);
    expect(maxDiff).toBeLessThanOrEqual(1); // float32 in tfjs vs float64 here: at most a rounding step
  });

  it('preserves the mean when shrinking', () => {
    const rnd = seeded(11);
    const [w, h] = [97, 61];
    const data = Uint8Array.from({ length: w * h }, () => Math.floor(rnd() * 256));
    const out = toRgbResized({ width: w, height: h, channels: 1, data }, 10);
    const mean = (xs: ArrayLike<number>) => Array.from(xs).reduce((s, v) => s + v, 0) / xs.length;
    expect(Math.abs(mean(out) - mean(data))).toBeLessThan(0.5);
  });
});

describe('decodeFiles', () => {
  let dir: string;
  let paths: string[];

  beforeAll(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'fermix-decode-'));
    const rnd = seeded(5);
    const files: [string, Uint8Array][] = [];
    for (let i = 0; i < 40; i++) {
      const [w, h] = [20 + (i % 7) * 9, 18 + (i % 5) * 11];
      const rgba = Array.from({ length: w * h * 4 }, (_, k) => (k % 4 === 3 ? 255 - (i % 3) * 60 : Math.floor(rnd() * 256)));
      const kind = i % 4;
      const bytes =
        kind === 0 ? pngjsFile(w, h, rgba, { colorType: 0 })
        : kind === 1 ? pngjsFile(w, h, rgba)
        : kind === 2 ? jpeg.encode({ width: w, height: h, data: Buffer.from(rgba) }, 80).data
        : pngjsFile(w, h, rgba, { colorType: 2 });
      files.push([`img-${String(i).padStart(2, '0')}.${kind === 2 ? 'jpg' : 'png'}`, bytes]);
    }
    files.push(['corrupt.png', Uint8Array.from({ length: 300 }, () => Math.floor(rnd() * 256))]);
    const good = files[1][1];
    files.push(['truncated.png', good.subarray(0, good.length >> 1)]);
    for (const [name, bytes] of files) writeFileSync(path.join(dir, name), bytes);
    paths = files.map(([name]) => path.join(dir, name));
    paths.splice(10, 0, path.join(dir, 'does-not-exist.png'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('gives byte-identical results in-process and on workers, in input order', async () => {
    const logger = createMemoryLogger();
    const progress: number[] = [];
    const inProcess = await decodeFiles(paths, 32, { workers: 0 });
    const onWorkers = await decodeFiles(paths, 32, { workers: 2, chunkSize: 5, logger, onProgress: (done) => progress.push(done) });
    expect(logger.lines).toEqual([]); // no fallback to the main thread: the workers really ran
    expect(onWorkers).toEqual(inProcess);
    expect(progress.at(-1)).toBe(paths.length);
    expect(inProcess.filter((r) => r.ok)).toHaveLength(40);
    for (const r of inProcess) if (r.ok) expect(r.data.length).toBe(32 * 32 * 3);

    const reasons = new Map(paths.map((p, i) => [path.basename(p), inProcess[i]]));
    expect(reasons.get('corrupt.png')).toMatchObject({ ok: false, reason: expect.stringMatching(/unsupported format/) });
    expect(reasons.get('truncated.png')).toMatchObject({ ok: false, reason: expect.stringMatching(/truncated or corrupt PNG/) });
    expect(reasons.get('does-not-exist.png')).toMatchObject({ ok: false, reason: expect.stringMatching(/cannot read file.*ENOENT/) });
  });

  it('matches decodeImage + toRgbResized', async () => {
    const [result] = await decodeFiles([paths[1]], 24, { workers: 1 });
    const { readFileSync } = await import('node:fs');
    expect(result).toEqual({ ok: true, data: toRgbResized(decodeImage(readFileSync(paths[1]), paths[1]), 24) });
  });

  describe('when workers fail', () => {
    afterEach(() => {
      vi.doUnmock('node:worker_threads');
      vi.resetModules();
    });

    /** decodeFiles from a fresh copy of decode-pool.ts that sees `Worker` replaced. */
    async function withWorker(makeWorker: (Real: typeof import('node:worker_threads').Worker) => unknown) {
      vi.resetModules();
      vi.doMock('node:worker_threads', async (importOriginal) => {
        const real = await importOriginal<typeof import('node:worker_threads')>();
        return { ...real, Worker: makeWorker(real.Worker) };
      });
      return (await import('../src/decode-pool.js')).decodeFiles;
    }

    it('decodes on the main thread when no worker can start, with one warning', async () => {
      const decode = await withWorker(() =>
        class {
          constructor() {
            throw new Error('threads unavailable');
          }
        },
      );
      const logger = createMemoryLogger();
      expect(await decode(paths, 16, { workers: 2, logger })).toEqual(await decodeFiles(paths, 16, { workers: 0 }));
      expect(logger.lines).toMatchObject([{ level: 'warn', message: expect.stringMatching(/threads unavailable/) }]);
    });

    it('redoes the chunk of a worker that dies mid-job', async () => {
      const decode = await withWorker((Real) =>
        class extends Real {
          private sent = 0;
          override postMessage(message: unknown, transfer?: readonly import('node:worker_threads').Transferable[]) {
            if (++this.sent === 2) void this.terminate(); // dies holding its second chunk
            else super.postMessage(message, transfer);
          }
        },
      );
      const logger = createMemoryLogger();
      const progress: number[] = [];
      const results = await decode(paths, 16, { workers: 2, chunkSize: 4, logger, onProgress: (done) => progress.push(done) });
      expect(results).toEqual(await decodeFiles(paths, 16, { workers: 0 }));
      expect(progress.at(-1)).toBe(paths.length);
      expect(logger.lines).toMatchObject([{ level: 'warn', message: expect.stringMatching(/exited/) }]);
    });
  });

  it('lets an exception from onProgress end the job, on workers and in-process', async () => {
    const onProgress = () => {
      throw new Error('stop here');
    };
    await expect(decodeFiles(paths, 8, { workers: 2, chunkSize: 4, onProgress })).rejects.toThrow('stop here');
    await expect(decodeFiles(paths, 8, { workers: 0, onProgress })).rejects.toThrow('stop here');
  });

  it('handles an empty list and rejects a bad size', async () => {
    expect(await decodeFiles([], 48)).toEqual([]);
    await expect(decodeFiles(paths, 0)).rejects.toThrow(/positive integer/);
  });
});
