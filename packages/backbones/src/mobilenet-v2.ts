/**
 * MobileNetV2 as `keras.applications.MobileNetV2` (mobilenet_v2.py: _inverted_res_block,
 * _make_divisible), with its width multiplier `alpha`. Names: `Conv1`, `bn_Conv1`, `Conv1_relu`,
 * `expanded_conv_*`, `block_1_expand`..`block_16_project_BN`, `Conv_1`, `Conv_1_bn`, `out_relu`.
 */
import * as tfl from '@tensorflow/tfjs-layers';
import { z, type BackboneDefinition } from '@fermix/core';
import { apply, backboneOptions, correctPad, exposeBlock, type Tensor } from './common.js';
import { imagenetPreprocessing } from './layers.js';

/** Keras' `_make_divisible`: rounds to a multiple of `divisor`, never more than 10% down. */
export function makeDivisible(v: number, divisor: number, minValue = divisor): number {
  let rounded = Math.max(minValue, Math.floor((v + divisor / 2) / divisor) * divisor);
  if (rounded < 0.9 * v) rounded += divisor;
  return rounded;
}

function bn(x: Tensor, name: string): Tensor {
  return apply(tfl.layers.batchNormalization({ axis: -1, epsilon: 1e-3, momentum: 0.999, name }), x);
}

function relu6(x: Tensor, name: string): Tensor {
  return apply(tfl.layers.reLU({ maxValue: 6, name }), x);
}

/** Keras' `_inverted_res_block`: 1x1 expand (not in block 0), 3x3 depthwise, 1x1 linear projection, residual add. */
function invertedResBlock(inputs: Tensor, expansion: number, stride: number, alpha: number, filters: number, blockId: number): Tensor {
  const inChannels = inputs.shape[inputs.shape.length - 1] as number;
  const pointwiseFilters = makeDivisible(Math.trunc(filters * alpha), 8);
  let x = inputs;
  let prefix = `block_${blockId}_`;
  if (blockId) {
    x = apply(tfl.layers.conv2d({ filters: expansion * inChannels, kernelSize: 1, padding: 'same', useBias: false, name: `${prefix}expand` }), x);
    x = bn(x, `${prefix}expand_BN`);
    x = relu6(x, `${prefix}expand_relu`);
  } else {
    prefix = 'expanded_conv_';
  }
  if (stride === 2) x = apply(tfl.layers.zeroPadding2d({ padding: correctPad(x, 3), name: `${prefix}pad` }), x);
  x = apply(
    tfl.layers.depthwiseConv2d({ kernelSize: 3, strides: stride, useBias: false, padding: stride === 1 ? 'same' : 'valid', name: `${prefix}depthwise` }),
    x,
  );
  x = bn(x, `${prefix}depthwise_BN`);
  x = relu6(x, `${prefix}depthwise_relu`);
  x = apply(tfl.layers.conv2d({ filters: pointwiseFilters, kernelSize: 1, padding: 'same', useBias: false, name: `${prefix}project` }), x);
  x = bn(x, `${prefix}project_BN`);
  if (inChannels === pointwiseFilters && stride === 1) return apply(tfl.layers.add({ name: `${prefix}add` }), [inputs, x]);
  return x;
}

/** The seven bottleneck stages: filters, expansion, repeats, stride of the first block. */
const STAGES: [number, number, number, number][] = [
  [16, 1, 1, 1],
  [24, 6, 2, 2],
  [32, 6, 3, 2],
  [64, 6, 4, 2],
  [96, 6, 3, 1],
  [160, 6, 3, 2],
  [320, 6, 1, 1],
];

export interface MobileNetV2Options {
  /** Width multiplier; Keras has ImageNet weights for 0.35, 0.5, 0.75, 1.0, 1.3 and 1.4. */
  alpha: number;
}

export const mobileNetV2Defaults: MobileNetV2Options = { alpha: 1.0 };

const mobileNetV2Options = backboneOptions<MobileNetV2Options>(z.strictObject({ alpha: z.number().positive().max(4).default(mobileNetV2Defaults.alpha) }));

/**
 * MobileNetV2 features: `tf`-mode preprocessing ([-1, 1]), `Conv1` (3x3/2), 17 inverted residual
 * blocks in seven stages `stage1`..`stage7` (each a block for `afterBlock`), `Conv_1` (1x1, 1280 or
 * 1280 x alpha when alpha > 1), `Conv_1_bn`, `out_relu`. 2,257,984 parameters at alpha 1, as Keras'
 * MobileNetV2(include_top=False).
 */
export const mobilenetv2: BackboneDefinition = {
  name: 'mobilenetv2',
  description: 'keras.applications MobileNetV2 (inverted residuals, ReLU6, [-1, 1] preprocessing inside; options: alpha)',
  minInputSize: 32,
  parseOptions: mobileNetV2Options.parse,
  build(input, plan) {
    const { alpha } = mobileNetV2Options.read(plan);
    let x = apply(imagenetPreprocessing('tf'), input);
    x = apply(tfl.layers.conv2d({ filters: makeDivisible(32 * alpha, 8), kernelSize: 3, strides: 2, padding: 'same', useBias: false, name: 'Conv1' }), x);
    x = bn(x, 'bn_Conv1');
    x = relu6(x, 'Conv1_relu');
    let blockId = 0;
    STAGES.forEach(([filters, expansion, repeats, stride], i) => {
      for (let r = 0; r < repeats; r++) {
        x = invertedResBlock(x, expansion, r === 0 ? stride : 1, alpha, filters, blockId++);
      }
      x = exposeBlock(plan, x, i, `stage${i + 1}`);
    });
    // No alpha on the last convolution unless alpha > 1 (as in the paper and Keras).
    const lastFilters = alpha > 1 ? makeDivisible(1280 * alpha, 8) : 1280;
    x = apply(tfl.layers.conv2d({ filters: lastFilters, kernelSize: 1, useBias: false, name: 'Conv_1' }), x);
    x = bn(x, 'Conv_1_bn');
    return relu6(x, 'out_relu');
  },
};
