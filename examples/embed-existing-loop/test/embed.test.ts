import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { DEFAULT_DATA_ROOT, type MainOptions } from '../src/common.js';
import { main as fitWithMixup } from '../src/fit-with-mixup.js';
import { main as plainLoop } from '../src/plain-loop.js';
import { main as withMixaugment } from '../src/with-mixaugment.js';

const exampleDir = fileURLToPath(new URL('..', import.meta.url));
const repoRoot = path.resolve(exampleDir, '../..');

/** A few steps on tiny synthetic faces (7 classes x 4 images of 16x16) on the wasm backend. */
const tiny: MainOptions = { steps: 3, batchSize: 8, seed: 3, backend: 'wasm', data: 'synthetic', imageSize: 16, trainPerClass: 4, testPerClass: 2, log: () => {} };

const finite = (values: number[]) => values.length > 0 && values.every(Number.isFinite);

describe('embed-existing-loop', () => {
  it('plain-loop: a tfjs loop with optimizer.minimize trains on wasm with finite losses', async () => {
    const result = await plainLoop(tiny);
    expect(tf.getBackend()).toBe('wasm');
    expect(result.losses).toHaveLength(3);
    expect(finite(result.losses)).toBe(true);
    expect(result.accuracy).toBeGreaterThanOrEqual(0);
    expect(result.accuracy).toBeLessThanOrEqual(1);
  });

  it('with-mixaugment: createTrainStep reports the two loss terms (real, virtual) and the drawn lam', async () => {
    const lines: string[] = [];
    const result = await withMixaugment({ ...tiny, logEvery: 1, log: (l) => lines.push(l) });
    expect(tf.getBackend()).toBe('wasm');
    expect(result.losses).toHaveLength(3);
    expect(finite(result.losses)).toBe(true);
    for (const [i, terms] of result.terms.entries()) {
      expect(Object.keys(terms).sort()).toEqual(['real', 'virtual']);
      expect(finite(Object.values(terms))).toBe(true);
      // The loss is the sum of its terms.
      expect(terms.real + terms.virtual).toBeCloseTo(result.losses[i], 4);
    }
    expect(result.lams).toHaveLength(3);
    for (const lam of result.lams) expect(lam >= 0 && lam <= 1).toBe(true);
    expect(lines.some((l) => /real .* virtual .* lam/.test(l))).toBe(true);
  });

  it('with-mixaugment: the same seed draws the same lams', async () => {
    const a = await withMixaugment({ ...tiny, steps: 2 });
    const b = await withMixaugment({ ...tiny, steps: 2 });
    expect(a.lams).toEqual(b.lams);
  });

  it('fit-with-mixup: mixupDataset in a tf.data pipeline feeds model.fitDataset', async () => {
    const result = await fitWithMixup(tiny);
    expect(result.losses).toHaveLength(3);
    expect(finite(result.losses)).toBe(true);
    expect(result.lams.length).toBeGreaterThanOrEqual(3);
    for (const lam of result.lams) expect(lam >= 0 && lam <= 1).toBe(true);
  });

  it.skipIf(!existsSync(DEFAULT_DATA_ROOT))('with-mixaugment on fer2013-mini (../shared/data; skipped when absent)', async () => {
    const result = await withMixaugment({ steps: 2, batchSize: 16, backend: 'wasm', log: () => {} });
    expect(finite(result.losses)).toBe(true);
    expect(Object.keys(result.terms[0]).sort()).toEqual(['real', 'virtual']);
  });

  it('runs from the command line with tsx and the fermix-source condition', async () => {
    const tsx = path.join(repoRoot, 'node_modules/.bin/tsx');
    const { stdout } = await promisify(execFile)(
      tsx,
      ['--conditions=fermix-source', 'src/with-mixaugment.ts', '--steps', '2', '--batch-size', '8', '--data', 'synthetic', '--image-size', '16', '--backend', 'cpu'],
      { cwd: exampleDir, env: { ...process.env }, timeout: 120_000 },
    );
    expect(stdout).toMatch(/backend cpu; synthetic faces/);
    expect(stdout).toMatch(/step 2: loss \d+\.\d+ \(real \d+\.\d+, virtual \d+\.\d+, lam \d\.\d+\)/);
    expect(stdout).toMatch(/test accuracy/);
  });
});

if (!existsSync(DEFAULT_DATA_ROOT)) console.warn(`embed-existing-loop: ${DEFAULT_DATA_ROOT} not found; the fer2013-mini test is skipped`);
