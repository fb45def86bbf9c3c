import type { Rng } from '@fermix/core';
import type { AffineParams, CropBox } from './geometry.js';

/** What the draws need of a generator: fermix's `Rng`, or any object with these methods. */
export type CropRng = Pick<Rng, 'uniform' | 'int'>;

/** uniform(lo, hi), as torch's `uniform_`. */
function between(lo: number, hi: number, rng: CropRng): number {
  return lo + (hi - lo) * rng.uniform();
}

/** Python's round (half to even), as torchvision's `int(round(...))`. */
export function roundHalfEven(v: number): number {
  const r = Math.round(v);
  return Math.abs(v % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/**
 * torchvision's `RandomResizedCrop.get_params(img, scale, ratio)`: up to ten tries of an area
 * share ~ U(scale) and a log aspect ratio ~ U(log ratio), rounded to whole pixels, kept if it fits
 * (then its top-left pixel uniformly); after ten misses, the largest centred crop within `ratio`.
 */
export function sampleResizedCrop(h: number, w: number, scale: readonly [number, number], ratio: readonly [number, number], rng: CropRng): CropBox {
  const area = h * w;
  const logRatio = [Math.log(ratio[0]), Math.log(ratio[1])];
  for (let attempt = 0; attempt < 10; attempt++) {
    const target = area * between(scale[0], scale[1], rng);
    const aspect = Math.exp(between(logRatio[0], logRatio[1], rng));
    const width = roundHalfEven(Math.sqrt(target * aspect));
    const height = roundHalfEven(Math.sqrt(target / aspect));
    if (width > 0 && width <= w && height > 0 && height <= h) {
      const top = rng.int(h - height + 1);
      const left = rng.int(w - width + 1);
      return { top, left, height, width };
    }
  }
  const inRatio = w / h;
  let width = w;
  let height = h;
  if (inRatio < Math.min(...ratio)) height = roundHalfEven(w / Math.min(...ratio));
  else if (inRatio > Math.max(...ratio)) width = roundHalfEven(h * Math.max(...ratio));
  return { top: Math.floor((h - height) / 2), left: Math.floor((w - width) / 2), height, width };
}

/** torchvision's `RandomCrop.get_params` on the padded image: top and left uniform in [0, 2 padding]. */
export function samplePaddedCrop(padding: number, rng: CropRng): { top: number; left: number } {
  const top = rng.int(2 * padding + 1);
  const left = rng.int(2 * padding + 1);
  return { top, left };
}

/** The ranges of `RandomAffine`, in torchvision's terms. */
export interface AffineRanges {
  /** Angle range in degrees, [min, max]. */
  degrees: readonly [number, number];
  /** Largest translation as a fraction of width and height, or undefined for none. */
  translate?: readonly [number, number];
  /** Scale range, or undefined for 1. */
  scale?: readonly [number, number];
  /** Shear ranges in degrees: [xmin, xmax] or [xmin, xmax, ymin, ymax], or undefined for none. */
  shear?: readonly number[];
}

/**
 * torchvision's `RandomAffine.get_params`: angle ~ U(degrees); translation ~ U(+-fraction * size),
 * rounded to whole pixels; scale ~ U(scale); shear x ~ U(shear[0], shear[1]), shear y likewise when
 * four values are given. Draws in that order, skipping what is not configured.
 */
export function sampleAffine(h: number, w: number, ranges: AffineRanges, rng: CropRng): AffineParams {
  const angle = between(ranges.degrees[0], ranges.degrees[1], rng);
  let translate: [number, number] = [0, 0];
  if (ranges.translate) {
    const maxDx = ranges.translate[0] * w;
    const maxDy = ranges.translate[1] * h;
    translate = [roundHalfEven(between(-maxDx, maxDx, rng)), roundHalfEven(between(-maxDy, maxDy, rng))];
  }
  const scale = ranges.scale ? between(ranges.scale[0], ranges.scale[1], rng) : 1;
  const shear: [number, number] = [0, 0];
  if (ranges.shear) {
    shear[0] = between(ranges.shear[0], ranges.shear[1], rng);
    if (ranges.shear.length === 4) shear[1] = between(ranges.shear[2], ranges.shear[3], rng);
  }
  return { angle, translate, scale, shear };
}
