import type * as tf from '@tensorflow/tfjs-core';
import { parseOptions, z, type Batch, type FermixPlugin, type PluginContext, type View } from '@fermix/core';
import { affine, IDENTITY_AFFINE, paddedCrop, resizedCrop, type AffineParams, type CropBox } from './geometry.js';
import { sampleAffine, samplePaddedCrop, sampleResizedCrop, type AffineRanges, type CropRng } from './params.js';
import type { Fill } from './sample.js';

const probability = z.number().min(0).max(1);

/** A [min, max] pair; a single number v means [-v, v] (degrees, shear). */
const symmetric = (what: string) =>
  z
    .union([z.number().min(0), z.tuple([z.number(), z.number()])])
    .transform((v): [number, number] => (typeof v === 'number' ? [-v, v] : v))
    .refine((r) => r[0] <= r[1], { message: `${what} as [min, max] with min <= max` });

export const resizedOptionsSchema = z.strictObject({
  /** Range of the crop's area as a share of the image, in (0, 1] (torchvision: [0.08, 1]). */
  scale: z
    .tuple([z.number().gt(0).max(1), z.number().gt(0).max(1)])
    .default([0.08, 1])
    .refine((r) => r[0] <= r[1], { message: 'scale as [min, max] in (0, 1] with min <= max' }),
  /** Range of the crop's aspect ratio width / height (torchvision: [3/4, 4/3]). */
  ratio: z
    .tuple([z.number().positive(), z.number().positive()])
    .default([3 / 4, 4 / 3])
    .refine((r) => r[0] <= r[1], { message: 'ratio as [min, max] with min <= max' }),
  /** Chance that a sample is cropped. */
  p: probability.default(1),
});

export const paddedOptionsSchema = z.strictObject({
  /** Pixels of `fill` added on every side before a crop of the image's size (torchvision's `padding`). */
  padding: z.number().int().positive().default(4),
  p: probability.default(1),
});

export const affineOptionsSchema = z.strictObject({
  /** Rotation: an angle in degrees d (for [-d, d]) or [min, max]; clockwise for positive angles. */
  degrees: symmetric('degrees').default([-10, 10]),
  /** Largest translation as a share of [width, height], each in [0, 1]; none when absent. */
  translate: z.tuple([z.number().min(0).max(1), z.number().min(0).max(1)]).optional(),
  /** Scale range [min, max], > 0; 1 when absent. */
  scale: z
    .tuple([z.number().positive(), z.number().positive()])
    .optional()
    .refine((r) => !r || r[0] <= r[1], { message: 'scale as [min, max] with min <= max' }),
  /** Shear in degrees: s (x in [-s, s]), [xmin, xmax], or [xmin, xmax, ymin, ymax]; none when absent. */
  shear: z
    .union([z.number().min(0), z.tuple([z.number(), z.number()]), z.tuple([z.number(), z.number(), z.number(), z.number()])])
    .optional()
    .transform((v) => (typeof v === 'number' ? [-v, v] : v))
    .refine((r) => !r || (r[0] <= r[1] && (r.length === 2 || r[2] <= r[3])), { message: 'shear ranges with min <= max' }),
  p: probability.default(1),
});

/** The options of `crop`, as written in YAML or code. */
export const cropOptionsSchema = z
  .strictObject({
    /** torchvision's RandomResizedCrop, back to the input size. */
    resized: resizedOptionsSchema.optional(),
    /** torchvision's RandomCrop(size = input size, padding, fill). */
    padded: paddedOptionsSchema.optional(),
    /** torchvision's RandomAffine(degrees, translate, scale, shear, bilinear, fill). */
    affine: affineOptionsSchema.optional(),
    /** Value of the pixels brought in from outside the image (padding, affine): one number or [r, g, b], in [0, 1]. */
    fill: z.union([z.number().min(0).max(1), z.tuple([z.number().min(0).max(1), z.number().min(0).max(1), z.number().min(0).max(1)])]).default(0),
  })
  .refine((o) => o.resized || o.padded || o.affine, { message: 'at least one of resized, padded and affine (e.g. resized: {})' });

export type CropOptionsInput = z.input<typeof cropOptionsSchema>;
export type CropOptions = z.output<typeof cropOptionsSchema>;

