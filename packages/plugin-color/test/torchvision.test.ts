/**
 * Each colour op equals torchvision 0.14's output for the same factors on the same images, at every
 * pixel, on the cpu and the wasm backends. References: scripts/torchvision_references.py, committed
 * with its output test/fixtures/torchvision.json.
 */
import { readFileSync } from 'node:fs';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { initWasmBackend } from '@fermix/core';
import { afterAll, describe, expect, it } from 'vitest';
import { adjustBrightness, adjustContrast, adjustHue, adjustSaturation, applyColor, randomGrayscale, type JitterOp } from '../src/index.js';

const fixture = JSON.parse(readFileSync(new URL('./fixtures/torchvision.json', import.meta.url), 'utf8'));
/** 1/255: one grey level. Float in, float out: neither side rounds to integers. */
const TOL = 1 / 255;
const maxima: Record<string, number> = {};

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`length ${a.length} != ${b.length}`);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

function run(c: any, x: tf.Tensor4D): tf.Tensor4D {
  switch (c.op) {
    case 'brightness':
      return adjustBrightness(x, c.factors);
    case 'contrast':
      return adjustContrast(x, c.factors);
    case 'saturation':
      return adjustSaturation(x, c.factors);
    case 'hue':
      return adjustHue(x, c.factors);
    case 'grayscale':
      return randomGrayscale(x, [true, true, true]);
    case 'jitter': {
      const order = (c.order as number[]).map((k) => (['brightness', 'contrast', 'saturation', 'hue'] as JitterOp[])[k]);
      return applyColor(x, { order, jittered: [true, true, true], brightness: c.brightness, contrast: c.contrast, saturation: c.saturation, hue: c.hue, grayscale: [false, false, false] });
    }
  }
  throw new Error(`unknown op ${c.op}`);
}

for (const backend of ['cpu', 'wasm'] as const) {
  describe(`colour ops = torchvision ${fixture.torchvision} (${backend})`, () => {
    fixture.cases.forEach((c: any, i: number) =>
      it(`${i}: ${c.op}${c.factors ? ` ${JSON.stringify(c.factors)}` : ''}`, async () => {
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
      }),
    );
  });
}

afterAll(() => {
  console.log(`max |fermix - torchvision|: ${JSON.stringify(maxima)}`);
});
