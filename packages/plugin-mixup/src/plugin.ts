import * as tf from '@tensorflow/tfjs-core';
import { parseOptions, z, type Batch, type FermixPlugin, type PluginContext, type View } from '@fermix/core';
import { mixBatch, mixTensor } from './mix.js';
import { drawMix, type MixDraw, type MixDrawOptions, type MixRng } from './sampling.js';

/** The options of `mixup`, as written in YAML or code; every key is optional. */
export const mixupOptionsSchema = z.strictObject({
  /** Beta(alpha, alpha) concentration; small alpha keeps lam near 0 or 1 (the paper tries 0.1-1). */
  alpha: z.number().positive().default(0.2),
  /** One lam per batch (Zhang et al., the paper) or one per sample (fastai). */
  lambda: z.enum(['batch', 'sample']).default('batch'),
  /** Sample i is mixed with perm[i]: a random permutation, or the batch reversed. */
  pairing: z.enum(['permutation', 'reverse']).default('permutation'),
});

export type MixupOptionsInput = z.input<typeof mixupOptionsSchema>;
export type MixupOptions = z.output<typeof mixupOptionsSchema>;

/** Validates raw options (YAML or code); throws an `OptionsError` naming each bad path, e.g. `alpha`. */
export function parseMixupOptions(raw: unknown = {}): MixupOptions {
  return parseOptions(mixupOptionsSchema, raw ?? {});
}

/** `lam` and `perm` as plain values for `ctx.record` and logs. */
export function drawnValues(draw: MixDraw): { lam: number | number[]; perm: number[] } {
  return { lam: draw.lam, perm: Array.from(draw.perm) };
}

/**
 * Mixes a view: images and targets, and per-sample weights when it has them (w~ = lam w_i + (1-lam) w_j,
 * so a class-weighted sample keeps its share of the mixed sample's loss). Keeps the view's group.
 */
export function mixView(view: View, draw: MixDraw): View {
  const mixed = mixBatch(view.x, view.y, draw.lam, draw.perm);
  const weight = typeof view.weight === 'number' ? view.weight : mixTensor(view.weight, draw.lam, draw.perm);
  return { ...view, x: mixed.x, y: mixed.y, weight };
}

/**
 * Draws lam and a pairing from `rng` and mixes a batch: for plain tfjs loops that want mixup without
 * fermix's step. Returns new tensors (yours to dispose) and what was drawn.
 */
export function mixupBatch(x: tf.Tensor4D, y: tf.Tensor2D, rng: MixRng, options: Partial<MixDrawOptions> = {}): { x: tf.Tensor4D; y: tf.Tensor2D } & MixDraw {
  const draw = drawMix(x.shape[0], { alpha: options.alpha ?? 0.2, lambda: options.lambda, pairing: options.pairing }, rng);
  return { ...mixBatch(x, y, draw.lam, draw.perm), ...draw };
}

function realView(batch: Batch, plugin: string): View {
  const real = batch.views.real;
  if (!real) throw new Error(`${plugin}: the batch has no "real" view (views: ${Object.keys(batch.views).join(', ') || 'none'})`);
  return real;
}

/**
 * Mixup as a fermix plugin: each step replaces the batch's `real` view with its mixup, so the network
 * sees only virtual samples (Zhang et al.; the paper's "Mixup"). Draws lam then the pairing from the
 * run's generator and records both (`drawn.mixup.lam`, `drawn.mixup.perm`).
 */
export function mixup(options: MixupOptionsInput = {}): FermixPlugin {
  const opts = parseMixupOptions(options);
  return {
    name: 'mixup',
    apiVersion: 1,
    conflicts: [
      {
        name: 'mixaugment',
        reason: 'MixAugment already trains on mixup\'s virtual samples (plus the real ones); with both, the batch would be mixed twice. Use mixaugment alone, or mixup alone for virtual samples only',
      },
    ],
    transformBatch(batch: Batch, ctx: PluginContext): Batch {
      const real = realView(batch, 'mixup');
      const draw = drawMix(real.x.shape[0], opts, ctx.rng);
      const { lam, perm } = drawnValues(draw);
      ctx.record('lam', lam);
      ctx.record('perm', perm);
      return { ...batch, views: { ...batch.views, real: mixView(real, draw) } };
    },
  };
}

mixup.parseOptions = parseMixupOptions;
