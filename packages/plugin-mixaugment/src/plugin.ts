import * as tf from '@tensorflow/tfjs-core';
import { parseOptions, z, type Batch, type FermixPlugin, type PluginContext, type View } from '@fermix/core';
import { drawMix, drawnValues, mixBatch, mixView, type MixDraw, type MixDrawOptions, type MixRng } from '@fermix/plugin-mixup';
import { drawMixCut, mixCutView, recordedValues, type MixCutDraw, type MixCutOptions } from '@fermix/plugin-cutmix';
import { REAL_TERM_FACTOR } from './loss.js';

/**
 * How the real and the virtual samples go through the network:
 *
 * - `separate`: two forward passes of B samples (views in groups `real` and `virtual`). Batch norm
 *   normalises the real samples with the real batch's statistics and the virtual ones with theirs, as
 *   if x_i, x_j and x~ had each been forwarded on their own: the loss and gradients are the paper's
 *   three-pass ones exactly, in training mode too (a pass over x_j = x[perm] has the same statistics
 *   as one over x). Each batch-norm layer updates its moving averages twice per step.
 * - `joint`: one forward pass of 2B samples, real and virtual concatenated. Batch norm normalises both
 *   with their joint statistics (real and mixed images pooled), so in training mode the real samples
 *   see statistics that differ from those of real data alone; one moving-average update per step.
 *
 * Without batch norm, or with batch norm in inference mode, both compute the same loss and gradients.
 */
export type ForwardMode = 'joint' | 'separate';

/**
 * The default forward mode. Measured with bench/forward-modes.ts (wasm, batch 32, 48x48 conv net with
 * batch norm): separate was never slower than joint (median step ratio 0.89-0.99 over three runs), and
 * it is exactly the paper's three-pass loss in training mode too; see the README.
 */
export const DEFAULT_FORWARD: ForwardMode = 'separate';

/** The group names of the views in `separate` mode. */
export const REAL_GROUP = 'real';
export const VIRTUAL_GROUP = 'virtual';

const weight = (what: string) => z.number().min(0, { message: `a number >= 0 (the weight of the ${what} terms)` });

/** How the virtual sample x~ is made from x_i and x_j: mixup (the paper), CutMix, or timm's switch. */
export type VirtualMix = 'mixup' | 'cutmix' | 'mixup-cutmix';

/** The default alpha of `mix: mixup`, the paper's best MixAugment setting. */
export const DEFAULT_MIXUP_ALPHA = 0.1;

