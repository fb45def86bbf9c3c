import * as tf from '@tensorflow/tfjs-core';
import { parseOptions, z, type Batch, type FermixPlugin, type PluginContext, type Rng, type View } from '@fermix/core';
import { adjustBrightness, adjustContrast, adjustHue, adjustSaturation, randomGrayscale } from './ops.js';

/** The jitter ops, numbered as torchvision's `ColorJitter` numbers them (`fn_idx`). */
export const JITTER_OPS = ['brightness', 'contrast', 'saturation', 'hue'] as const;
export type JitterOp = (typeof JITTER_OPS)[number];

/**
 * A factor range around 1: v >= 0 means [max(0, 1 - v), 1 + v]; or [min, max] with 0 <= min <= max.
 * As torchvision's `_check_input(value, name)`.
 */
const aroundOne = (what: string) =>
  z
    .union([z.number().min(0), z.tuple([z.number().min(0), z.number().min(0)])])
    .transform((v): [number, number] => (typeof v === 'number' ? [Math.max(0, 1 - v), 1 + v] : v))
    .refine((r) => r[0] <= r[1], { message: `${what} as v >= 0 or [min, max] with 0 <= min <= max` });

/** The options of `color`, as written in YAML or code. */
export const colorOptionsSchema = z
  .strictObject({
    /** Brightness factor range: b (for [1 - b, 1 + b]) or [min, max]; 0 is off. */
    brightness: aroundOne('brightness').default([1, 1]),
    /** Contrast factor range, as brightness. */
    contrast: aroundOne('contrast').default([1, 1]),
    /** Saturation factor range, as brightness. */
    saturation: aroundOne('saturation').default([1, 1]),
    /** Hue shift range: h in [0, 0.5] (for [-h, h]) or [min, max] within [-0.5, 0.5]; 0 is off. */
    hue: z
      .union([z.number().min(0).max(0.5), z.tuple([z.number().min(-0.5).max(0.5), z.number().min(-0.5).max(0.5)])])
      .transform((v): [number, number] => (typeof v === 'number' ? [-v, v] : v))
      .refine((r) => r[0] <= r[1], { message: 'hue as h in [0, 0.5] or [min, max] in [-0.5, 0.5] with min <= max' })
      .default([0, 0]),
    /** Chance that a sample is jittered at all (timm's `color_jitter_prob`; torchvision's RandomApply). */
    p: z.number().min(0).max(1).default(1),
    /** Chance that a sample is turned to grayscale (after the jitter; torchvision's RandomGrayscale p). */
    grayscale: z.number().min(0).max(1).default(0),
  })
  .refine((o) => !(isOff(o.brightness, 1) && isOff(o.contrast, 1) && isOff(o.saturation, 1) && isOff(o.hue, 0) && o.grayscale === 0), {
    message: 'at least one of brightness, contrast, saturation, hue or grayscale (all are off)',
  });

function isOff(range: readonly [number, number], centre: number): boolean {
  return range[0] === centre && range[1] === centre;
}

export type ColorOptionsInput = z.input<typeof colorOptionsSchema>;
export type ColorOptions = z.output<typeof colorOptionsSchema>;

/** Validates raw options (YAML or code); throws an `OptionsError` naming each bad path, e.g. `hue`. */
export function parseColorOptions(raw: unknown = {}): ColorOptions {
  return parseOptions(colorOptionsSchema, raw ?? {});
}

/**
 * What one batch draws. `order`: the jitter ops in the order they run (one order for the batch);
 * per sample, whether it was jittered, its four factors (the identity, 1 or 0, for an op that is off
 * or a sample not jittered) and whether it was turned to grayscale.
 */
export interface ColorDraw {
  order: JitterOp[];
  jittered: boolean[];
  brightness: number[];
  contrast: number[];
  saturation: number[];
  hue: number[];
  grayscale: boolean[];
}