/** Validates raw options (YAML or code); throws an `OptionsError` naming each bad path, e.g. `resized.scale.0`. */
export function parseCropOptions(raw: unknown = {}): CropOptions {
  return parseOptions(cropOptionsSchema, raw ?? {});
}

/** What one batch draws: per sample, the parameters of each configured op, or null where it was skipped. */
export interface CropDraw {
  resized?: (CropBox | null)[];
  padded?: ({ top: number; left: number } | null)[];
  affine?: (AffineParams | null)[];
}

/**
 * Draws from `rng`, op by op in the order resized, padded, affine: for each op, one uniform per
 * sample (is it applied, against its `p`), then the parameters of each applied sample in batch order.
 */
export function drawCrop(n: number, h: number, w: number, options: CropOptions, rng: CropRng): CropDraw {
  const draw: CropDraw = {};
  const chosen = (p: number) => Array.from({ length: n }, () => rng.uniform() < p);
  if (options.resized) {
    const { scale, ratio, p } = options.resized;
    draw.resized = chosen(p).map((on) => (on ? sampleResizedCrop(h, w, scale, ratio, rng) : null));
  }
  if (options.padded) {
    const { padding, p } = options.padded;
    draw.padded = chosen(p).map((on) => (on ? samplePaddedCrop(padding, rng) : null));
  }
  if (options.affine) {
    const ranges: AffineRanges = { degrees: options.affine.degrees, translate: options.affine.translate, scale: options.affine.scale, shear: options.affine.shear };
    draw.affine = chosen(options.affine.p).map((on) => (on ? sampleAffine(h, w, ranges, rng) : null));
  }
  return draw;
}

/**
 * Applies a draw to images [B, H, W, C]: resized crop (back to H x W), then padded crop, then the
 * affine map, each only where drawn (a skipped sample goes through the identity, which the sampler
 * reproduces exactly). Returns a new tensor.
 */
export function applyCrop(x: tf.Tensor4D, draw: CropDraw, options: Pick<CropOptions, 'padded' | 'fill'>): tf.Tensor4D {
  const [, h, w] = x.shape;
  let out = x;
  const step = (next: tf.Tensor4D) => {
    if (out !== x) out.dispose();
    out = next;
  };
  if (draw.resized?.some(Boolean)) step(resizedCrop(out, draw.resized.map((b) => b ?? { top: 0, left: 0, height: h, width: w })));
  if (draw.padded?.some(Boolean)) {
    const padding = options.padded?.padding ?? 0;
    step(paddedCrop(out, draw.padded.map((o) => o ?? { top: padding, left: padding }), padding, options.fill as Fill));
  }
  if (draw.affine?.some(Boolean)) step(affine(out, draw.affine.map((a) => a ?? IDENTITY_AFFINE), options.fill as Fill));
  return out === x ? x.clone() : out;
}

/**
 * Random crops and affine maps as a fermix plugin (torchvision's RandomResizedCrop, RandomCrop with
 * padding and RandomAffine, with bilinear sampling). Each sample gets its own parameters, drawn from
 * the run's generator; views of the main batch size share them (put `crop` before mixup or
 * mixaugment: then only `real` exists). Records `drawn.crop.resized`, `.padded` and `.affine`: per
 * sample the parameters, or null where the op was skipped.
 */
export function crop(options: CropOptionsInput = {}): FermixPlugin {
  const opts = parseCropOptions(options);
  return {
    name: 'crop',
    apiVersion: 1,
    transformBatch(batch: Batch, ctx: PluginContext): Batch {
      const names = Object.keys(batch.views);
      if (names.length === 0) return batch;
      const main = (batch.views.real ?? batch.views[names[0]]).x.shape;
      const draws = new Map<number, CropDraw>([[main[0], drawCrop(main[0], main[1], main[2], opts, ctx.rng)]]);
      const views: Record<string, View> = {};
      for (const name of names) {
        const view = batch.views[name];
        const [n, h, w] = view.x.shape;
        let draw = draws.get(n);
        if (!draw) draws.set(n, (draw = drawCrop(n, h, w, opts, ctx.rng)));
        views[name] = { ...view, x: applyCrop(view.x, draw, opts) };
      }
      for (const [key, value] of Object.entries(draws.get(main[0])!)) ctx.record(key, value);
      return { ...batch, views };
    },
  };
}

crop.parseOptions = parseCropOptions;
