import { parseOptions, z, type Batch, type FermixPlugin, type PluginContext } from '@fermix/core';
import { addNoise, drawNoise } from './noise.js';

/** The options of `noise`, as written in YAML or code; every key is optional. */
export const noiseOptionsSchema = z.strictObject({
  /** Standard deviation of the noise, in pixel units of [0, 1] images (0.05 is about 13 grey levels). */
  sigma: z.number().positive().max(1).default(0.05),
  /** Probability that a sample gets noise, per sample and step. */
  p: z.number().min(0).max(1).default(0.5),
});

export type NoiseOptionsInput = z.input<typeof noiseOptionsSchema>;
export type NoiseOptions = z.output<typeof noiseOptionsSchema>;

/** Validates raw options (YAML or code); throws an `OptionsError` naming each bad path, e.g. `sigma`. */
export function parseNoiseOptions(raw: unknown = {}): NoiseOptions {
  return parseOptions(noiseOptionsSchema, raw ?? {});
}

/**
 * Gaussian pixel noise as a fermix plugin: each step, each sample of the `real` view gets noise of
 * standard deviation `sigma` with probability `p` (camera sensor noise, JPEG-like grain). Every
 * draw comes from the run's generator; the step records `drawn.noise.mask` (0/1 per sample) and
 * `drawn.noise.seed` (the seed of the noise field). Labels, weights and other views are left alone.
 */
export function noise(options: NoiseOptionsInput = {}): FermixPlugin {
  const { sigma, p } = parseNoiseOptions(options);
  return {
    name: 'noise',
    apiVersion: 1,
    transformBatch(batch: Batch, ctx: PluginContext): Batch {
      const real = batch.views.real;
      if (!real) throw new Error(`noise: the batch has no "real" view (views: ${Object.keys(batch.views).join(', ') || 'none'})`);
      const draw = drawNoise(real.x.shape[0], p, ctx.rng);
      ctx.record('mask', draw.mask.map(Number));
      ctx.record('seed', draw.seed);
      if (!draw.mask.some(Boolean)) return batch;
      return { ...batch, views: { ...batch.views, real: { ...real, x: addNoise(real.x, sigma, draw.mask, draw.seed) } } };
    },
  };
}

noise.parseOptions = parseNoiseOptions;
