import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import jpeg from 'jpeg-js';
import pngjs from 'pngjs';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { balancedOrder } from '@fermix/core';
import { createImageFolderSource } from '../src/image-folder.js';
import { openSplit } from '../src/open-split.js';
import { memorySplit, type SplitBatch, type SplitData } from '@fermix/core';
import { streamedSplit } from '../src/stream.js';
import { DecodePool } from '../src/decode-pool.js';
import { createMemoryLogger, silentLogger } from '@fermix/core';
import { Rng } from '@fermix/core';
import { batchRanges, identityOrder } from '@fermix/core';
import { Trainer } from '@fermix/core';
import { tinySetup, useCpu } from '../../core/test/helpers.js';

const { PNG } = pngjs;
const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

/** Pixels whose class shows in one channel's brightness, plus noise from `rnd`. */
function pixels(w: number, h: number, label: number, rnd: Rng): Buffer {
  const data = Buffer.alloc(w * h * 4);
  for (let p = 0; p < w * h; p++) {
    for (let c = 0; c < 3; c++) data[p * 4 + c] = Math.min(255, Math.floor(rnd.uniform() * 110) + (c === label ? 130 : 0));
    data[p * 4 + 3] = 255;
  }
  return data;
}

/**
 * `<root>/{train,test}/c{0,1,2}/*`: per class `perClass` images, mostly 12x12 PNGs and every fourth
 * a 72x72 JPEG (large enough for sharp, when installed). `corrupt` names files (split/class/name)
 * written as garbage instead.
 */
function imageFolder(perClass: { train: number; test: number }, corrupt: string[] = []): string {
  const root = mkdtempSync(path.join(tmpdir(), 'fermix-stream-'));
  dirs.push(root);
  const rnd = new Rng(3);
  for (const split of ['train', 'test'] as const) {
    for (let label = 0; label < 3; label++) {
      const dir = path.join(root, split, `c${label}`);
      mkdirSync(dir, { recursive: true });
      for (let i = 0; i < perClass[split]; i++) {
        const isJpeg = i % 4 === 3;
        const name = `img${String(i).padStart(3, '0')}.${isJpeg ? 'jpg' : 'png'}`;
        const side = isJpeg ? 72 : 12;
        const data = pixels(side, side, label, rnd);
        let bytes: Uint8Array;
        if (corrupt.includes(`${split}/c${label}/${name}`)) bytes = Buffer.from('not an image at all, just text');
        else if (isJpeg) bytes = jpeg.encode({ width: side, height: side, data }, 90).data;
        else {
          const png = new PNG({ width: side, height: side });
          data.copy(png.data);
          bytes = PNG.sync.write(png, { colorType: 2 });
        }
        writeFileSync(path.join(dir, name), bytes);
      }
    }
  }
  return root;
}

async function collect(data: SplitData, order: ArrayLike<number>, ranges: [number, number][]): Promise<SplitBatch[]> {
  const out: SplitBatch[] = [];
  for await (const batch of data.batches(order, ranges)) out.push(batch);
  return out;
}

const concat = (parts: Int32Array[]) => Int32Array.from(parts.flatMap((p) => Array.from(p)));

