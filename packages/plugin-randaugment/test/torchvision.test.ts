/**
 * Every RandAugment / TrivialAugmentWide op equals torchvision 0.14's `_apply_op` on the same uint8
 * images with the same magnitudes (nearest interpolation, no fill: RandAugment's defaults), on the
 * cpu and the wasm backends, and the magnitude bins equal torchvision's `_augmentation_space`.
 * References: scripts/torchvision_references.py, committed with its output test/fixtures/torchvision.json.
 */
import { readFileSync } from 'node:fs';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { initWasmBackend } from '@fermix/core';
import { afterAll, describe, expect, it } from 'vitest';
import { applyOps, augmentationSpace, type OpName } from '../src/index.js';

const fixture = JSON.parse(readFileSync(new URL('./fixtures/torchvision.json', import.meta.url), 'utf8'));
const maxima: Record<string, number> = {};

for (const backend of ['cpu', 'wasm'] as const) {
  describe(`RandAugment ops = torchvision ${fixture.torchvision} _apply_op on uint8 (${backend})`, () => {
    fixture.cases.forEach((c: any) =>
      it(`${c.op} ${JSON.stringify(c.magnitudes)}`, async () => {
        if (backend === 'wasm') await initWasmBackend();
        else await tf.setBackend('cpu');
        const u = tf.tensor4d(fixture.input.data, fixture.input.shape, 'float32');
        const out = applyOps(u, Array(3).fill(c.op as OpName), c.magnitudes);
        const got = out.dataSync();
        let diff = 0;
        for (let k = 0; k < got.length; k++) diff = Math.max(diff, Math.abs(got[k] - c.output[k]));
        maxima[`${c.op} (${backend})`] = diff;
        // In grey levels: 1 is one level (1/255 of fermix's [0, 1] images).
        expect(diff).toBeLessThanOrEqual(1);
        tf.dispose([u, out]);
      }),
    );
  });
}

describe("the magnitude bins are torchvision's", () => {
  for (const [policy, key] of [
    ['randaugment', 'randaugment'],
    ['trivialaugment', 'trivialaugment'],
  ] as const) {
    it(policy, () => {
      const [, h, w] = fixture.input.shape;
      const space = augmentationSpace(policy, h, w);
      expect(Object.keys(space)).toEqual(Object.keys(fixture[key]));
      for (const [op, ref] of Object.entries(fixture[key]) as [string, { magnitudes: number[]; signed: boolean }][]) {
        const mine = space[op as OpName];
        expect(mine.signed, op).toBe(ref.signed);
        expect(mine.magnitudes.length, op).toBe(ref.magnitudes.length);
        mine.magnitudes.forEach((m, i) => expect(Math.abs(m - ref.magnitudes[i]), `${op}[${i}]`).toBeLessThan(1e-5));
      }
    });
  }
});

afterAll(() => {
  console.log(`max |fermix - torchvision| in grey levels: ${JSON.stringify(maxima)}`);
});
