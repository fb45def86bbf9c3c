import * as tf from '@tensorflow/tfjs-core';
import { OptionsError } from '@fermix/core';
import { beforeAll, describe, expect, it } from 'vitest';
import { mixupDataset } from '../src/index.js';
import { expectRowsClose, mixRowsByHand, randomBatch, rows, useCpu } from '../../../test-support/plugin-helpers.js';

beforeAll(useCpu);

/**
 * The part of tf.data.Dataset that mixupDataset uses, with tf.data's generic `map` signature
 * (`map<O extends TensorContainer>(transform: (value: T) => O): Dataset<O>`), so the types are checked
 * against it too. Like tf.data's MapIterator, it runs each transform in a tidy and disposes the input
 * tensors that the output does not reuse.
 */
class FakeDataset<T extends tf.TensorContainer> {
  constructor(private readonly make: () => T[]) {}
  map<O extends tf.TensorContainer>(transform: (value: T) => O): FakeDataset<O> {
    return new FakeDataset(() =>
      this.make().map((value) => {
        const out = tf.tidy(() => transform(value));
        const kept = new Set(tf.util.flatten([out as any]).filter((t: unknown) => t instanceof tf.Tensor).map((t: any) => t.id));
        for (const t of Object.values(value as Record<string, tf.Tensor>)) if (!kept.has(t.id)) t.dispose();
        return out;
      }),
    );
  }
  toArray(): T[] {
    return this.make();
  }
}

/** What `tf.data.zip({ xs, ys }).batch(n)` yields, typed as tf.data types it. */
function batches(): { xs: tf.Tensor4D; ys: tf.Tensor2D }[] {
  return [1, 2, 3].map((seed) => {
    const { x, y } = randomBatch(seed, 4);
    return { xs: x, ys: y };
  });
}

describe('mixupDataset', () => {
  it('maps each batch {xs, ys} to its mixup, drawing lam and a pairing per batch from the seed', () => {
    const source = batches().map((b) => ({ xs: b.xs.clone(), ys: b.ys.clone() }));
    const expectedRows = source.map((b) => ({ x: rows(b.xs), y: rows(b.ys) }));
    let i = 0;
    const draws: { lam: number | number[]; perm: number[] }[] = [];
    const mixed: FakeDataset<{ xs: tf.Tensor4D; ys: tf.Tensor2D }> = mixupDataset(new FakeDataset(() => source.splice(0)), { alpha: 0.5, seed: 4, onDraw: (d) => draws.push(d) });
    const out = mixed.toArray();
    expect(out).toHaveLength(3);
    expect(draws).toHaveLength(3);
    for (const b of out) {
      const { lam, perm } = draws[i];
      expect(typeof lam).toBe('number');
      expectRowsClose(rows(b.xs), mixRowsByHand(expectedRows[i].x, lam, perm), 1e-6);
      expectRowsClose(rows(b.ys), mixRowsByHand(expectedRows[i].y, lam, perm), 1e-6);
      i++;
    }
    // The draws differ per batch.
    expect(new Set(draws.map((d) => d.lam)).size).toBe(3);
    tf.dispose(out.flatMap((b) => [b.xs, b.ys]));
  });

  it('the same seed mixes the same way; no tensor is left behind but the mixed batches', () => {
    const run = (seed: number) => {
      const drawn: unknown[] = [];
      const out = mixupDataset(new FakeDataset(batches), { alpha: 0.2, seed, lambda: 'sample', onDraw: (d) => drawn.push(d) }).toArray();
      const values = out.map((b) => Array.from(b.xs.dataSync()));
      tf.dispose(out.flatMap((b) => [b.xs, b.ys]));
      return { drawn, values };
    };
    const before = tf.memory().numTensors;
    const a = run(1);
    const b = run(1);
    const c = run(2);
    expect(tf.memory().numTensors).toBe(before);
    expect(a).toEqual(b);
    expect(c.drawn).not.toEqual(a.drawn);
  });

  it('validates its options like the plugin', () => {
    expect(() => mixupDataset(new FakeDataset(batches), { alpha: 0 })).toThrow(OptionsError);
  });
});