describe('streamedSplit', () => {
  let root: string;
  beforeAll(() => {
    root = imageFolder({ train: 13, test: 3 });
  });

  it('yields every sample of a shuffled epoch once, in the order and with the pixels of the in-memory path', async () => {
    const source = createImageFolderSource({ root });
    const set = await source.load('train', { imageSize: 10, logger: silentLogger });
    const memory = memorySplit(set, 'train');
    const logger = createMemoryLogger();
    const streamed = streamedSplit(await source.files('train', { imageSize: 10, logger }), { size: 10, prefetch: 2, workers: 1, logger });
    expect(streamed.count).toBe(39);
    expect(streamed.labels).toEqual(memory.labels);
    expect(streamed.sources).toEqual(memory.sources); // sample i is the same file on both paths

    const order = new Rng(7).permutation(memory.count);
    const ranges = batchRanges(memory.count, 5);
    const fromMemory = await collect(memory, order, ranges);
    const fromDisk = await collect(streamed, order, ranges);
    expect(fromDisk).toHaveLength(ranges.length);
    const seen = concat(fromDisk.map((b) => b.indices));
    expect(Array.from(seen)).toEqual(Array.from(order)); // each sample once, in the epoch's order
    expect(new Set(seen).size).toBe(memory.count);
    fromDisk.forEach((batch, b) => {
      expect(batch.labels).toEqual(fromMemory[b].labels);
      expect(batch.x).toEqual(fromMemory[b].x); // byte-identical decoding on workers and in memory
    });
    expect(logger.lines).toEqual([]); // the worker really ran (no fallback to this thread)
  });

  it('gives the same batches as memory for a balanced (oversampling) order too', async () => {
    const source = createImageFolderSource({ root });
    const memory = memorySplit(await source.load('train', { imageSize: 10, logger: silentLogger }), 'train');
    const streamed = streamedSplit(await source.files('train', { imageSize: 10, logger: silentLogger }), { size: 10, prefetch: 3, workers: 1, logger: silentLogger });
    const order = balancedOrder(memory.labels, 3, 50, new Rng(11));
    const ranges = batchRanges(order.length, 8);
    const [a, b] = [await collect(memory, order, ranges), await collect(streamed, order, ranges)];
    expect(b.map((x) => Array.from(x.indices))).toEqual(a.map((x) => Array.from(x.indices)));
    expect(b.map((x) => x.x)).toEqual(a.map((x) => x.x));
  });

  it('never holds more than `prefetch` batches ahead, even when the reader is slow', async () => {
    const source = createImageFolderSource({ root });
    const depths: number[] = [];
    const streamed = streamedSplit(await source.files('train', { imageSize: 10, logger: silentLogger }), {
      size: 10,
      prefetch: 3,
      workers: 2,
      logger: silentLogger,
      onQueueDepth: (depth) => depths.push(depth),
    });
    const order = new Rng(1).permutation(streamed.count);
    const ranges = batchRanges(streamed.count, 2); // 20 batches
    let batches = 0;
    for await (const batch of streamed.batches(order, ranges)) {
      expect(batch.count).toBeGreaterThan(0);
      batches++;
      // A slow step: the workers finish everything queued meanwhile, and nothing more is queued.
      for (let k = 0; k < 20; k++) await new Promise((resolve) => setImmediate(resolve));
    }
    expect(batches).toBe(ranges.length);
    expect(Math.max(...depths)).toBe(3);
    expect(depths.every((d) => d <= 3)).toBe(true);
  });

  it('stops decoding when the reader leaves early', async () => {
    const source = createImageFolderSource({ root });
    const streamed = streamedSplit(await source.files('train', { imageSize: 10, logger: silentLogger }), { size: 10, prefetch: 4, workers: 1, logger: silentLogger });
    const order = new Rng(1).permutation(streamed.count);
    let seen = 0;
    for await (const batch of streamed.batches(order, batchRanges(streamed.count, 3))) {
      seen += batch.count;
      if (seen >= 6) break;
    }
    expect(seen).toBe(6);
    // The batches queued ahead were dropped: the next epoch, on the same workers, reads everything.
    const all = await collect(streamed, order, batchRanges(streamed.count, 3));
    expect(all.reduce((n, b) => n + b.count, 0)).toBe(streamed.count);
    await streamed.close?.();
  });

  it('starts its decode workers once for every pass of the run, and again only after close', async () => {
    const opened = vi.spyOn(DecodePool, 'open');
    try {
      const source = createImageFolderSource({ root });
      const streamed = streamedSplit(await source.files('train', { imageSize: 10, logger: silentLogger }), { size: 10, prefetch: 2, workers: 1, logger: silentLogger });
      const order = new Rng(3).permutation(streamed.count);
      const ranges = batchRanges(streamed.count, 8);
      const first = await collect(streamed, order, ranges);
      const second = await collect(streamed, order, ranges); // a second epoch
      for await (const _ of streamed.batches(order, ranges)) break; // an evaluation left early
      expect(opened).toHaveBeenCalledTimes(1);
      expect(second.map((x) => x.x)).toEqual(first.map((x) => x.x));
      await streamed.close!();
      await collect(streamed, order, ranges);
      expect(opened).toHaveBeenCalledTimes(2);
      await streamed.close!();
    } finally {
      opened.mockRestore();
    }
  });

  it("shares one pool between the train and test splits a source opens, stopped when both close", async () => {
    const opened = vi.spyOn(DecodePool, 'open');
    const closed = vi.spyOn(DecodePool.prototype, 'close');
    try {
      const source = createImageFolderSource({ root });
      const options = { imageSize: 10, logger: silentLogger, prefetch: 2, budgetBytes: 0, workers: 1 };
      const [train, test] = [await source.open!('train', options), await source.open!('test', options)];
      expect([train.streamed, test.streamed]).toEqual([true, true]);
      for (const split of [train, test, train]) await collect(split, identityOrder(split.count), batchRanges(split.count, 4));
      expect(opened).toHaveBeenCalledTimes(1);
      await train.close!();
      expect(closed).not.toHaveBeenCalled(); // test still reads from it
      await test.close!();
      expect(closed).toHaveBeenCalledTimes(1);
    } finally {
      opened.mockRestore();
      closed.mockRestore();
    }
  });

  it('skips a corrupt file met while streaming, logging its path once, and keeps going', async () => {
    const bad = imageFolder({ train: 5, test: 2 }, ['train/c1/img002.png']);
    const source = createImageFolderSource({ root: bad });
    const logger = createMemoryLogger();
    const streamed = streamedSplit(await source.files('train', { imageSize: 8, logger }), { size: 8, prefetch: 2, workers: 1, logger });
    const order = new Rng(2).permutation(streamed.count);
    const ranges = batchRanges(streamed.count, 4);
    const badIndex = 5 + 2; // class c1 starts after c0's 5 files
    const epoch1 = await collect(streamed, order, ranges);
    const seen = Array.from(concat(epoch1.map((b) => b.indices)));
    expect(seen).toEqual(Array.from(order).filter((i) => i !== badIndex));
    const badPath = path.join(bad, 'train', 'c1', 'img002.png');
    expect(streamed.skipped).toEqual([{ path: badPath, reason: expect.stringMatching(/unsupported format/) }]);
    const warnings = () => logger.lines.filter((l) => l.level === 'warn');
    expect(warnings().map((l) => l.message)).toEqual([expect.stringContaining(`skipping unreadable image ${badPath}`), expect.stringMatching(/skipped 1 unreadable images in split "train"/)]);

    const epoch2 = await collect(streamed, order, ranges);
    expect(Array.from(concat(epoch2.map((b) => b.indices)))).toEqual(seen);
    expect(warnings()).toHaveLength(2); // known bad: not decoded or reported again
  });
});

