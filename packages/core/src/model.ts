import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import type { FermixConfig } from './config/schema.js';
import { callHook } from './plugin-hooks.js';
import type { BackboneRegistry } from './registry.js';
import type { Rng } from './rng.js';
import type { FermixPlugin, ModelPlan, SetupContext } from './types.js';

/** The plan for a config's model before any plugin has changed it. */
export function basePlan(options: { backbone: string; imageSize: number; numClasses: number; backboneOptions?: Record<string, unknown> }): ModelPlan {
  return {
    backbone: options.backbone,
    inputShape: [options.imageSize, options.imageSize, 3],
    numClasses: options.numClasses,
    options: options.backboneOptions ?? {},
    afterBlock: [],
    beforePool: [],
    beforeHead: [],
  };
}

/** Lets each plugin's `transformModel` edit the plan, in config order. */
export function applyModelTransforms(plan: ModelPlan, plugins: FermixPlugin[], ctx: SetupContext): ModelPlan {
  let current = plan;
  for (const plugin of plugins) {
    if (!plugin.transformModel) continue;
    const given = current;
    current = callHook(plugin, 'transformModel', () => plugin.transformModel!(given, ctx)) ?? current;
  }
  return current;
}

function applyAll(x: tfl.SymbolicTensor, fns: ModelPlan['beforePool'], name: string): tfl.SymbolicTensor {
  return fns.reduce((acc, fn, index) => fn(acc, { index, name }), x);
}

/**
 * Builds the classifier: backbone features, `beforePool` layers, global average pooling,
 * `beforeHead` layers, and a dense softmax head named `predictions` (as in keras.applications).
 */
export function buildModel(plan: ModelPlan, backbones: BackboneRegistry): tfl.LayersModel {
  const backbone = backbones.get(plan.backbone);
  const [h, w] = plan.inputShape;
  if (Math.min(h, w) < backbone.minInputSize) {
    throw new Error(`backbone ${backbone.name} needs inputs of at least ${backbone.minInputSize}x${backbone.minInputSize}, got ${h}x${w}`);
  }
  const input = tfl.input({ shape: plan.inputShape, name: 'input' });
  let x = backbone.build(input, plan);
  x = applyAll(x, plan.beforePool, 'before_pool');
  x = tfl.layers.globalAveragePooling2d({ name: 'avg_pool' }).apply(x) as tfl.SymbolicTensor;
  x = applyAll(x, plan.beforeHead, 'before_head');
  const output = tfl.layers.dense({ units: plan.numClasses, activation: 'softmax', name: 'predictions' }).apply(x) as tfl.SymbolicTensor;
  return tfl.model({ inputs: input, outputs: output, name: plan.backbone });
}

/**
 * Draws every kernel from the run's generator (Glorot uniform, Keras' default), so the same seed
 * gives the same initial model. tfjs's own initializers draw from an unseeded source.
 */
export function initializeKernels(model: tfl.LayersModel, rng: Rng): void {
  for (const weight of model.weights) {
    if (!/kernel$/.test(weight.originalName ?? weight.name)) continue;
    const shape = weight.shape as number[];
    const receptive = shape.slice(0, -2).reduce((a, b) => a * b, 1);
    let fanIn = shape[shape.length - 2] * receptive;
    let fanOut = shape[shape.length - 1] * receptive;
    // A depthwise kernel [kh, kw, in, multiplier] mixes no channels: Keras counts in and out as such.
    if (/depthwise_kernel$/.test(weight.originalName ?? weight.name)) {
      fanIn = receptive * shape[shape.length - 1];
      fanOut = receptive * shape[shape.length - 1];
    }
    const limit = Math.sqrt(6 / (fanIn + fanOut));
    const size = shape.reduce((a, b) => a * b, 1);
    const values = new Float32Array(size);
    for (let i = 0; i < size; i++) values[i] = (2 * rng.uniform() - 1) * limit;
    const t = tf.tensor(values, shape);
    weight.write(t);
    t.dispose();
  }
}

/** The model a config describes, with every plugin's `transformModel` applied (kernels not yet seeded). */
export function buildModelForConfig(
  config: Pick<FermixConfig, 'model' | 'data'>,
  numClasses: number,
  plugins: FermixPlugin[],
  ctx: SetupContext,
  backbones: BackboneRegistry,
): tfl.LayersModel {
  const plan = applyModelTransforms(
    basePlan({ backbone: config.model.backbone, imageSize: config.data.imageSize, numClasses, backboneOptions: config.model.options }),
    plugins,
    ctx,
  );
  return buildModel(plan, backbones);
}
