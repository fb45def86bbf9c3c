import { Rng } from '@fermix/core';
import { describe, expect, it } from 'vitest';
import { drawMix, sampleBeta, sampleLambda, samplePairing } from '../src/index.js';

const N = 20_000;
const rngA = new Rng(11);
const rngB = new Rng(12);

/** Sample mean and (unbiased) variance of n draws. */
function moments(draw: () => number, n = N): { mean: number; variance: number; draws: number[] } {
  const draws = Array.from({ length: n }, draw);
  const mean = draws.reduce((a, b) => a + b, 0) / n;
  const variance = draws.reduce((a, b) => a + (b - mean) ** 2, 0) / (n - 1);
  return { mean, variance, draws };
}

/**
 * Whether n draws look like Beta(alpha, alpha): mean 1/2 and variance 1/(4(2 alpha + 1)), each within
 * 5 standard errors. The standard error of the sample variance uses the fourth central moment of
 * Beta(a, a) (excess kurtosis -6/(2a+3)): Var(s^2) ~ sigma^4 (2 - 6/(2a+3)) / n.
 */
function matchesBeta(draw: () => number, alpha: number): { ok: boolean; mean: number; variance: number; expectedVariance: number; tolMean: number; tolVar: number } {
  const { mean, variance } = moments(draw);
  const expectedVariance = 1 / (4 * (2 * alpha + 1));
  const tolMean = 5 * Math.sqrt(expectedVariance / N);
  const tolVar = 5 * Math.sqrt((expectedVariance ** 2 * (2 - 6 / (2 * alpha + 3))) / N);
  const ok = Math.abs(mean - 0.5) < tolMean && Math.abs(variance - expectedVariance) < tolVar;
  return { ok, mean, variance, expectedVariance, tolMean, tolVar };
}

/** The bug this package must not have: alpha used as a Gamma RATE (an exponential), so lam ~ Uniform(0, 1). */
function betaWithAlphaAsRate(alpha: number, rng: Rng): number {
  const x = -Math.log(1 - rng.uniform()) / alpha;
  const y = -Math.log(1 - rng.uniform()) / alpha;
  return x / (x + y);
}

describe('sampleBeta', () => {
  for (const alpha of [0.1, 0.2, 0.6, 1, 4]) {
    it(`matches the mean and variance of Beta(${alpha}, ${alpha}) over ${N} draws`, () => {
      const rng = new Rng(1000 + alpha * 10);
      const r = matchesBeta(() => sampleBeta(alpha, rng), alpha);
      expect(Math.abs(r.mean - 0.5)).toBeLessThan(r.tolMean);
      expect(Math.abs(r.variance - r.expectedVariance)).toBeLessThan(r.tolVar);
      // Tight: 5 standard errors is under 5% of the variance itself (and the mean within +-0.016).
      expect(r.tolVar).toBeLessThan(0.05 * r.expectedVariance);
      expect(r.tolMean).toBeLessThan(0.017);
    });
  }

  it('uses alpha as the Gamma shape: the same check rejects alpha used as a rate (lam uniform)', () => {
    // Beta(0.1, 0.1) has variance 1/(4 * 1.2) = 0.208 (lam piles up near 0 and 1); uniform has 1/12 = 0.083.
    const right = matchesBeta(() => sampleBeta(0.1, rngA), 0.1);
    expect(right.ok).toBe(true);
    expect(right.variance).toBeGreaterThan(0.2);
    const wrong = matchesBeta(() => betaWithAlphaAsRate(0.1, rngB), 0.1);
    expect(wrong.ok).toBe(false);
    expect(wrong.variance).toBeCloseTo(1 / 12, 2);
    // And for alpha 4 (lam near 1/2, variance 1/36), the rate version is just as wrong.
    expect(matchesBeta(() => betaWithAlphaAsRate(4, rngB), 4).ok).toBe(false);
    // Small alpha puts most lam near the ends: P(lam < 0.05 or lam > 0.95) is about 0.6 for Beta(0.1, 0.1), 0.1 for a uniform.
    const draws = moments(() => sampleBeta(0.1, rngA)).draws;
    const ends = draws.filter((v) => v < 0.05 || v > 0.95).length / draws.length;
    expect(ends).toBeGreaterThan(0.5);
  });

  it('repeats itself: the same seed gives the same draws, another seed others', () => {
    const a = new Rng(7);
    const b = new Rng(7);
    const c = new Rng(8);
    const da = Array.from({ length: 50 }, () => sampleBeta(0.2, a));
    const db = Array.from({ length: 50 }, () => sampleBeta(0.2, b));
    const dc = Array.from({ length: 50 }, () => sampleBeta(0.2, c));
    expect(da).toEqual(db);
    expect(da).not.toEqual(dc);
    for (const v of da) expect(v >= 0 && v <= 1).toBe(true);
  });

  it('rejects alpha <= 0', () => {
    expect(() => sampleBeta(0, new Rng(1))).toThrow(/alpha/);
    expect(() => sampleBeta(-1, new Rng(1))).toThrow(/alpha/);
    expect(() => sampleBeta(Number.NaN, new Rng(1))).toThrow(/alpha/);
  });
});

describe('samplePairing', () => {
  it('permutation: a permutation of 0..n-1, the same for the same seed', () => {
    const p = samplePairing(10, 'permutation', new Rng(3));
    expect([...p].sort((a, b) => a - b)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect([...samplePairing(10, 'permutation', new Rng(3))]).toEqual([...p]);
    expect([...samplePairing(10, 'permutation', new Rng(4))]).not.toEqual([...p]);
  });

  it('reverse: pairs i with n-1-i and draws nothing', () => {
    const rng = new Rng(3);
    const before = rng.getState();
    expect([...samplePairing(5, 'reverse', rng)]).toEqual([4, 3, 2, 1, 0]);
    expect(rng.getState()).toEqual(before);
  });

  it('rejects an unknown pairing and a bad size', () => {
    expect(() => samplePairing(4, 'shuffle' as never, new Rng(1))).toThrow(/pairing/);
    expect(() => samplePairing(0, 'reverse', new Rng(1))).toThrow(/batch size/);
  });
});

describe('sampleLambda / drawMix', () => {
  it('batch: one lam; sample: one lam per sample, different from each other', () => {
    expect(typeof sampleLambda(6, 0.4, 'batch', new Rng(1))).toBe('number');
    const lams = sampleLambda(6, 0.4, 'sample', new Rng(1)) as number[];
    expect(lams).toHaveLength(6);
    expect(new Set(lams).size).toBe(6);
  });

  it('draws lam first, then the pairing, all from the generator', () => {
    const rng = new Rng(5);
    const d = drawMix(8, { alpha: 0.3 }, rng);
    const check = new Rng(5);
    expect(d.lam).toBe(sampleBeta(0.3, check));
    expect([...d.perm]).toEqual([...check.permutation(8)]);
  });
});
