import { describe, expect, it } from 'vitest';
import { Rng } from '../src/rng.js';

describe('Rng', () => {
  it('repeats itself for the same seed and differs for another', () => {
    const a = new Rng(7);
    const b = new Rng(7);
    const c = new Rng(8);
    const sa = Array.from({ length: 5 }, () => a.nextUint32());
    expect(Array.from({ length: 5 }, () => b.nextUint32())).toEqual(sa);
    expect(Array.from({ length: 5 }, () => c.nextUint32())).not.toEqual(sa);
  });

  it('continues exactly from a saved state', () => {
    const a = new Rng(3);
    a.permutation(10);
    const saved = a.getState();
    const next = [a.uniform(), a.normal(), a.gamma(0.3)];
    const b = new Rng(99);
    b.setState(saved);
    expect([b.uniform(), b.normal(), b.gamma(0.3)]).toEqual(next);
  });

  it('draws uniforms with mean 1/2 and variance 1/12', () => {
    const r = new Rng(1);
    const n = 50_000;
    let s = 0;
    let s2 = 0;
    for (let i = 0; i < n; i++) {
      const u = r.uniform();
      expect(u >= 0 && u < 1).toBe(true);
      s += u;
      s2 += u * u;
    }
    expect(s / n).toBeCloseTo(0.5, 2);
    expect(s2 / n - (s / n) ** 2).toBeCloseTo(1 / 12, 2);
  });

  it('draws Gamma(k) with mean k and variance k, for shapes below and above 1', () => {
    for (const k of [0.1, 0.6, 1, 4]) {
      const r = new Rng(11);
      const n = 40_000;
      let s = 0;
      let s2 = 0;
      for (let i = 0; i < n; i++) {
        const g = r.gamma(k);
        s += g;
        s2 += g * g;
      }
      const mean = s / n;
      expect(Math.abs(mean - k) / k).toBeLessThan(0.05);
      expect(Math.abs(s2 / n - mean * mean - k) / k).toBeLessThan(0.1);
    }
  });

  it('makes permutations that hold every index once', () => {
    const p = new Rng(5).permutation(100);
    expect([...p].sort((a, b) => a - b)).toEqual(Array.from({ length: 100 }, (_, i) => i));
  });

  it('forks independent streams that are themselves deterministic', () => {
    const a = new Rng(1).fork('data');
    const b = new Rng(1).fork('data');
    const c = new Rng(1).fork('plugins');
    expect(a.uniform()).toBe(b.uniform());
    expect(new Rng(1).fork('data').uniform()).not.toBe(c.uniform());
  });
});
