import { describe, expect, it } from 'vitest';
import { balancedClassWeights, balancedOrder, classCounts } from '../src/data/balance.js';
import { Rng } from '../src/rng.js';

/** `counts[c]` labels of class c, interleaved so classes are not in blocks. */
function labelsWith(counts: number[]): Int32Array {
  const labels: number[] = [];
  counts.forEach((n, c) => labels.push(...new Array(n).fill(c)));
  return new Rng(7).shuffle(Int32Array.from(labels));
}

describe('classCounts', () => {
  it('counts each class, zero for absent ones', () => {
    expect(classCounts([2, 0, 2, 2], 4)).toEqual([1, 0, 3, 0]);
    expect(classCounts(new Int32Array(0), 2)).toEqual([0, 0]);
  });

  it('rejects labels outside 0..k-1 and a bad k', () => {
    expect(() => classCounts([0, 3], 3)).toThrow(/label 3 at index 1 is outside 0\.\.2/);
    expect(() => classCounts([0, -1], 3)).toThrow(RangeError);
    expect(() => classCounts([0], 0)).toThrow(/number of classes/);
  });
});

describe('balancedClassWeights', () => {
  it("is scikit-learn's balanced: n / (k * count)", () => {
    // sklearn.utils.class_weight.compute_class_weight('balanced', classes=[0, 1], y=[0, 0, 0, 1]) = [0.6667, 2.0]
    const w = balancedClassWeights([0, 0, 0, 1], 2);
    expect(w[0]).toBeCloseTo(4 / 6, 12);
    expect(w[1]).toBe(2);
  });

  it('gives every class the same total weight, 1 on balanced data, 0 to an absent class', () => {
    const counts = [4772, 717, 281, 705, 1982, 2524, 1290];
    const labels = labelsWith(counts);
    const w = balancedClassWeights(labels, 7);
    counts.forEach((n, c) => expect(n * w[c]).toBeCloseTo(labels.length / 7, 9));
    expect(balancedClassWeights([0, 1, 2, 0, 1, 2], 3)).toEqual([1, 1, 1]);
    expect(balancedClassWeights([0, 0, 2], 3)).toEqual([0.5, 0, 1]); // k stays 3: n / (3 * count)
  });
});

describe('balancedOrder', () => {
  const counts = [1000, 10, 100, 0, 3];
  const labels = labelsWith(counts);

  it('draws each class that has samples equally often (±1), never an absent one', () => {
    for (const count of [labels.length, 1000, 7]) {
      const order = balancedOrder(labels, 5, count, new Rng(1));
      expect(order).toHaveLength(count);
      const drawn = classCounts(Array.from(order, (i) => labels[i]), 5);
      expect(drawn[3]).toBe(0);
      const present = drawn.filter((_, c) => counts[c] > 0);
      expect(Math.max(...present) - Math.min(...present)).toBeLessThanOrEqual(1);
      expect(present.reduce((a, b) => a + b)).toBe(count);
    }
  });

  it('oversamples small classes evenly and does not repeat a big class before it is used up', () => {
    const order = balancedOrder(labels, 5, 1112, new Rng(2)); // 278 per class
    const uses = new Map<number, number>();
    for (const i of order) uses.set(i, (uses.get(i) ?? 0) + 1);
    const usesOf = (c: number) => [...uses].filter(([i]) => labels[i] === c).map(([, n]) => n);
    expect(usesOf(1)).toHaveLength(10); // every minority sample is used ...
    expect(Math.max(...usesOf(1)) - Math.min(...usesOf(1))).toBeLessThanOrEqual(1); // ... equally often (27 or 28 times)
    expect(usesOf(4).sort()).toEqual([92, 93, 93]);
    expect(usesOf(0).every((n) => n === 1)).toBe(true); // 278 distinct of the 1000 majority samples
  });

  it('is reproducible from the generator and differs between seeds', () => {
    const a = balancedOrder(labels, 5, 500, new Rng(3));
    expect(balancedOrder(labels, 5, 500, new Rng(3))).toEqual(a);
    expect(balancedOrder(labels, 5, 500, new Rng(4))).not.toEqual(a);
  });

  it('handles the edges: nothing to draw, a zero count, a bad count', () => {
    expect(balancedOrder([], 2, 0, new Rng(1))).toEqual(new Int32Array(0));
    expect(() => balancedOrder([], 2, 3, new Rng(1))).toThrow(/no samples/);
    expect(balancedOrder([1, 1], 2, 3, new Rng(1))).toEqual(expect.any(Int32Array));
    expect(() => balancedOrder([0], 1, -1, new Rng(1))).toThrow(/count must be/);
    expect(() => balancedOrder([0, 5], 2, 2, new Rng(1))).toThrow(/outside/);
  });
});