/**
 * Draws from `rng`, in this order: a permutation of the four ops; per sample, a uniform against `p`
 * and, if jittered, a factor ~ U(range) for each op that is on (brightness, contrast, saturation,
 * hue, as torchvision's `get_params`); then one uniform per sample against `grayscale`.
 */
export function drawColor(n: number, options: ColorOptions, rng: Pick<Rng, 'uniform' | 'permutation'>): ColorDraw {
  const order = Array.from(rng.permutation(4), (k) => JITTER_OPS[k]);
  const draw: ColorDraw = { order, jittered: [], brightness: [], contrast: [], saturation: [], hue: [], grayscale: [] };
  const centre = { brightness: 1, contrast: 1, saturation: 1, hue: 0 };
  for (let i = 0; i < n; i++) {
    const on = rng.uniform() < options.p;
    draw.jittered.push(on);
    for (const op of JITTER_OPS) {
      const [lo, hi] = options[op];
      draw[op].push(on && !isOff(options[op], centre[op]) ? lo + (hi - lo) * rng.uniform() : centre[op]);
    }
  }
  for (let i = 0; i < n; i++) draw.grayscale.push(rng.uniform() < options.grayscale);
  return draw;
}

/**
 * Applies a draw to images [B, H, W, 3]: the jitter ops in `draw.order`, each with its per-sample
 * factors (skipped when every factor is the identity), then grayscale where drawn. A sample whose
 * hue factor is 0 keeps its pixels (the HSV round trip is not bit-exact, so it is not run on it).
 */
export function applyColor(x: tf.Tensor4D, draw: ColorDraw): tf.Tensor4D {
  return tf.tidy(() => {
    let out = x;
    for (const op of draw.order) {
      const f = draw[op];
      if (op === 'hue') {
        if (f.every((v) => v === 0)) continue;
        const changed = tf.tensor4d(Float32Array.from(f, (v) => (v === 0 ? 0 : 1)), [f.length, 1, 1, 1]);
        out = tf.add(tf.mul(changed, adjustHue(out, f)), tf.mul(tf.sub(1, changed), out)) as tf.Tensor4D;
        continue;
      }
      if (f.every((v) => v === 1)) continue;
      out = op === 'brightness' ? adjustBrightness(out, f) : op === 'contrast' ? adjustContrast(out, f) : adjustSaturation(out, f);
    }
    if (draw.grayscale.some(Boolean)) out = randomGrayscale(out, draw.grayscale);
    return out === x ? tf.clone(x) : out;
  });
}

/**
 * Colour jitter and random grayscale as a fermix plugin (torchvision's ColorJitter and
 * RandomGrayscale on tensors). Each sample gets its own factors; the order of the four ops is drawn
 * once per batch. Views of the main batch size share the draw. Records `drawn.color.{order,
 * jittered, brightness, contrast, saturation, hue, grayscale}`.
 */
export function color(options: ColorOptionsInput = {}): FermixPlugin {
  const opts = parseColorOptions(options);
  return {
    name: 'color',
    apiVersion: 1,
    transformBatch(batch: Batch, ctx: PluginContext): Batch {
      const names = Object.keys(batch.views);
      if (names.length === 0) return batch;
      const mainSize = (batch.views.real ?? batch.views[names[0]]).x.shape[0];
      const draws = new Map<number, ColorDraw>([[mainSize, drawColor(mainSize, opts, ctx.rng)]]);
      const views: Record<string, View> = {};
      for (const name of names) {
        const view = batch.views[name];
        const n = view.x.shape[0];
        let draw = draws.get(n);
        if (!draw) draws.set(n, (draw = drawColor(n, opts, ctx.rng)));
        views[name] = { ...view, x: applyColor(view.x, draw) };
      }
      for (const [key, value] of Object.entries(draws.get(mainSize)!)) ctx.record(key, value);
      return { ...batch, views };
    },
  };
}

color.parseOptions = parseColorOptions;
