/**
 * DenseNet121 as `keras.applications.DenseNet121` (densenet.py: dense_block, transition_block,
 * conv_block). Layer names follow tf.keras / tf_keras (Keras 2), whose HDF5 files
 * tensorflowjs_converter reads: the stem is `conv1/conv`, `conv1/bn`, `conv1/relu` (Keras 3 spells
 * them `conv1_conv`...; `loadPretrainedWeights` matches either).
 */
import * as tfl from '@tensorflow/tfjs-layers';
import type { BackboneDefinition } from '@fermix/core';
import { apply, exposeBlock, noOptions, type Tensor } from './common.js';
import { imagenetPreprocessing } from './layers.js';

const BN_EPSILON = 1.001e-5;
const GROWTH_RATE = 32;

function bn(x: Tensor, name: string): Tensor {
  return apply(tfl.layers.batchNormalization({ axis: -1, epsilon: BN_EPSILON, name }), x);
}

function relu(x: Tensor, name: string): Tensor {
  return apply(tfl.layers.activation({ activation: 'relu', name }), x);
}

function conv(x: Tensor, filters: number, kernelSize: number, name: string, opts: { strides?: number; padding?: 'same' | 'valid' } = {}): Tensor {
  return apply(tfl.layers.conv2d({ filters, kernelSize, strides: opts.strides ?? 1, padding: opts.padding ?? 'valid', useBias: false, name }), x);
}

/** Keras' `conv_block`: BN-ReLU-1x1 conv (4k) -BN-ReLU-3x3 conv (k), concatenated to the input. */
function convBlock(x: Tensor, growthRate: number, name: string): Tensor {
  let x1 = bn(x, `${name}_0_bn`);
  x1 = relu(x1, `${name}_0_relu`);
  x1 = conv(x1, 4 * growthRate, 1, `${name}_1_conv`);
  x1 = bn(x1, `${name}_1_bn`);
  x1 = relu(x1, `${name}_1_relu`);
  x1 = conv(x1, growthRate, 3, `${name}_2_conv`, { padding: 'same' });
  return apply(tfl.layers.concatenate({ axis: -1, name: `${name}_concat` }), [x, x1]);
}

/** Keras' `dense_block`: `blocks` conv blocks `<name>_block1..n`. */
function denseBlock(x: Tensor, blocks: number, name: string): Tensor {
  for (let i = 1; i <= blocks; i++) x = convBlock(x, GROWTH_RATE, `${name}_block${i}`);
  return x;
}

/** Keras' `transition_block`: BN-ReLU-1x1 conv (channels x reduction) -2x2 average pooling. */
function transitionBlock(x: Tensor, reduction: number, name: string): Tensor {
  x = bn(x, `${name}_bn`);
  x = relu(x, `${name}_relu`);
  const channels = x.shape[x.shape.length - 1] as number;
  x = conv(x, Math.floor(channels * reduction), 1, `${name}_conv`);
  return apply(tfl.layers.averagePooling2d({ poolSize: 2, strides: 2, name: `${name}_pool` }), x);
}

/**
 * DenseNet121 features: torch preprocessing, the stem, dense blocks `conv2`..`conv5` of 6, 12, 24,
 * 16 conv blocks with transitions `pool2`..`pool4`, then `bn` and `relu`. Each dense block with its
 * transition (the last with `bn`/`relu`) is a block for `afterBlock`, named `conv2`..`conv5`.
 * 7,037,504 parameters, as Keras' DenseNet121(include_top=False).
 */
export const densenet121: BackboneDefinition = {
  name: 'densenet121',
  description: 'keras.applications DenseNet121 (dense blocks 6-12-24-16, torch preprocessing inside; Keras ImageNet weights load by name)',
  minInputSize: 32,
  parseOptions: noOptions.parse,
  build(input, plan) {
    noOptions.read(plan);
    let x = apply(imagenetPreprocessing('torch'), input);
    x = apply(tfl.layers.zeroPadding2d({ padding: [[3, 3], [3, 3]], name: 'zero_padding2d' }), x);
    x = conv(x, 64, 7, 'conv1/conv', { strides: 2 });
    x = bn(x, 'conv1/bn');
    x = relu(x, 'conv1/relu');
    x = apply(tfl.layers.zeroPadding2d({ padding: [[1, 1], [1, 1]], name: 'zero_padding2d_1' }), x);
    x = apply(tfl.layers.maxPooling2d({ poolSize: 3, strides: 2, name: 'pool1' }), x);
    const blocks = [6, 12, 24, 16];
    blocks.forEach((n, i) => {
      const name = `conv${i + 2}`;
      x = denseBlock(x, n, name);
      if (i < blocks.length - 1) {
        x = transitionBlock(x, 0.5, `pool${i + 2}`);
      } else {
        x = bn(x, 'bn');
        x = relu(x, 'relu');
      }
      x = exposeBlock(plan, x, i, name);
    });
    return x;
  },
};
