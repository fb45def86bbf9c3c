/**
 * ResNet50 as `keras.applications.ResNet50` (resnet.py: ResNet, residual_block_v1,
 * stack_residual_blocks_v1), layer for layer and name for name, and a ResNet18-style variant with
 * basic blocks named the same way.
 */
import * as tfl from '@tensorflow/tfjs-layers';
import { z, type BackboneDefinition } from '@fermix/core';
import { apply, backboneOptions, exposeBlock, noOptions, type Tensor } from './common.js';
import { imagenetPreprocessing } from './layers.js';

const BN_EPSILON = 1.001e-5;

function conv(x: Tensor, filters: number, kernelSize: number, name: string, opts: { strides?: number; padding?: 'same' | 'valid'; useBias?: boolean } = {}): Tensor {
  return apply(
    tfl.layers.conv2d({ filters, kernelSize, strides: opts.strides ?? 1, padding: opts.padding ?? 'valid', useBias: opts.useBias ?? true, name }),
    x,
  );
}

function bn(x: Tensor, name: string): Tensor {
  return apply(tfl.layers.batchNormalization({ axis: -1, epsilon: BN_EPSILON, name }), x);
}

function relu(x: Tensor, name: string): Tensor {
  return apply(tfl.layers.activation({ activation: 'relu', name }), x);
}

/** conv1 (7x7/2 after 3-pixel zero padding), batch norm, ReLU, then 3x3/2 max pooling: `conv1_*`, `pool1_*`. */
function stem(x: Tensor, filters: number, useBias: boolean): Tensor {
  x = apply(tfl.layers.zeroPadding2d({ padding: [[3, 3], [3, 3]], name: 'conv1_pad' }), x);
  x = conv(x, filters, 7, 'conv1_conv', { strides: 2, useBias });
  x = bn(x, 'conv1_bn');
  x = relu(x, 'conv1_relu');
  x = apply(tfl.layers.zeroPadding2d({ padding: [[1, 1], [1, 1]], name: 'pool1_pad' }), x);
  return apply(tfl.layers.maxPooling2d({ poolSize: 3, strides: 2, name: 'pool1_pool' }), x);
}

/** Keras' `residual_block_v1`: 1x1 -> 3x3 -> 1x1 (x4) bottleneck, projection shortcut `_0_` when asked. */
export function bottleneckBlock(x: Tensor, filters: number, name: string, opts: { stride?: number; convShortcut?: boolean } = {}): Tensor {
  const stride = opts.stride ?? 1;
  let shortcut = x;
  if (opts.convShortcut ?? true) {
    shortcut = conv(x, 4 * filters, 1, `${name}_0_conv`, { strides: stride });
    shortcut = bn(shortcut, `${name}_0_bn`);
  }
  x = conv(x, filters, 1, `${name}_1_conv`, { strides: stride });
  x = bn(x, `${name}_1_bn`);
  x = relu(x, `${name}_1_relu`);
  x = conv(x, filters, 3, `${name}_2_conv`, { padding: 'same' });
  x = bn(x, `${name}_2_bn`);
  x = relu(x, `${name}_2_relu`);
  x = conv(x, 4 * filters, 1, `${name}_3_conv`);
  x = bn(x, `${name}_3_bn`);
  x = apply(tfl.layers.add({ name: `${name}_add` }), [shortcut, x]);
  return relu(x, `${name}_out`);
}

/** Keras' `stack_residual_blocks_v1`: the first block projects (and strides), the others are identity blocks. */
function bottleneckStack(x: Tensor, filters: number, blocks: number, name: string, stride1 = 2): Tensor {
  x = bottleneckBlock(x, filters, `${name}_block1`, { stride: stride1 });
  for (let i = 2; i <= blocks; i++) x = bottleneckBlock(x, filters, `${name}_block${i}`, { convShortcut: false });
  return x;
}

/**
 * ResNet50 features: caffe preprocessing, `conv1`/`pool1`, stages `conv2`..`conv5` of 3, 4, 6, 3
 * bottleneck blocks, ending at `conv5_block3_out` (7x7x2048 at 224x224). Each stage is a block for
 * `afterBlock`. 23,587,712 parameters, as Keras' ResNet50(include_top=False).
 */