/** The options of `mixaugment`, as written in YAML or code; every key is optional. */
export const mixAugmentOptionsSchema = z
  .strictObject({
    /**
     * How x~ is made: `mixup` (the paper), `cutmix` (a box of x_j pasted into x_i, labels by area) or
     * `mixup-cutmix` (CutMix with probability `switchProb`, otherwise mixup).
     */
    mix: z.enum(['mixup', 'cutmix', 'mixup-cutmix']).default('mixup'),
    /**
     * Beta(alpha, alpha) of lam: mixup's for `mixup` (default 0.1, the paper's best) and `mixup-cutmix`,
     * CutMix's for `cutmix`. Required with `cutmix` and `mixup-cutmix`: 0.1 suits mixup, not CutMix.
     */
    alpha: z.number().positive().optional(),
    /** Beta(a, a) of CutMix's lam with `mix: mixup-cutmix` (required there, refused elsewhere). */
    cutmixAlpha: z.number().positive().optional(),
    /** Chance of CutMix rather than mixup with `mix: mixup-cutmix` (timm's switch_prob). */
    switchProb: z.number().min(0).max(1).optional(),
    /** One lam (and box, and switch) per batch (the paper) or one per sample. */
    lambda: z.enum(['batch', 'sample']).default('batch'),
    /** x_j = x[perm]: a random permutation, or the batch reversed. Both are permutations, as the loss needs. */
    pairing: z.enum(['permutation', 'reverse']).default('permutation'),
    /** Weight of the two real terms CCE(y_i, p(x_i)) + CCE(y_j, p(x_j)); 1 is the paper's loss. */
    realWeight: weight('real').default(1),
    /** Weight of the virtual term CCE(y~, p(x~)); 1 is the paper's loss. */
    virtualWeight: weight('virtual').default(1),
    /** `separate` (two passes of B) or `joint` (one pass of 2B); they differ only through batch norm. */
    forward: z.enum(['separate', 'joint']).default(DEFAULT_FORWARD),
  })
  .superRefine((o, ctx) => {
    if (!(o.realWeight > 0 || o.virtualWeight > 0)) {
      ctx.addIssue({ code: 'custom', path: ['virtualWeight'], message: 'realWeight or virtualWeight > 0 (both are 0: nothing to train on)', input: o.virtualWeight });
    }
    if (o.mix !== 'mixup' && o.alpha === undefined) {
      const what = o.mix === 'cutmix' ? "CutMix's lam ~ Beta(alpha, alpha); 1 is CutMix's paper" : "mixup's lam ~ Beta(alpha, alpha), e.g. 0.8";
      ctx.addIssue({ code: 'custom', path: ['alpha'], message: `an alpha with mix: ${o.mix} (${what})`, input: undefined });
    }
    if (o.mix === 'mixup-cutmix' && o.cutmixAlpha === undefined) {
      ctx.addIssue({ code: 'custom', path: ['cutmixAlpha'], message: "a cutmixAlpha with mix: mixup-cutmix (CutMix's lam ~ Beta(a, a), e.g. 1)", input: undefined });
    }
    for (const key of ['cutmixAlpha', 'switchProb'] as const) {
      if (o.mix !== 'mixup-cutmix' && o[key] !== undefined) {
        ctx.addIssue({ code: 'custom', path: [key], message: `no ${key} unless mix is mixup-cutmix (mix is ${o.mix})`, input: o[key] });
      }
    }
  })
  .transform((o) => ({ ...o, alpha: o.alpha ?? DEFAULT_MIXUP_ALPHA }));

export type MixAugmentOptionsInput = z.input<typeof mixAugmentOptionsSchema>;
export type MixAugmentOptions = z.output<typeof mixAugmentOptionsSchema>;

/** Validates raw options (YAML or code); throws an `OptionsError` naming each bad path, e.g. `alpha`. */
export function parseMixAugmentOptions(raw: unknown = {}): MixAugmentOptions {
  return parseOptions(mixAugmentOptionsSchema, raw ?? {});
}

function scaleWeight(w: number | tf.Tensor1D, factor: number): number | tf.Tensor1D {
  if (factor === 1) return w;
  return typeof w === 'number' ? w * factor : (tf.mul(w, factor) as tf.Tensor1D);
}

/** A copy of a view in `group` (no group key when undefined: the default group, shared with other views). */
function inGroup(view: View, group: string | undefined): View {
  const { group: _old, ...rest } = view;
  return group === undefined ? rest : { ...rest, group };
}

/**
 * The two views MixAugment trains on, from a batch's real view and a draw: `real` (the batch, weight
 * 2 * realWeight, see `REAL_TERM_FACTOR`) and `virtual` (its mixup, or its CutMix for a draw of
 * `drawMixCut`, weight virtualWeight), grouped for the forward mode. A view whose weight is 0 is left
 * out (no wasted forward pass). The real terms do not depend on how x~ is made, so the factor 2 holds
 * for CutMix as for mixup: perm is a permutation either way.
 */
export function mixAugmentViews(real: View, draw: MixDraw | MixCutDraw, options: Pick<MixAugmentOptions, 'realWeight' | 'virtualWeight' | 'forward'>): { real?: View; virtual?: View } {
  const separate = options.forward === 'separate';
  const out: { real?: View; virtual?: View } = {};
  if (options.realWeight > 0) {
    out.real = inGroup({ ...real, weight: scaleWeight(real.weight, REAL_TERM_FACTOR * options.realWeight) }, separate ? (real.group ?? REAL_GROUP) : real.group);
  }
  if (options.virtualWeight > 0) {
    const mixed = 'cut' in draw ? mixCutView(real, draw) : mixView(real, draw);
    out.virtual = inGroup({ ...mixed, weight: scaleWeight(mixed.weight, options.virtualWeight) }, separate ? VIRTUAL_GROUP : real.group);
  }
  return out;
}

