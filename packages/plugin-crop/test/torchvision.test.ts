/**
 * Each op equals torchvision 0.14's output for the same parameters on the same images, at every
 * pixel, on the cpu and the wasm backends. The references come from
 * scripts/torchvision_references.py (committed, as is its output test/fixtures/torchvision.json).
 */
import { readFileSync } from 'node:fs';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { initWasmBackend } from '@fermix/core';
import { afterAll, describe, expect, it } from 'vitest';
import { affine, paddedCrop, resizedCrop, type AffineParams, type CropBox } from '../src/index.js';

const fixture = JSON.parse(readFileSync(new URL('./fixtures/torchvision.json', import.meta.url), 'utf8'));
/** 1/255: one grey level. Float in, float out, so torchvision rounds nothing and neither do we. */
const TOL = 1 / 255;
const maxima: Record<string, number> = {};

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`length ${a.length} != ${b.length}`);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

function run(c: any, x: tf.Tensor4D): tf.Tensor4D {
  if (c.op === 'resizedCrop') return resizedCrop(x, c.boxes as CropBox[], c.size);
  if (c.op === 'paddedCrop') return paddedCrop(x, c.offsets, c.padding, c.fill);
  if (c.op === 'affine') return affine(x, c.params as AffineParams[], c.fill);
  throw new Error(`unknown op ${c.op}`);
}

for (const backend of ['cpu', 'wasm'] as const) {
  describe(`crop ops = torchvision ${fixture.torchvision} (${backend})`, () => {
    fixture.cases.forEach((c: any, i: number) => it(`${i}: ${c.op}`, async () => {
      if (backend === 'wasm') await initWasmBackend();
      else await tf.setBackend('cpu');
      const x = tf.tensor4d(fixture.input.data, fixture.input.shape);
      const before = tf.memory().numTensors;
      const out = run(c, x);
      expect(tf.memory().numTensors).toBe(before + 1);
      const diff = maxAbsDiff(out.dataSync(), c.output);
      maxima[`${c.op} (${backend})`] = Math.max(maxima[`${c.op} (${backend})`] ?? 0, diff);
      expect(diff).toBeLessThanOrEqual(TOL);
      tf.dispose([x, out]);
    }));
  });
}

afterAll(() => {
  // The measured maxima, for the README's table.
  console.log(`max |fermix - torchvision|: ${JSON.stringify(maxima)}`);
});
