/**
 * Aligning image files: decode an original image, take its five landmarks from the dataset (or find
 * them with a LandmarkDetector), warp it to the frontal template. Used by data sources that align on
 * load (RAF-DB's originals) and by `fermix prepare`, which writes the aligned copy once.
 */
import { readFileSync } from 'node:fs';
import type { Logger } from '@fermix/core';
import { alignFace, type AlignSize, type FivePoints, type LandmarkDetector, type RgbImage } from './align.js';
import { decodeImage, type DecodedImage } from './decode.js';
import type { DataSource } from './source.js';

/** `data.align` of the config. */
export interface AlignConfig {
  /** Where the five landmarks come from: the dataset's own annotation, or a face-landmark model. */
  landmarks: 'dataset' | 'model';
  /** The aligned face's side, in pixels. */
  size: AlignSize;
}

/** One original image to align. */
export interface AlignItem {
  /** The original image file. */
  path: string;
  /** Its class index. */
  label: number;
  /** Landmarks from the dataset's annotation; when absent a LandmarkDetector finds them. */
  points?: FivePoints;
  /** The annotation file `points` came from. */
  landmarksFile?: string;
}

/** A split's originals to align, with the class list and what was left out before any decoding. */
export interface AlignPlan {
  classes: string[];
  items: AlignItem[];
  /** Images or annotations missing or malformed, skipped under `data.onMissing: skip`. */
  skipped: { path: string; reason: string }[];
}

/** A data source that can list its original images for alignment (RAF-DB with `data.align`). */
export interface AlignableSource extends DataSource {
  readonly align: AlignConfig;
  alignPlan(split: string, logger: Logger): Promise<AlignPlan>;
}

export function isAlignable(source: DataSource): source is AlignableSource {
  return typeof (source as Partial<AlignableSource>).alignPlan === 'function' && (source as Partial<AlignableSource>).align != null;
}

/** Why an image could not be aligned: unreadable file, no face found, or unusable landmarks. */
export type AlignFailureKind = 'unreadable' | 'no-face' | 'bad-landmarks';

export type AlignOutcome =
  | { ok: true; data: Uint8Array; points: FivePoints; residual: number }
  | { ok: false; kind: AlignFailureKind; reason: string };

/** A decoded image as RGB: gray replicated, alpha composited over black (as toRgbResized does). */
export function toRgbImage(img: DecodedImage): RgbImage {
  const { width, height, channels, data } = img;
  if (channels === 3) return { width, height, data };
  const out = new Uint8Array(width * height * 3);
  for (let p = 0; p < width * height; p++) {
    if (channels === 1) {
      out[p * 3] = out[p * 3 + 1] = out[p * 3 + 2] = data[p];
    } else {
      const alpha = data[p * 4 + 3] / 255;
      for (let c = 0; c < 3; c++) out[p * 3 + c] = Math.round(data[p * 4 + c] * alpha);
    }
  }
  return { width, height, data: out };
}

/**
 * Aligns one original image to `size` x `size`. Never throws for a bad image: an unreadable file, no
 * face found (or the detector failing on it), or degenerate landmarks come back as
 * `{ ok: false, kind, reason }`. Needs `detector`
 * when the item has no landmarks of its own.
 */
export async function alignImageFile(item: AlignItem, size: number, detector?: LandmarkDetector): Promise<AlignOutcome> {
  let rgb: RgbImage;
  try {
    rgb = toRgbImage(decodeImage(readFileSync(item.path), item.path));
  } catch (err) {
    return { ok: false, kind: 'unreadable', reason: (err as Error).message };
  }
  let points = item.points;
  if (!points) {
    if (!detector) throw new Error(`no landmarks for ${item.path}: it has no annotation and no landmark detector was given`);
    let face;
    try {
      face = await detector.detect(rgb.data, rgb.width, rgb.height);
    } catch (err) {
      return { ok: false, kind: 'no-face', reason: `the landmark model failed on this image: ${(err as Error).message}` };
    }
    if (!face) return { ok: false, kind: 'no-face', reason: 'no face found by the landmark model' };
    points = face.points;
  }
  try {
    const aligned = alignFace(rgb, points, size);
    return { ok: true, data: aligned.data, points, residual: aligned.residual };
  } catch (err) {
    const from = item.landmarksFile ? ` (landmarks from ${item.landmarksFile})` : '';
    return { ok: false, kind: 'bad-landmarks', reason: `cannot align${from}: ${(err as Error).message}` };
  }
}
