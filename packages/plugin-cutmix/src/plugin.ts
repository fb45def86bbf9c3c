import type * as tf from '@tensorflow/tfjs-core';
import { parseOptions, z, type Batch, type FermixPlugin, type PluginContext } from '@fermix/core';
import { drawMixCut, mixCutView, recordedValues, type CutmixRng, type MixCutDraw, type MixCutOptions } from './draw.js';

const mode = z.enum(['batch', 'sample']);
const pairing = z.enum(['permutation', 'reverse']);
const probability = z.number().min(0).max(1);

/** The options of `cutmix`, as written in YAML or code; every key is optional. */
export const cutmixOptionsSchema = z.strictObject({
  /** lam ~ Beta(alpha, alpha) sets the box size (area 1 - lam); 1 (the paper's) makes lam uniform. */
  alpha: z.number().positive().default(1),
  /** Chance that a batch (or a sample, in `sample` mode) is cut and mixed at all (timm's `prob`). */
  prob: probability.default(1),
  /** One box for the batch (the paper, timm's `batch`) or one box and lam per sample (timm's `elem`). */
  mode: mode.default('batch'),
  /** Sample i gets its box from perm[i]: a random permutation, or the batch reversed (timm's flip). */
  pairing: pairing.default('permutation'),
});

/** The options of `mixup-cutmix`: timm's `Mixup` with both methods on; every key is optional. */
export const mixupCutmixOptionsSchema = z.strictObject({
  /** Beta(a, a) of mixup's lam (timm's `mixup_alpha`; 0.8 in the DeiT recipe). */
  mixupAlpha: z.number().positive().default(0.8),
  /** Beta(a, a) of CutMix's lam (timm's `cutmix_alpha`; 1 in the DeiT recipe). */
  cutmixAlpha: z.number().positive().default(1),
  /** Chance of CutMix rather than mixup for each decision (timm's `switch_prob`). */
  switchProb: probability.default(0.5),
  /** Chance that a batch (or sample) is mixed at all (timm's `prob`). */
  prob: probability.default(1),
  /** One decision (method, lam, box) for the batch, or one per sample. */
  mode: mode.default('batch'),
  pairing: pairing.default('permutation'),
});

export type CutmixOptionsInput = z.input<typeof cutmixOptionsSchema>;
export type CutmixOptions = z.output<typeof cutmixOptionsSchema>;
export type MixupCutmixOptionsInput = z.input<typeof mixupCutmixOptionsSchema>;
export type MixupCutmixOptions = z.output<typeof mixupCutmixOptionsSchema>;

/** Validates raw options (YAML or code); throws an `OptionsError` naming each bad path, e.g. `alpha`. */
export function parseCutmixOptions(raw: unknown = {}): CutmixOptions {
  return parseOptions(cutmixOptionsSchema, raw ?? {});
}

/** Validates raw options of `mixup-cutmix`; throws an `OptionsError` naming each bad path. */
export function parseMixupCutmixOptions(raw: unknown = {}): MixupCutmixOptions {
  return parseOptions(mixupCutmixOptionsSchema, raw ?? {});
}

/** The draw options of the `cutmix` plugin's options. */
export function cutmixDrawOptions(o: CutmixOptions): MixCutOptions {
  return { cutmixAlpha: o.alpha, prob: o.prob, mode: o.mode, pairing: o.pairing };
}

/**
 * For a plain tfjs loop: draws (from `rng`) and applies CutMix, or the mixup-cutmix switch when
 * `options` turns both on. Returns new tensors (yours to dispose) and the draw.
 */
export function cutmixBatchDrawn(x: tf.Tensor4D, y: tf.Tensor2D, rng: CutmixRng, options: MixCutOptions = { cutmixAlpha: 1 }): { x: tf.Tensor4D; y: tf.Tensor2D; draw: MixCutDraw } {
  const [n, h, w] = x.shape;
  const draw = drawMixCut(n, h, w, options, rng);
  const view = mixCutView({ x, y, weight: 1 }, draw);
  return { x: view.x, y: view.y, draw };
}

function mixingPlugin(name: string, draws: MixCutOptions, conflicts: FermixPlugin['conflicts']): FermixPlugin {
  return {
    name,
    apiVersion: 1,
    conflicts,
    transformBatch(batch: Batch, ctx: PluginContext): Batch {
      const real = batch.views.real;
      if (!real) throw new Error(`${name}: the batch has no "real" view (views: ${Object.keys(batch.views).join(', ') || 'none'})`);
      const [n, h, w] = real.x.shape;
      const draw = drawMixCut(n, h, w, draws, ctx.rng);
      for (const [key, value] of Object.entries(recordedValues(draw))) ctx.record(key, value);
      return { ...batch, views: { ...batch.views, real: mixCutView(real, draw) } };
    },
  };
}

const TWICE = 'would mix the batch a second time';

/**
 * CutMix (Yun et al. 2019) as a fermix plugin: each step replaces the batch's `real` view with its
 * CutMix, a box of each image replaced by the same box of its partner and the labels mixed by the
 * area actually pasted. Records `drawn.cutmix.{lam, cut, box, perm}`.
 */
export function cutmix(options: CutmixOptionsInput = {}): FermixPlugin {
  return mixingPlugin('cutmix', cutmixDrawOptions(parseCutmixOptions(options)), [
    { name: 'mixup', reason: `both replace the real batch with mixed images; use one of them, or mixup-cutmix to switch between them` },
    { name: 'mixup-cutmix', reason: `mixup-cutmix already does CutMix; cutmix ${TWICE}` },
    { name: 'mixaugment', reason: `use mixaugment: { mix: cutmix } for MixAugment with CutMix; cutmix next to it ${TWICE}` },
  ]);
}

/**
 * timm's mixup-cutmix switch as a fermix plugin: each decision (per batch or per sample) is mixed
 * with probability `prob`, by CutMix with probability `switchProb`, otherwise by mixup. Records
 * `drawn['mixup-cutmix'].{lam, cut, box, perm}`.
 */
export function mixupCutmix(options: MixupCutmixOptionsInput = {}): FermixPlugin {
  const o = parseMixupCutmixOptions(options);
  return mixingPlugin('mixup-cutmix', { mixupAlpha: o.mixupAlpha, cutmixAlpha: o.cutmixAlpha, switchProb: o.switchProb, prob: o.prob, mode: o.mode, pairing: o.pairing }, [
    { name: 'mixup', reason: `mixup-cutmix already does mixup; mixup ${TWICE}` },
    { name: 'mixaugment', reason: `use mixaugment: { mix: mixup-cutmix } for MixAugment with the switch; both ${TWICE}` },
  ]);
}

cutmix.parseOptions = parseCutmixOptions;
mixupCutmix.parseOptions = parseMixupCutmixOptions;
