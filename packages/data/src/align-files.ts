/**
 * Aligning image files: decode an original image, take its five landmarks from the dataset (or find
 * them with a LandmarkDetector), warp it to the frontal template. Used by data sources that align on
 * load (RAF-DB's originals) and by `fermix prepare`, which writes the aligned copy once.
 */
import { readFileSync } from 'node:fs';
import type { Logger } from '@fermix/core';
import { alignFace, alignmentTemplate, similarityTransform, transformResidual, type AlignSize, type FivePoints, type LandmarkDetector, type RgbImage } from './align.js';
import { allCoreWorkers, batchResults, DecodePool, type DecodeResult } from './decode-pool.js';
import { decodeImage, imageCodec, type DecodedImage, type DecodeItem } from './decode.js';
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
  return imageCodec.toRgb(img);
}

/**
 * Aligns one original image to `size` x `size`. Never throws for a bad image: an unreadable file, no
 * face found (or the detector failing on it), or degenerate landmarks come back as
 * `{ ok: false, kind, reason }` (an image over `maxPixels`, from its header, is unreadable). Needs `detector`
 * when the item has no landmarks of its own.
 */
export async function alignImageFile(item: AlignItem, size: number, detector?: LandmarkDetector, maxPixels?: number): Promise<AlignOutcome> {
  let rgb: RgbImage;
  try {
    rgb = toRgbImage(decodeImage(readFileSync(item.path), item.path, maxPixels));
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

export interface AlignFilesOptions {
  /** Finds the landmarks of items that have none (`data.align.landmarks: model`). */
  detector?: LandmarkDetector;
  /** Receives a warning if the decode workers cannot start (the work then runs on this thread). */
  logger?: Logger;
  /** Decode workers for items with their own landmarks; default one per core, at most 4. 0: this thread. */
  workers?: number;
  /** Images whose header declares more pixels are refused before decoding (`data.maxPixels`). */
  maxPixels?: number;
}

/** Items per worker message: small enough that results come back steadily, large enough to amortise the message. */
const ALIGN_CHUNK = 16;

/**
 * Aligns `items` to `size` x `size`, yielding one outcome per item, in order. Items with landmarks
 * of their own (the dataset's) are decoded and warped in decode worker threads, a few chunks ahead
 * of the reader so memory stays bounded whatever the count; items without are decoded here and
 * their landmarks found by `detector` (`alignImageFile`). Never throws for a bad image.
 */
export async function* alignFiles(items: AlignItem[], size: number, options: AlignFilesOptions = {}): AsyncGenerator<AlignOutcome> {
  if (!items.every((item) => item.points)) {
    for (const item of items) yield await alignImageFile(item, size, options.detector, options.maxPixels);
    return;
  }
  if (items.length === 0) return;
  const pool = await DecodePool.open({ workers: options.workers ?? allCoreWorkers(), logger: options.logger });
  const ahead = 2 * pool.workers + 1;
  const pending: Promise<DecodeResult[]>[] = [];
  let next = 0;
  const fill = () => {
    while (pending.length < ahead && next < items.length) {
      const chunk = items.slice(next, next + ALIGN_CHUNK).map((item): DecodeItem => ({ path: item.path, align: { points: item.points!, size, landmarksFile: item.landmarksFile } }));
      next += chunk.length;
      const results = pool.decode(chunk, size, options.maxPixels).then((batch) => batchResults(batch, size));
      results.catch(() => {}); // rejected only when the reader stops early and the pool closes
      pending.push(results);
    }
  };
  try {
    let at = 0;
    fill();
    while (pending.length > 0) {
      const results = await pending.shift()!;
      fill(); // the workers go on while the caller uses these
      for (const result of results) yield outcomeOf(items[at++], result, size);
    }
  } finally {
    await pool.close();
  }
}

/** A worker's result as the outcome `alignImageFile` gives (the residual is recomputed from the five points). */
function outcomeOf(item: AlignItem, result: DecodeResult, size: number): AlignOutcome {
  if (!result.ok) return { ok: false, kind: result.kind ?? 'unreadable', reason: result.reason };
  const points = item.points!;
  const template = alignmentTemplate(size);
  return { ok: true, data: result.data, points, residual: transformResidual(similarityTransform(points, template), points, template) };
}
