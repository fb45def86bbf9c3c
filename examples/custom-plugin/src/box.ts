import type { Rng } from '@fermix/core';

/** What the box draw needs of a generator: fermix's `Rng`, or any object with `int(n)`. */
export type BoxRng = Pick<Rng, 'int'>;

/**
 * A rectangle of pixels, half-open: rows `y0 <= r < y1`, columns `x0 <= c < x1` of an
 * `h` x `w` image. An empty box (y0 === y1 or x0 === x1) cuts nothing.
 */
export interface Box {
  y0: number;
  x0: number;
  y1: number;
  x1: number;
}

/** Pixels the box covers. */
export function boxArea(box: Box): number {
  return Math.max(0, box.y1 - box.y0) * Math.max(0, box.x1 - box.x0);
}

/**
 * The label weight of the image a box is cut into: the share of its pixels that stay its own,
 * lam = 1 - area(box) / (h * w). CutMix uses this, not the lam the box was drawn from, because a box
 * clipped at the border is smaller than drawn (Yun et al. 2019, and their reference code).
 */
export function areaLambda(box: Box, h: number, w: number): number {
  return 1 - boxArea(box) / (h * w);
}

function checkSize(name: string, v: number): void {
  if (!Number.isInteger(v) || v < 1) throw new RangeError(`cutmix: ${name} must be a positive integer, got ${v}`);
}

/**
 * Draws the box CutMix pastes from the partner image (Yun et al. 2019, eq. 2): a box of
 * `round(h * sqrt(1 - lam))` x `round(w * sqrt(1 - lam))` pixels, so that it covers a share
 * 1 - lam of the image, centred on a uniformly random pixel (rows first, then columns, from `rng`)
 * and clipped to the image. Clipping makes the box smaller near a border: use `areaLambda` for the
 * labels.
 */
export function sampleBox(h: number, w: number, lam: number, rng: BoxRng): Box {
  checkSize('h', h);
  checkSize('w', w);
  if (!(lam >= 0 && lam <= 1)) throw new RangeError(`cutmix: lam must be in [0, 1], got ${lam}`);
  const ratio = Math.sqrt(1 - lam);
  const cutH = Math.round(h * ratio);
  const cutW = Math.round(w * ratio);
  const cy = rng.int(h);
  const cx = rng.int(w);
  const top = cy - Math.floor(cutH / 2);
  const left = cx - Math.floor(cutW / 2);
  const clamp = (v: number, hi: number) => Math.min(hi, Math.max(0, v));
  return { y0: clamp(top, h), x0: clamp(left, w), y1: clamp(top + cutH, h), x1: clamp(left + cutW, w) };
}
