import { parseOptions, z, type Batch, type FermixPlugin } from '@fermix/core';
import { smoothTargets } from './smooth.js';

/** The options of `label-smoothing`, as written in YAML or code. */
export const labelSmoothingOptionsSchema = z.strictObject({
  /** Share of each target spread evenly over the K classes; 0.1 is the usual choice (timm, torchvision recipes). */
  epsilon: z.number().min(0).lt(1).default(0.1),
});

export type LabelSmoothingOptionsInput = z.input<typeof labelSmoothingOptionsSchema>;
export type LabelSmoothingOptions = z.output<typeof labelSmoothingOptionsSchema>;

/** Validates raw options (YAML or code); throws an `OptionsError` naming each bad path, e.g. `epsilon`. */
export function parseLabelSmoothingOptions(raw: unknown = {}): LabelSmoothingOptions {
  return parseOptions(labelSmoothingOptionsSchema, raw ?? {});
}

/**
 * Label smoothing as a fermix plugin: every view's targets become (1 - epsilon) y + epsilon / K.
 *
 * With mixup or mixaugment the result is timm's: targets smoothed, then mixed
 * (lam s(y_i) + (1 - lam) s(y_j)), wherever this plugin sits in the list. Smoothing is affine and
 * mixing is a convex combination, so smoothing the mixed targets gives the same numbers as mixing
 * the smoothed ones; the tests check both orders against timm's `mixup_target`.
 */
export function labelSmoothing(options: LabelSmoothingOptionsInput = {}): FermixPlugin {
  const { epsilon } = parseLabelSmoothingOptions(options);
  return {
    name: 'label-smoothing',
    apiVersion: 1,
    transformBatch(batch: Batch): Batch {
      if (epsilon === 0) return batch;
      const views = Object.fromEntries(Object.entries(batch.views).map(([name, view]) => [name, { ...view, y: smoothTargets(view.y, epsilon) }]));
      return { ...batch, views };
    },
  };
}

labelSmoothing.parseOptions = parseLabelSmoothingOptions;
