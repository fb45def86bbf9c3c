import { parseOptions, z, type Batch, type FermixPlugin, type PluginContext, type View } from '@fermix/core';
import { flipBatch, sampleFlipMask } from './flip.js';

/** The options of `flip`, as written in YAML or code; every key is optional. */
export const flipOptionsSchema = z.strictObject({
  /** Probability that a sample is mirrored left-right, per sample and step. */
  p: z.number().min(0).max(1).default(0.5),
});

export type FlipOptionsInput = z.input<typeof flipOptionsSchema>;
export type FlipOptions = z.output<typeof flipOptionsSchema>;

/** Validates raw options (YAML or code); throws an `OptionsError` naming each bad path, e.g. `p`. */
export function parseFlipOptions(raw: unknown = {}): FlipOptions {
  return parseOptions(flipOptionsSchema, raw ?? {});
}

/**
 * Random horizontal flipping as a fermix plugin. Each step draws one mask from the run's generator
 * (each sample flipped with probability `p`) and mirrors the samples it selects.
 *
 * Views: every view present is flipped. Views with the batch size of `real` (or of the first view
 * when there is no `real`) share that one mask, so sample i is flipped alike in all of them; a view
 * with another batch size gets its own mask, drawn in view order. Targets, weights and groups are
 * left as they are. Put `flip` before `mixup`/`mixaugment` in the config (the paper's order): then
 * only `real` exists, and the mixes are made of the flipped images.
 *
 * Records `drawn.flip.flipped` (how many samples of the main mask were flipped) and
 * `drawn.flip.mask` (the main mask as 0/1 per sample).
 */
export function flip(options: FlipOptionsInput = {}): FermixPlugin {
  const { p } = parseFlipOptions(options);
  return {
    name: 'flip',
    apiVersion: 1,
    transformBatch(batch: Batch, ctx: PluginContext): Batch {
      const names = Object.keys(batch.views);
      if (names.length === 0) return batch;
      const mainSize = (batch.views.real ?? batch.views[names[0]]).x.shape[0];
      const masks = new Map<number, boolean[]>([[mainSize, sampleFlipMask(mainSize, p, ctx.rng)]]);
      const views: Record<string, View> = {};
      for (const name of names) {
        const view = batch.views[name];
        const size = view.x.shape[0];
        let mask = masks.get(size);
        if (!mask) masks.set(size, (mask = sampleFlipMask(size, p, ctx.rng)));
        // No sample to flip: keep the view's own tensor, no copy.
        views[name] = mask.some(Boolean) ? { ...view, x: flipBatch(view.x, mask) } : view;
      }
      const main = masks.get(mainSize)!;
      ctx.record('flipped', main.filter(Boolean).length);
      ctx.record('mask', main.map(Number));
      return { ...batch, views };
    },
  };
}

flip.parseOptions = parseFlipOptions;
