import type { Rng } from '@fermix/core';

/** What the draws need of a generator: fermix's `Rng`, or any object with these methods. */
export type MixRng = Pick<Rng, 'gamma' | 'uniform' | 'permutation'>;

/** How the mixing coefficient is drawn: one per batch (Zhang et al., the paper) or one per sample (fastai). */
export type LambdaMode = 'batch' | 'sample';
/** Who is mixed with whom: sample i with sample perm[i]. */
export type Pairing = 'permutation' | 'reverse';

function checkAlpha(alpha: number): void {
  if (!(alpha > 0) || !Number.isFinite(alpha)) throw new RangeError(`mixup: alpha must be a finite number > 0, got ${alpha}`);
}

/**
 * lam ~ Beta(alpha, alpha), as X / (X + Y) with X, Y ~ Gamma(alpha, 1) independent.
 *
 * `alpha` is the Gamma SHAPE. Using it as a rate (X ~ Gamma(1, rate alpha), an exponential) gives
 * X / (X + Y) ~ Uniform(0, 1) whatever alpha is: every lam equally likely instead of lam piling up near
 * 0 and 1 for small alpha, which is what makes mixup with alpha 0.1-0.2 a gentle augmentation.
 */
export function sampleBeta(alpha: number, rng: Pick<MixRng, 'gamma' | 'uniform'>): number {
  checkAlpha(alpha);
  const x = rng.gamma(alpha);
  const y = rng.gamma(alpha);
  const sum = x + y;
  // For a tiny alpha both draws can underflow to 0; Beta(a, a) then tends to a fair coin on {0, 1}.
  if (sum === 0) return rng.uniform() < 0.5 ? 1 : 0;
  return x / sum;
}

/**
 * The partner of each sample: `perm[i]` is the j mixed into sample i. `permutation` draws a uniformly
 * random permutation (Zhang et al.; some samples may be paired with themselves); `reverse` pairs
 * sample i with sample n-1-i and draws nothing (timm's `flip`, cheap when the batch is already shuffled).
 * Both are permutations of 0..n-1, which MixAugment relies on.
 */
export function samplePairing(n: number, pairing: Pairing, rng: Pick<MixRng, 'permutation'>): Int32Array {
  if (!Number.isInteger(n) || n < 1) throw new RangeError(`mixup: batch size must be a positive integer, got ${n}`);
  if (pairing === 'permutation') return rng.permutation(n);
  if (pairing === 'reverse') {
    const perm = new Int32Array(n);
    for (let i = 0; i < n; i++) perm[i] = n - 1 - i;
    return perm;
  }
  throw new RangeError(`mixup: pairing must be permutation or reverse, got ${String(pairing)}`);
}

/** One lam for the batch (`batch`) or one per sample (`sample`), each ~ Beta(alpha, alpha). */
export function sampleLambda(n: number, alpha: number, mode: LambdaMode, rng: Pick<MixRng, 'gamma' | 'uniform'>): number | number[] {
  if (mode === 'batch') return sampleBeta(alpha, rng);
  if (mode === 'sample') return Array.from({ length: n }, () => sampleBeta(alpha, rng));
  throw new RangeError(`mixup: lambda must be batch or sample, got ${String(mode)}`);
}

export interface MixDrawOptions {
  alpha: number;
  lambda?: LambdaMode;
  pairing?: Pairing;
}

/** What one mixing draws: lam (a number, or one per sample) then the pairing, in that order. */
export interface MixDraw {
  lam: number | number[];
  perm: Int32Array;
}

/** Draws lam and the pairing for a batch of n samples, lam first, both from `rng`. */
export function drawMix(n: number, options: MixDrawOptions, rng: MixRng): MixDraw {
  const lam = sampleLambda(n, options.alpha, options.lambda ?? 'batch', rng);
  const perm = samplePairing(n, options.pairing ?? 'permutation', rng);
  return { lam, perm };
}
