import * as tf from '@tensorflow/tfjs-core';
import { parseOptions, z, type Batch, type FermixPlugin, type PluginContext, type View } from '@fermix/core';
import { areaLambda, sampleBox, type Box } from './box.js';
import { cutmixBatch } from './cutmix.js';

/** The options of `cutmix`, as written in YAML or code; every key is optional. */
export const cutmixOptionsSchema = z.strictObject({
  /** lam ~ Beta(alpha, alpha) sets the box size; 1 (the paper's) makes lam uniform on [0, 1]. */
  alpha: z.number().positive().default(1),
  /** Probability that a batch is cut and mixed at all; the paper mixes every batch (1). */
  p: z.number().min(0).max(1).default(1),
});

export type CutmixOptionsInput = z.input<typeof cutmixOptionsSchema>;
export type CutmixOptions = z.output<typeof cutmixOptionsSchema>;

/** Validates raw options (YAML or code); throws an `OptionsError` naming each bad path, e.g. `alpha`. */
export function parseCutmixOptions(raw: unknown = {}): CutmixOptions {
  return parseOptions(cutmixOptionsSchema, raw ?? {});
}

/** What one step of the plugin draws. */
export interface CutmixDraw {
  /** False when the batch was left alone (probability 1 - p). */
  applied: boolean;
  /** The label weight actually used: 1 - area(box) / (H * W). */
  lam: number;
  box: Box;
  perm: number[];
}

/**
 * Draws from `rng`, in this order: a uniform for `p`; then (if applied) lam ~ Beta(alpha, alpha),
 * the pairing (a random permutation of the batch) and the box's centre (row, then column).
 */
export function drawCutmix(n: number, h: number, w: number, options: CutmixOptions, rng: PluginContext['rng']): CutmixDraw {
  if (!(rng.uniform() < options.p)) return { applied: false, lam: 1, box: { y0: 0, x0: 0, y1: 0, x1: 0 }, perm: Array.from({ length: n }, (_, i) => i) };
  const drawnLam = rng.beta(options.alpha, options.alpha);
  const perm = Array.from(rng.permutation(n));
  const box = sampleBox(h, w, drawnLam, rng);
  return { applied: true, lam: areaLambda(box, h, w), box, perm };
}

/** A per-sample weight follows its labels: w~ = lam w_i + (1 - lam) w_perm[i]. */
function mixWeight(weight: View['weight'], lam: number, perm: number[]): View['weight'] {
  if (typeof weight === 'number') return weight;
  return tf.tidy(() => tf.add(tf.mul(weight, lam), tf.mul(tf.gather(weight, tf.tensor1d(perm, 'int32')), 1 - lam)) as tf.Tensor1D);
}

/**
 * CutMix as a fermix plugin: each step (with probability `p`) replaces the batch's `real` view with
 * its CutMix, a box of each image replaced by the same box of its partner and the labels mixed by
 * area. Every draw comes from the run's generator; the step records `drawn.cutmix.{applied, lam,
 * box, perm}`.
 */
export function cutmix(options: CutmixOptionsInput = {}): FermixPlugin {
  const opts = parseCutmixOptions(options);
  return {
    name: 'cutmix',
    apiVersion: 1,
    conflicts: [
      { name: 'mixup', reason: 'both replace the real batch with mixed images; use one of them' },
      { name: 'mixaugment', reason: 'MixAugment trains on mixup\'s virtual samples next to the real ones; cutting boxes into the same batch would mix it twice' },
    ],
    transformBatch(batch: Batch, ctx: PluginContext): Batch {
      const real = batch.views.real;
      if (!real) throw new Error(`cutmix: the batch has no "real" view (views: ${Object.keys(batch.views).join(', ') || 'none'})`);
      const [n, h, w] = real.x.shape;
      const draw = drawCutmix(n, h, w, opts, ctx.rng);
      ctx.record('applied', draw.applied);
      ctx.record('lam', draw.lam);
      ctx.record('box', draw.box);
      ctx.record('perm', draw.perm);
      if (!draw.applied) return batch;
      const mixed = cutmixBatch(real.x, real.y, draw.box, draw.perm);
      const view: View = { ...real, x: mixed.x, y: mixed.y, weight: mixWeight(real.weight, mixed.lam, draw.perm) };
      return { ...batch, views: { ...batch.views, real: view } };
    },
  };
}

cutmix.parseOptions = parseCutmixOptions;