export const resnet50: BackboneDefinition = {
  name: 'resnet50',
  description: 'keras.applications ResNet50 (bottleneck blocks 3-4-6-3, caffe preprocessing inside; Keras ImageNet weights load by name)',
  minInputSize: 32,
  parseOptions: noOptions.parse,
  build(input, plan) {
    noOptions.read(plan);
    let x = apply(imagenetPreprocessing('caffe'), input);
    x = stem(x, 64, true);
    const stages: [number, number, number][] = [
      [64, 3, 1],
      [128, 4, 2],
      [256, 6, 2],
      [512, 3, 2],
    ];
    stages.forEach(([filters, blocks, stride], i) => {
      const name = `conv${i + 2}`;
      x = bottleneckStack(x, filters, blocks, name, stride);
      x = exposeBlock(plan, x, i, name);
    });
    return x;
  },
};

/**
 * A ResNet "basic block" (two 3x3 convolutions) named like Keras' ResNet blocks: `_1_conv`,
 * `_2_conv` and a projection shortcut `_0_conv` when the stride or the width changes.
 */
export function basicBlock(x: Tensor, filters: number, name: string, stride = 1): Tensor {
  const inChannels = x.shape[x.shape.length - 1];
  let shortcut = x;
  if (stride !== 1 || inChannels !== filters) {
    shortcut = conv(x, filters, 1, `${name}_0_conv`, { strides: stride, useBias: false });
    shortcut = bn(shortcut, `${name}_0_bn`);
  }
  x = conv(x, filters, 3, `${name}_1_conv`, { strides: stride, padding: 'same', useBias: false });
  x = bn(x, `${name}_1_bn`);
  x = relu(x, `${name}_1_relu`);
  x = conv(x, filters, 3, `${name}_2_conv`, { padding: 'same', useBias: false });
  x = bn(x, `${name}_2_bn`);
  x = apply(tfl.layers.add({ name: `${name}_add` }), [shortcut, x]);
  return relu(x, `${name}_out`);
}

export interface ResNet18Options {
  /** Filters of the four stages (the stem uses the first). */
  widths: number[];
  /** Basic blocks per stage. */
  blocks: number[];
}

export const resnet18Defaults: ResNet18Options = { widths: [64, 128, 256, 512], blocks: [2, 2, 2, 2] };

// The upper bounds only keep a typo from asking for gigabytes of weights.
const fourPositiveIntegers = (defaults: number[], max: number) => z.array(z.number().int().min(1).max(max)).length(4).default(defaults);

const resnet18Options = backboneOptions<ResNet18Options>(
  z.strictObject({ widths: fourPositiveIntegers(resnet18Defaults.widths, 4096), blocks: fourPositiveIntegers(resnet18Defaults.blocks, 64) }),
);

/**
 * ResNet18-style features (He et al. 2016, basic blocks 2-2-2-2) with Keras ResNet layer names;
 * no pretrained weights, no preprocessing (the stem's batch norm sees the [0, 1] input). About 11.2M
 * parameters with the defaults; `widths` scales it down for the CPU (e.g. [32, 64, 128, 256]).
 */
export const resnet18: BackboneDefinition = {
  name: 'resnet18',
  description: 'ResNet18-style: basic blocks 2-2-2-2 with Keras ResNet layer names (options: widths, blocks)',
  minInputSize: 32,
  parseOptions: resnet18Options.parse,
  build(input, plan) {
    const { widths, blocks } = resnet18Options.read(plan);
    let x = stem(input, widths[0], false);
    widths.forEach((filters, i) => {
      const name = `conv${i + 2}`;
      for (let b = 1; b <= blocks[i]; b++) {
        x = basicBlock(x, filters, `${name}_block${b}`, b === 1 && i > 0 ? 2 : 1);
      }
      x = exposeBlock(plan, x, i, name);
    });
    return x;
  },
};
