import type { Rng } from '@fermix/core';

/** What the box draw needs of a generator: fermix's `Rng`, or any object with `int(n)`. */
export type BoxRng = Pick<Rng, 'int'>;

/**
 * A rectangle of pixels, half-open: rows `y0 <= r < y1`, columns `x0 <= c < x1` of an `h` x `w`
 * image. An empty box (y0 === y1 or x0 === x1) cuts nothing.
 */
export interface Box {
  y0: number;
  x0: number;
  y1: number;
  x1: number;
}

/** The box that cuts nothing (a sample left alone, or mixed by mixup instead). */
export const EMPTY_BOX: Readonly<Box> = Object.freeze({ y0: 0, x0: 0, y1: 0, x1: 0 });

/** Pixels the box covers. */
export function boxArea(box: Box): number {
  return Math.max(0, box.y1 - box.y0) * Math.max(0, box.x1 - box.x0);
}

/**
 * The label weight of the image a box is pasted into: the share of its pixels that stay its own,
 * lam = 1 - area(box) / (h w). timm's `correct_lam`: a box clipped at the border is smaller than
 * drawn, and the labels follow the pixels actually pasted, not the lam the box was drawn from.
 */
export function areaLambda(box: Box, h: number, w: number): number {
  return 1 - boxArea(box) / (h * w);
}

function checkSize(name: string, v: number): void {
  if (!Number.isInteger(v) || v < 1) throw new RangeError(`cutmix: ${name} must be a positive integer, got ${v}`);
}

/**
 * timm's `rand_bbox` for a given centre: a box of half-sizes floor(cut_h / 2) x floor(cut_w / 2)
 * around (cy, cx), with cut_h = floor(h sqrt(1 - lam)) and cut_w = floor(w sqrt(1 - lam)), so that
 * it covers about a share 1 - lam of the image, clipped to the image. Pure: the centre is given.
 */
export function boxAt(h: number, w: number, lam: number, cy: number, cx: number): Box {
  checkSize('h', h);
  checkSize('w', w);
  if (!(lam >= 0 && lam <= 1)) throw new RangeError(`cutmix: lam must be in [0, 1], got ${lam}`);
  if (!Number.isInteger(cy) || !Number.isInteger(cx) || cy < 0 || cy >= h || cx < 0 || cx >= w) {
    throw new RangeError(`cutmix: the centre (${cy}, ${cx}) is not a pixel of a ${h}x${w} image`);
  }
  const ratio = Math.sqrt(1 - lam);
  const halfH = Math.floor(Math.floor(h * ratio) / 2);
  const halfW = Math.floor(Math.floor(w * ratio) / 2);
  const clip = (v: number, hi: number) => Math.min(hi, Math.max(0, v));
  return { y0: clip(cy - halfH, h), x0: clip(cx - halfW, w), y1: clip(cy + halfH, h), x1: clip(cx + halfW, w) };
}

/**
 * Draws the box CutMix pastes from the partner image (Yun et al. 2019, eq. 2; timm's `rand_bbox`):
 * its centre is a uniformly random pixel (row, then column, from `rng`), its size set by lam as in
 * `boxAt`. Clipping makes a box near a border smaller: label with `areaLambda`.
 */
export function sampleBox(h: number, w: number, lam: number, rng: BoxRng): Box {
  checkSize('h', h);
  checkSize('w', w);
  const cy = rng.int(h);
  const cx = rng.int(w);
  return boxAt(h, w, lam, cy, cx);
}
