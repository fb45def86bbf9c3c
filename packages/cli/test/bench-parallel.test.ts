import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { measureParallelTraining } from '../src/bench/parallel.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '../../..');

describe('bench: two trainings side by side', () => {
  it('runs one fermix train alone and two at once as processes, and reads their images/s and CPU time from metrics.json', async () => {
    const figure = await measureParallelTraining({
      trainCommand: [path.join(root, 'node_modules/.bin/tsx'), '--conditions=fermix-source', path.join(root, 'packages/cli/src/bin.ts'), 'train'],
      imageSize: 16,
      perClass: 8,
      epochs: 1,
    });
    expect(figure.config).toMatchObject({ imageSize: 16, images: 56, epochs: 1 });
    for (const v of [figure.single.imagesPerSecond, ...figure.pair.imagesPerSecond]) expect(v).toBeGreaterThan(0);
    expect(figure.pair.totalImagesPerSecond).toBeCloseTo(figure.pair.imagesPerSecond[0] + figure.pair.imagesPerSecond[1], 9);
    expect(figure.throughputRatio).toBeCloseTo(figure.pair.totalImagesPerSecond / figure.single.imagesPerSecond, 9);
    expect(figure.coresBusy).toBeGreaterThan(0);
    for (const c of [figure.single.cpuOverWall, ...figure.pair.cpuOverWall]) expect(c).toBeGreaterThan(0);
  });

  it('says which training failed and why', async () => {
    await expect(
      measureParallelTraining({ trainCommand: [process.execPath, path.join(root, 'no-such-fermix.mjs'), 'train'], epochs: 1 }),
    ).rejects.toThrow(/fermix train exited 1: [\s\S]*MODULE_NOT_FOUND/);
  });
});
