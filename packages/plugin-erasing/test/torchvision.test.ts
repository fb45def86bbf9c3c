/**
 * Erasing equals torchvision 0.14's `F.erase` for the same boxes and values, at every pixel, on the
 * cpu and the wasm backends. References: scripts/torchvision_references.py and its output
 * test/fixtures/torchvision.json. A constant value is copied, so the match is exact, not just 1/255.
 */
import { readFileSync } from 'node:fs';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { initWasmBackend } from '@fermix/core';
import { describe, expect, it } from 'vitest';
import { eraseBatch } from '../src/index.js';

const fixture = JSON.parse(readFileSync(new URL('./fixtures/torchvision.json', import.meta.url), 'utf8'));

for (const backend of ['cpu', 'wasm'] as const) {
  describe(`erasing = torchvision ${fixture.torchvision} F.erase (${backend})`, () => {
    fixture.cases.forEach((c: any, i: number) =>
      it(`${i}: value ${JSON.stringify(c.value)}`, async () => {
        if (backend === 'wasm') await initWasmBackend();
        else await tf.setBackend('cpu');
        const x = tf.tensor4d(fixture.input.data, fixture.input.shape);
        const out = eraseBatch(x, c.boxes, c.value);
        const got = out.dataSync();
        // The fixture rounds to 7 decimals; beyond that the values are copies.
        let diff = 0;
        for (let k = 0; k < got.length; k++) diff = Math.max(diff, Math.abs(got[k] - c.output[k]));
        expect(diff).toBeLessThan(1e-7);
        tf.dispose([x, out]);
      }),
    );
  });
}
