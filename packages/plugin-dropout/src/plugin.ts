import * as tfl from '@tensorflow/tfjs-layers';
import { parseOptions, z, type FermixPlugin, type LayerFn, type ModelPlan, type Rng } from '@fermix/core';

/** Where the dropout layers go. */
export const dropoutPlacements = ['head', 'spatial', 'blocks'] as const;
export type DropoutPlacement = (typeof dropoutPlacements)[number];

/** The options of `dropout`, as written in YAML or code; every key is optional. */
export const dropoutOptionsSchema = z.strictObject({
  /** Fraction of the units zeroed at each training step, in [0, 1) (the paper: 0.5 before the classifier). */
  rate: z.number().min(0).lt(1).default(0.5),
  /**
   * `head`: before the classifier, on the pooled features (the paper's). `spatial`: whole channels of
   * the last feature map, before the global pooling. `blocks`: after each block of the backbone.
   */
  placement: z.enum(dropoutPlacements).default('head'),
});

export type DropoutOptionsInput = z.input<typeof dropoutOptionsSchema>;
export type DropoutOptions = z.output<typeof dropoutOptionsSchema>;

/** Validates raw options (YAML or code); throws an `OptionsError` naming each bad path, e.g. `rate`. */
export function parseDropoutOptions(raw: unknown = {}): DropoutOptions {
  return parseOptions(dropoutOptionsSchema, raw ?? {});
}

/** Name of the layer `head`, `spatial` add; `blocks` names each `<block>_dropout` (block1_dropout, ...). */
export const HEAD_DROPOUT = 'head_dropout';
export const SPATIAL_DROPOUT = 'spatial_dropout';

/**
 * Plain dropout: zeroes each unit with probability `rate` and scales the rest by 1 / (1 - rate),
 * in training only (`model.apply(x, { training: true })`, which is what fermix's step does); the
 * identity in `model.predict` and evaluation. No seed is passed here on purpose: a tfjs dropout layer
 * built with a seed draws the same mask on every call (`seedMasksFrom` gives it a new one per call).
 */
export function dropoutLayer(rate: number, name: string): tfl.layers.Layer {
  return tfl.layers.dropout({ rate, name });
}

/**
 * Spatial dropout (Tompson et al. 2015, Keras' SpatialDropout2D) for NHWC feature maps: drops whole
 * channels, one draw per sample and channel. tfjs-layers 4.22 has no spatialDropout2d, so this is its
 * `Dropout` with `noiseShape` [null, 1, 1, null] (null = the input's size, resolved per call): the
 * mask is [B, 1, 1, C] and broadcast over height and width. It serialises as a plain `Dropout`, so a
 * saved model loads with stock tfjs, no custom class to register.
 */
export function spatialDropoutLayer(rate: number, name: string): tfl.layers.Layer {
  // DropoutLayerArgs types noiseShape as number[]; tfjs replaces null entries with the input's sizes.
  return tfl.layers.dropout({ rate, name, noiseShape: [null, 1, 1, null] as unknown as number[] });
}

/**
 * Makes a dropout layer draw each training call's mask from `rng`: before the call it sets the
 * layer's seed to the generator's next value (tfjs then draws `randomUniform(shape, seed)`), so a
 * new mask per call, and the same sequence of masks for the same generator. fermix passes the run's
 * plugin generator, which checkpoints keep: a seeded run repeats itself, and a resumed run draws
 * the masks the uninterrupted one would have. The seed is left out of the saved config, so a loaded
 * model (stock tfjs, plain `Dropout`) draws unseeded masks if trained further.
 */
export function seedMasksFrom(layer: tfl.layers.Layer, rng: Rng): tfl.layers.Layer {
  const target = layer as unknown as { seed?: number };
  const call = layer.call.bind(layer);
  layer.call = (inputs, kwargs) => {
    if (kwargs?.training) target.seed = rng.nextUint32();
    return call(inputs, kwargs);
  };
  const getConfig = layer.getConfig.bind(layer);
  layer.getConfig = () => {
    const config = getConfig();
    delete config.seed;
    return config;
  };
  return layer;
}

const apply = (layer: tfl.layers.Layer, x: tfl.SymbolicTensor, rng?: Rng) => (rng ? seedMasksFrom(layer, rng) : layer).apply(x) as tfl.SymbolicTensor;

/**
 * The layer functions a placement adds to a plan. With `rng`, each layer draws its masks from it
 * (see `seedMasksFrom`); without, tfjs' own unseeded masks.
 */
export function dropoutLayerFns(options: DropoutOptions, rng?: Rng): Pick<ModelPlan, 'afterBlock' | 'beforePool' | 'beforeHead'> {
  const none = { afterBlock: [], beforePool: [], beforeHead: [] };
  const { rate, placement } = options;
  switch (placement) {
    case 'head': {
      const fn: LayerFn = (x) => apply(dropoutLayer(rate, HEAD_DROPOUT), x, rng);
      return { ...none, beforeHead: [fn] };
    }
    case 'spatial': {
      const fn: LayerFn = (x) => apply(spatialDropoutLayer(rate, SPATIAL_DROPOUT), x, rng);
      return { ...none, beforePool: [fn] };
    }
    case 'blocks': {
      const fn: LayerFn = (x, info) => apply(dropoutLayer(rate, `${info.name}_dropout`), x, rng);
      return { ...none, afterBlock: [fn] };
    }
  }
}

/**
 * Dropout as a fermix plugin: `transformModel` adds dropout layers to the model plan (appended after
 * the layers other plugins placed at the same spot):
 *
 * - `head` (default, the paper's): `head_dropout` on the pooled features, right before the dense
 *   softmax `predictions` (`plan.beforeHead`).
 * - `spatial`: `spatial_dropout`, channel-wise dropout on the last feature map, right before the
 *   global average pooling (`plan.beforePool`).
 * - `blocks`: `<block>_dropout` (`block1_dropout`, `block2_dropout`, ...) after each block the
 *   backbone exposes through `plan.afterBlock`; a backbone that exposes none gets none.
 *
 * Active in training only. `rate: 0` leaves the model as it is. The layers have no weights, so a
 * model with dropout has the same weights, in the same order, as one without. Use one `dropout`
 * entry per placement (two with the same placement would give two layers of the same name); entries
 * with different placements combine.
 */
export function dropout(options: DropoutOptionsInput = {}): FermixPlugin {
  const opts = parseDropoutOptions(options);
  return {
    name: 'dropout',
    apiVersion: 1,
    transformModel(plan: ModelPlan, ctx?: { rng?: Rng }): ModelPlan {
      if (opts.rate === 0) return plan;
      // Masks from the run's plugin generator: seeded, and restored with it on --resume.
      const add = dropoutLayerFns(opts, ctx?.rng);
      return {
        ...plan,
        afterBlock: [...plan.afterBlock, ...add.afterBlock],
        beforePool: [...plan.beforePool, ...add.beforePool],
        beforeHead: [...plan.beforeHead, ...add.beforeHead],
      };
    },
  };
}

dropout.parseOptions = parseDropoutOptions;
