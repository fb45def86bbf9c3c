import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { BackboneRegistry, basePlan, buildModel, type ModelPlan } from '@fermix/core';
import { registerBackbones } from '../src/index.js';

export const registry = registerBackbones(new BackboneRegistry());

export function plan(backbone: string, imageSize: number, extra: Partial<ModelPlan> = {}, numClasses = 7): ModelPlan {
  return { ...basePlan({ backbone, imageSize, numClasses }), ...extra };
}

/** The backbone alone: input -> last feature map, as Keras' include_top=False model. */
export function featureModel(backbone: string, imageSize: number, options: Record<string, unknown> = {}): tfl.LayersModel {
  const p = plan(backbone, imageSize, { options });
  const input = tfl.input({ shape: p.inputShape, name: 'input' });
  return tfl.model({ inputs: input, outputs: registry.get(backbone).build(input, p) });
}

/** The classifier the core builds: backbone, global average pooling, dense softmax `predictions`. */
export function classifier(backbone: string, imageSize: number, extra: Partial<ModelPlan> = {}, numClasses = 7): tfl.LayersModel {
  return buildModel(plan(backbone, imageSize, extra, numClasses), registry);
}

/** Images in [0, 1] from a fixed seed. */
export function images(n: number, size: number, seed = 1): tf.Tensor4D {
  return tf.randomUniform([n, size, size, 3], 0, 1, 'float32', seed) as tf.Tensor4D;
}

export function oneHot(n: number, classes = 7): tf.Tensor2D {
  return tf.tidy(() => tf.cast(tf.oneHot(tf.tensor1d(Array.from({ length: n }, (_, i) => i % classes), 'int32'), classes), 'float32') as tf.Tensor2D);
}

/** Row sums of a [B, K] probability tensor. */
export function rowSums(p: tf.Tensor): number[] {
  return tf.tidy(() => Array.from(tf.sum(p, 1).dataSync()));
}
