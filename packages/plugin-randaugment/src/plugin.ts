import * as tf from '@tensorflow/tfjs-core';
import { parseOptions, z, type Batch, type FermixPlugin, type PluginContext, type Rng, type View } from '@fermix/core';
import { applyOps, fromUint8Scale, OP_NAMES, toUint8Scale, type OpName } from './ops.js';
import { augmentationSpace, NUM_BINS, type Space } from './space.js';

/** The options of `randaugment`, as written in YAML or code; every key is optional. */
export const randAugmentOptionsSchema = z
  .strictObject({
    /** `randaugment` (N ops at magnitude M, Cubuk et al. 2020) or `trivialaugment` (TrivialAugmentWide: one op, random magnitude). */
    policy: z.enum(['randaugment', 'trivialaugment']).default('randaugment'),
    /** N: ops applied in a row to each sample (RandAugment only, default 2; torchvision's `num_ops`). */
    ops: z.number().int().min(1).max(10).optional(),
    /** M: the magnitude bin, 0 to bins - 1 (RandAugment only, default 9; torchvision's `magnitude`). */
    magnitude: z.number().int().min(0).optional(),
    /** Number of magnitude bins (torchvision's `num_magnitude_bins`). */
    bins: z.number().int().min(2).max(256).default(NUM_BINS),
    /** Chance that a sample is augmented at all. */
    p: z.number().min(0).max(1).default(1),
  })
  .superRefine((o, ctx) => {
    if (o.policy === 'trivialaugment') {
      for (const key of ['ops', 'magnitude'] as const) {
        if (o[key] !== undefined) ctx.addIssue({ code: 'custom', path: [key], message: `no ${key} with policy trivialaugment (it applies one op at a random magnitude)`, input: o[key] });
      }
    }
    if (o.magnitude !== undefined && o.magnitude > o.bins - 1) {
      ctx.addIssue({ code: 'custom', path: ['magnitude'], message: `a magnitude bin from 0 to ${o.bins - 1} (bins: ${o.bins})`, input: o.magnitude });
    }
  });

/** torchvision's RandAugment defaults: N = 2 ops at magnitude bin M = 9. */
export const DEFAULT_OPS = 2;
export const DEFAULT_MAGNITUDE = 9;

export type RandAugmentOptionsInput = z.input<typeof randAugmentOptionsSchema>;
export type RandAugmentOptions = z.output<typeof randAugmentOptionsSchema>;

/** Validates raw options (YAML or code); throws an `OptionsError` naming each bad path, e.g. `magnitude`. */
export function parseRandAugmentOptions(raw: unknown = {}): RandAugmentOptions {
  return parseOptions(randAugmentOptionsSchema, raw ?? {});
}

/**
 * What one batch draws: per sample, whether it is augmented, and per op slot (N for RandAugment, 1
 * for TrivialAugmentWide) the op and its signed magnitude (Identity, 0 for a sample left alone).
 */
export interface RandAugmentDraw {
  applied: boolean[];
  /** ops[k][i]: the op of slot k for sample i. */
  ops: OpName[][];
  magnitudes: number[][];
}

/**
 * Draws from `rng`, as torchvision's forward does per image: a uniform against `p`; then per slot the
 * op (uniform over the 14), for TrivialAugmentWide its magnitude bin (uniform) when the op has one,
 * and a coin for the sign of a signed op. Sample by sample, slot by slot.
 */
export function drawRandAugment(n: number, space: Space, options: Pick<RandAugmentOptions, 'policy' | 'ops' | 'magnitude' | 'bins' | 'p'>, rng: Pick<Rng, 'uniform' | 'int'>): RandAugmentDraw {
  const slots = options.policy === 'randaugment' ? (options.ops ?? DEFAULT_OPS) : 1;
  const bin = options.magnitude ?? DEFAULT_MAGNITUDE;
  const draw: RandAugmentDraw = { applied: [], ops: Array.from({ length: slots }, () => []), magnitudes: Array.from({ length: slots }, () => []) };
  for (let i = 0; i < n; i++) {
    const on = rng.uniform() < options.p;
    draw.applied.push(on);
    for (let k = 0; k < slots; k++) {
      if (!on) {
        draw.ops[k].push('Identity');
        draw.magnitudes[k].push(0);
        continue;
      }
      const op = OP_NAMES[rng.int(OP_NAMES.length)];
      const { magnitudes, signed } = space[op];
      let m = 0;
      if (magnitudes.length > 1) m = options.policy === 'randaugment' ? magnitudes[bin] : magnitudes[rng.int(options.bins)];
      if (signed && rng.int(2) === 1) m = -m;
      draw.ops[k].push(op);
      draw.magnitudes[k].push(m);
    }
  }
  return draw;
}

/**
 * Applies a draw to images [B, H, W, 3] in [0, 1]: on the uint8 scale u = round(255 x), slot by slot
 * (`applyOps`), then back to [0, 1]. Samples left alone keep their exact pixels (not rounded).
 */
export function applyRandAugment(x: tf.Tensor4D, draw: RandAugmentDraw): tf.Tensor4D {
  return tf.tidy(() => {
    if (!draw.applied.some(Boolean)) return tf.clone(x);
    let u = toUint8Scale(x);
    for (let k = 0; k < draw.ops.length; k++) u = applyOps(u, draw.ops[k], draw.magnitudes[k]);
    const out = fromUint8Scale(u);
    if (draw.applied.every(Boolean)) return out;
    const m = tf.tensor4d(Float32Array.from(draw.applied, Number), [draw.applied.length, 1, 1, 1]);
    return tf.add(tf.mul(m, out), tf.mul(tf.sub(1, m), x)) as tf.Tensor4D;
  });
}

/**
 * RandAugment or TrivialAugmentWide as a fermix plugin, with torchvision's op set, magnitude bins and
 * uint8 arithmetic (nearest sampling, 0 fill). Each sample draws its own ops; views of the main batch
 * size share the draw. Records `drawn.randaugment.{applied, ops, magnitudes}`.
 */
export function randaugment(options: RandAugmentOptionsInput = {}): FermixPlugin {
  const opts = parseRandAugmentOptions(options);
  const spaces = new Map<string, Space>();
  const spaceFor = (h: number, w: number) => {
    const key = `${h}x${w}`;
    let s = spaces.get(key);
    if (!s) spaces.set(key, (s = augmentationSpace(opts.policy, h, w, opts.bins)));
    return s;
  };
  return {
    name: 'randaugment',
    apiVersion: 1,
    transformBatch(batch: Batch, ctx: PluginContext): Batch {
      const names = Object.keys(batch.views);
      if (names.length === 0) return batch;
      const main = (batch.views.real ?? batch.views[names[0]]).x.shape;
      const draws = new Map<number, RandAugmentDraw>([[main[0], drawRandAugment(main[0], spaceFor(main[1], main[2]), opts, ctx.rng)]]);
      const views: Record<string, View> = {};
      for (const name of names) {
        const view = batch.views[name];
        const [n, h, w] = view.x.shape;
        let draw = draws.get(n);
        if (!draw) draws.set(n, (draw = drawRandAugment(n, spaceFor(h, w), opts, ctx.rng)));
        views[name] = { ...view, x: applyRandAugment(view.x, draw) };
      }
      for (const [key, value] of Object.entries(draws.get(main[0])!)) ctx.record(key, value);
      return { ...batch, views };
    },
  };
}

randaugment.parseOptions = parseRandAugmentOptions;
