/**
 * Helpers shared by the backbones: applying layers, exposing blocks to `plan.afterBlock`, reading
 * `model.options` with zod schemas, and Keras' `correct_pad`.
 */
import * as tfl from '@tensorflow/tfjs-layers';
import { OptionsError, parseOptions, z, type ModelPlan } from '@fermix/core';

export type Tensor = tfl.SymbolicTensor;

/** Applies a layer to one symbolic tensor (or a list, for merge layers). */
export function apply(layer: tfl.layers.Layer, x: Tensor | Tensor[]): Tensor {
  return layer.apply(x) as Tensor;
}

/** Runs the plan's `afterBlock` layer functions on a block's output (the block's index and name). */
export function exposeBlock(plan: ModelPlan, x: Tensor, index: number, name: string): Tensor {
  return plan.afterBlock.reduce((acc, fn) => fn(acc, { index, name }), x);
}

/** Height and width of a symbolic NHWC tensor (null when unknown). */
export function spatialSize(x: Tensor): [number | null, number | null] {
  return [x.shape[1] ?? null, x.shape[2] ?? null];
}

/**
 * Keras' `imagenet_utils.correct_pad`: the zero padding that, followed by a `valid` convolution of
 * stride 2, matches TensorFlow's `same` padding on an input of this size.
 */
export function correctPad(x: Tensor, kernelSize: number): [[number, number], [number, number]] {
  const [h, w] = spatialSize(x);
  const adjust = [h === null ? 1 : 1 - (h % 2), w === null ? 1 : 1 - (w % 2)];
  const correct = Math.floor(kernelSize / 2);
  return [
    [correct - adjust[0], correct],
    [correct - adjust[1], correct],
  ];
}

/**
 * A backbone's options, from a zod schema (as small-cnn's): `parse` validates the raw
 * `model.options` and is the definition's `parseOptions` (the CLI and the trainer call it before
 * anything starts, and name the YAML path); `read` does the same inside `build`, with the paths of
 * its errors prefixed by `model.options`.
 */
export function backboneOptions<T>(schema: z.ZodType<T>): { parse(raw: unknown): T; read(plan: ModelPlan): T } {
  const parse = (raw: unknown): T => parseOptions(schema, raw ?? {});
  return {
    parse,
    read(plan) {
      try {
        return parse(plan.options);
      } catch (err) {
        if (err instanceof OptionsError || (err as Error)?.name === 'OptionsError') {
          throw new OptionsError((err as OptionsError).issues.map((i) => ({ ...i, path: ['model', 'options', ...i.path] })));
        }
        throw err;
      }
    },
  };
}

/** The options of a backbone that takes none: any key is an error. */
export const noOptions = backboneOptions(z.strictObject({}));