/**
 * For a plain tfjs loop: draws lam and the pairing from `rng` and returns the virtual batch
 * x~ = lam x + (1-lam) x[perm], y~ likewise (new tensors, yours to dispose) with what was drawn. Forward
 * x and x~ and pass both outputs to `mixAugmentLoss`.
 */
export function mixAugmentBatch(x: tf.Tensor4D, y: tf.Tensor2D, rng: MixRng, options: Partial<MixDrawOptions> = {}): { virtual: { x: tf.Tensor4D; y: tf.Tensor2D } } & MixDraw {
  const draw = drawMix(x.shape[0], { alpha: options.alpha ?? 0.1, lambda: options.lambda, pairing: options.pairing }, rng);
  return { virtual: mixBatch(x, y, draw.lam, draw.perm), ...draw };
}

/** The draw options of `mix: cutmix` or `mix: mixup-cutmix`. */
export function virtualMixDrawOptions(o: MixAugmentOptions): MixCutOptions {
  const common = { mode: o.lambda, pairing: o.pairing };
  if (o.mix === 'cutmix') return { ...common, cutmixAlpha: o.alpha };
  if (o.mix === 'mixup-cutmix') return { ...common, mixupAlpha: o.alpha, cutmixAlpha: o.cutmixAlpha, switchProb: o.switchProb ?? 0.5 };
  throw new Error(`mixaugment: mix ${o.mix} is not drawn by drawMixCut`);
}

/**
 * MixAugment (Psaroudakis and Kollias 2022) as a fermix plugin: each step keeps the batch's `real`
 * view and adds its mixup as a `virtual` view, so the loss is the paper's
 * CCE(y~, p(x~)) + CCE(y_i, p(x_i)) + CCE(y_j, p(x_j)) with two forward views instead of three.
 * Draws lam then the pairing from the run's generator and records both
 * (`drawn.mixaugment.lam`, `drawn.mixaugment.perm`). With `mix: cutmix` or `mix: mixup-cutmix` the
 * virtual sample is made by `@fermix/plugin-cutmix` and the step also records `cut` and `box`.
 */
export function mixaugment(options: MixAugmentOptionsInput = {}): FermixPlugin {
  const opts = parseMixAugmentOptions(options);
  return {
    name: 'mixaugment',
    apiVersion: 1,
    conflicts: [
      {
        name: 'mixup',
        reason: "MixAugment already contains mixup's virtual samples; adding mixup would mix the batch twice (and replace the real samples MixAugment keeps). Use mixaugment alone, or mixup alone",
      },
    ],
    transformBatch(batch: Batch, ctx: PluginContext): Batch {
      const real = batch.views.real;
      if (!real) throw new Error(`mixaugment: the batch has no "real" view (views: ${Object.keys(batch.views).join(', ') || 'none'})`);
      if (batch.views.virtual) throw new Error('mixaugment: the batch already has a "virtual" view (is another mixing plugin configured?)');
      let draw: MixDraw | MixCutDraw;
      if (opts.mix === 'mixup') {
        draw = drawMix(real.x.shape[0], opts, ctx.rng);
        const { lam, perm } = drawnValues(draw);
        ctx.record('lam', lam);
        ctx.record('perm', perm);
      } else {
        const [n, h, w] = real.x.shape;
        const cutDraw = drawMixCut(n, h, w, virtualMixDrawOptions(opts), ctx.rng);
        for (const [key, value] of Object.entries(recordedValues(cutDraw))) ctx.record(key, value);
        draw = cutDraw;
      }
      const views: Batch['views'] = {};
      // Same view order as before, with real (if kept) and virtual where real was.
      for (const [name, view] of Object.entries(batch.views)) {
        if (name === 'real') Object.assign(views, mixAugmentViews(real, draw, opts));
        else views[name] = view;
      }
      return { ...batch, views };
    },
  };
}

mixaugment.parseOptions = parseMixAugmentOptions;
