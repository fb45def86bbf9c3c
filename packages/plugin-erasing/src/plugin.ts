import type * as tf from '@tensorflow/tfjs-core';
import { parseOptions, z, type Batch, type FermixPlugin, type PluginContext, type View } from '@fermix/core';
import { eraseBatch, sampleEraseBox, type EraseBox, type EraseRng, type EraseValue } from './erase.js';

/** The largest seed handed to `tf.randomNormal` for `value: random`. */
export const MAX_NOISE_SEED = 0x7fffffff;

const range = (what: string, item: z.ZodNumber) => z.tuple([item, item]).refine((r) => r[0] <= r[1], { message: `${what} as [min, max] with min <= max` });

/** The options of `erasing`, as written in YAML or code; every key is optional (torchvision's defaults). */
export const erasingOptionsSchema = z.strictObject({
  /** Chance that a sample gets a box erased. */
  p: z.number().min(0).max(1).default(0.5),
  /** Range of the box's area as a share of the image, in (0, 1). */
  scale: range('scale', z.number().gt(0).lt(1)).default([0.02, 0.33]),
  /** Range of the box's aspect ratio height / width, > 0. */
  ratio: range('ratio', z.number().positive()).default([0.3, 3.3]),
  /** What the box becomes: a value, [r, g, b], or `random` (N(0, 1) per pixel and channel, as torchvision's 'random'). */
  value: z.union([z.number(), z.tuple([z.number(), z.number(), z.number()]), z.literal('random')]).default(0),
});

export type ErasingOptionsInput = z.input<typeof erasingOptionsSchema>;
export type ErasingOptions = z.output<typeof erasingOptionsSchema>;

/** Validates raw options (YAML or code); throws an `OptionsError` naming each bad path, e.g. `scale[1]`. */
export function parseErasingOptions(raw: unknown = {}): ErasingOptions {
  return parseOptions(erasingOptionsSchema, raw ?? {});
}

/** What one batch draws: a box per sample (null: nothing erased), and the noise seed for `value: random`. */
export interface ErasingDraw {
  boxes: (EraseBox | null)[];
  seed?: number;
}

/**
 * Draws from `rng`: per sample, a uniform against `p` and, if chosen, torchvision's box (up to ten
 * tries); then, for `value: random` and at least one box, the seed of the noise field.
 */
export function drawErasing(n: number, h: number, w: number, options: ErasingOptions, rng: EraseRng): ErasingDraw {
  const boxes: (EraseBox | null)[] = [];
  for (let i = 0; i < n; i++) boxes.push(rng.uniform() < options.p ? sampleEraseBox(h, w, options.scale, options.ratio, rng) : null);
  const draw: ErasingDraw = { boxes };
  if (options.value === 'random' && boxes.some(Boolean)) draw.seed = 1 + rng.int(MAX_NOISE_SEED);
  return draw;
}

/** Applies a draw: the boxes erased with the options' value. Returns a new tensor. */
export function applyErasing(x: tf.Tensor4D, draw: ErasingDraw, value: EraseValue): tf.Tensor4D {
  return eraseBatch(x, draw.boxes, value, draw.seed ?? 1);
}

/**
 * Random erasing (Zhong et al. 2017; torchvision's RandomErasing, timm's RandomErasing with one box) as
 * a fermix plugin: each sample, with probability `p`, gets a box of area ~ U(scale) and aspect ratio
 * ~ exp(U(log ratio)) overwritten with `value`. Views of the main batch size share the draw; put it
 * before mixing plugins. Records `drawn.erasing.boxes` (per sample `{ top, left, height, width }` or
 * null) and `drawn.erasing.seed` for `value: random`.
 */
export function erasing(options: ErasingOptionsInput = {}): FermixPlugin {
  const opts = parseErasingOptions(options);
  return {
    name: 'erasing',
    apiVersion: 1,
    transformBatch(batch: Batch, ctx: PluginContext): Batch {
      const names = Object.keys(batch.views);
      if (names.length === 0) return batch;
      const main = (batch.views.real ?? batch.views[names[0]]).x.shape;
      const draws = new Map<number, ErasingDraw>([[main[0], drawErasing(main[0], main[1], main[2], opts, ctx.rng)]]);
      const views: Record<string, View> = {};
      for (const name of names) {
        const view = batch.views[name];
        const [n, h, w] = view.x.shape;
        let draw = draws.get(n);
        if (!draw) draws.set(n, (draw = drawErasing(n, h, w, opts, ctx.rng)));
        views[name] = draw.boxes.some(Boolean) ? { ...view, x: applyErasing(view.x, draw, opts.value) } : view;
      }
      const recorded = draws.get(main[0])!;
      ctx.record('boxes', recorded.boxes);
      if (recorded.seed !== undefined) ctx.record('seed', recorded.seed);
      return { ...batch, views };
    },
  };
}

erasing.parseOptions = parseErasingOptions;