describe('openSplit', () => {
  it('keeps a split in memory when it fits the budget and streams it when it does not', async () => {
    const root = imageFolder({ train: 2, test: 1 });
    const source = createImageFolderSource({ root });
    const bytes = 6 * 8 * 8 * 3;
    const options = { imageSize: 8, logger: silentLogger, prefetch: 2 };
    const fits = await openSplit(source, 'train', { ...options, budgetBytes: bytes });
    expect(fits.streamed).toBe(false);
    expect(fits.residentBytes).toBe(bytes);
    const logger = createMemoryLogger();
    const over = await openSplit(source, 'train', { ...options, logger, budgetBytes: bytes - 1 });
    expect(over.streamed).toBe(true);
    expect(over.residentBytes).toBe(0);
    expect(logger.lines.some((l) => /streaming from disk/.test(l.message))).toBe(true);
    await expect(openSplit(source, 'val', { ...options, budgetBytes: 0 })).rejects.toThrow(/no split "val" \(found: test, train\)/);
  });
});

describe('Trainer with a memory budget', () => {
  beforeAll(useCpu);

  it('streams with data.cacheMB: 0 and trains to the same metrics as in memory', async () => {
    const root = imageFolder({ train: 8, test: 4 });
    const run = async (cacheMB: number) => {
      const logger = createMemoryLogger();
      const { config, container } = tinySetup(
        { seed: 5, data: { format: 'synthetic', imageSize: 8, cacheMB, prefetch: 2 }, train: { epochs: 3, batchSize: 5, earlyStopping: false } },
        logger,
        createImageFolderSource({ root }),
      );
      const { metrics } = await new Trainer({ config, container }).run();
      return { metrics, logger };
    };
    const inMemory = await run(2048);
    const streamed = await run(0);
    expect(inMemory.logger.lines.some((l) => /streaming from disk/.test(l.message))).toBe(false);
    expect(streamed.logger.lines.filter((l) => /streaming from disk/.test(l.message))).toHaveLength(2); // train and test
    expect(streamed.metrics.history).toHaveLength(3);
    const numbers = (m: typeof inMemory.metrics) => m.history.map((h) => [h.trainLoss, h.accuracy, h.macroF1, h.averageAccuracy, h.testLoss]);
    expect(numbers(streamed.metrics)).toEqual(numbers(inMemory.metrics));
    expect(streamed.metrics.confusionMatrix).toEqual(inMemory.metrics.confusionMatrix);
    for (const h of streamed.metrics.history) expect(h.dataWaitShare).toBeGreaterThan(0), expect(h.dataWaitShare).toBeLessThan(1);
  });
});
