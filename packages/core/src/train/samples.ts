import * as tf from '@tensorflow/tfjs-core';
import { Container } from 'inversify';
import { silentLogger, type Logger } from '../logger.js';
import { encodeRgbPng } from '../png.js';
import { Rng } from '../rng.js';
import type { Batch, FermixPlugin, PluginContext } from '../types.js';
import { writeFileAtomic } from '../run-folder.js';

/** One image as the network sees it: a PNG and its (soft) target over the classes. */
export interface GallerySample {
  /** Base64 PNG, RGB. */
  png: string;
  /** Target over `classes`; a mixed sample has two non-zero entries. */
  label: number[];
  /** The sample's loss weight (the view's weight, or its per-sample weight). */
  weight: number;
}

/** `samples.json` in a run folder: one batch after every plugin's `transformBatch`, view by view. */
export interface SampleGallery {
  version: 1;
  classes: string[];
  imageSize: number;
  /** What the plugins drew for this batch (lam, pairing, flip mask...), by plugin. */
  drawn: Record<string, Record<string, unknown>>;
  views: Record<string, { weight: number; group?: string; samples: GallerySample[] }>;
}

export interface GalleryOptions {
  plugins: FermixPlugin[];
  classes: string[];
  /** Random draws of the plugins come from here, not from the run's generator: training is unchanged. */
  rng?: Rng;
  logger?: Logger;
  container?: Container;
  /** Images kept per view (default 8). */
  count?: number;
}

/** PNG bytes of an RGB float image in [0, 1] (values outside are clipped). */
export function encodePng(pixels: Float32Array | number[], size: number): Buffer {
  const bytes = Uint8Array.from({ length: size * size * 3 }, (_, i) => Math.max(0, Math.min(255, Math.round(pixels[i] * 255))));
  const png = encodeRgbPng(bytes, size, size);
  return Buffer.from(png.buffer, png.byteOffset, png.byteLength);
}

/**
 * Encodes a batch as the network sees it (after the plugins' `transformBatch`): the first `count`
 * images of every view as PNG, with their targets and weights. Tensors it makes are disposed.
 */
export function galleryOfBatch(batch: Batch, options: { classes: string[]; drawn?: SampleGallery['drawn']; count?: number }): SampleGallery {
  const count = options.count ?? 8;
  const gallery: SampleGallery = { version: 1, classes: options.classes, imageSize: 0, drawn: options.drawn ?? {}, views: {} };
  tf.tidy(() => {
    for (const [name, view] of Object.entries(batch.views)) {
      const n = Math.min(count, view.x.shape[0]);
      const size = view.x.shape[1];
      gallery.imageSize = size;
      const x = tf.slice(view.x, [0, 0, 0, 0], [n, -1, -1, -1]).dataSync() as Float32Array;
      const y = tf.slice(view.y, [0, 0], [n, -1]).arraySync() as number[][];
      const weights = typeof view.weight === 'number' ? new Array<number>(n).fill(view.weight) : Array.from(tf.slice(view.weight, [0], [n]).dataSync());
      const pixels = size * size * 3;
      gallery.views[name] = {
        weight: typeof view.weight === 'number' ? view.weight : weights.reduce((s, w) => s + w, 0) / Math.max(1, n),
        ...(view.group ? { group: view.group } : {}),
        samples: Array.from({ length: n }, (_, i) => ({
          png: encodePng(x.subarray(i * pixels, (i + 1) * pixels), size).toString('base64'),
          label: y[i].map((v) => +v.toFixed(4)),
          weight: weights[i],
        })),
      };
    }
  });
  return gallery;
}

/**
 * Runs the plugins' `transformBatch` on `batch` once, as a training step would, and encodes the
 * result with `galleryOfBatch`: for a loop of your own. (The Trainer instead records the first real
 * step through `TrainStep.inspect`, so plugins are not called an extra time.)
 */
export function sampleGallery(batch: Batch, options: GalleryOptions): SampleGallery {
  const rng = options.rng ?? new Rng(0);
  const drawn: SampleGallery['drawn'] = {};
  let gallery: SampleGallery | undefined;
  tf.tidy(() => {
    let current = batch;
    for (const plugin of options.plugins) {
      if (!plugin.transformBatch) continue;
      const ctx: PluginContext = {
        step: 0,
        epoch: 0,
        rng,
        logger: options.logger ?? silentLogger,
        container: options.container ?? new Container(),
        record(key, value) {
          (drawn[plugin.name] ??= {})[key] = value;
        },
      };
      current = plugin.transformBatch(current, ctx);
    }
    gallery = galleryOfBatch(current, { classes: options.classes, drawn, count: options.count });
  });
  return gallery!;
}

/** Writes `sampleGallery` to `file` (JSON). */
export function writeSampleGallery(file: string, batch: Batch, options: GalleryOptions): SampleGallery {
  const gallery = sampleGallery(batch, options);
  writeFileAtomic(file, JSON.stringify(gallery) + '\n');
  return gallery;
}
