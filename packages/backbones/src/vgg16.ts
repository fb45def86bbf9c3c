/** VGG16 as `keras.applications.VGG16` (vgg16.py), without the fully connected top. */
import * as tfl from '@tensorflow/tfjs-layers';
import type { BackboneDefinition } from '@fermix/core';
import { apply, exposeBlock, noOptions, type Tensor } from './common.js';
import { imagenetPreprocessing } from './layers.js';

/** Filters and 3x3 convolutions of the five blocks. */
const BLOCKS: [number, number][] = [
  [64, 2],
  [128, 2],
  [256, 3],
  [512, 3],
  [512, 3],
];

/** `blockN_conv1..k` (3x3, same, ReLU) then `blockN_pool` (2x2/2 max pooling). */
function vggBlock(x: Tensor, block: number, filters: number, convs: number): Tensor {
  for (let c = 1; c <= convs; c++) {
    x = apply(tfl.layers.conv2d({ filters, kernelSize: 3, padding: 'same', activation: 'relu', name: `block${block}_conv${c}` }), x);
  }
  return apply(tfl.layers.maxPooling2d({ poolSize: 2, strides: 2, name: `block${block}_pool` }), x);
}

/**
 * VGG16 features: caffe preprocessing, then `block1`..`block5` (each a block for `afterBlock`),
 * ending at `block5_pool`. 14,714,688 parameters, as Keras' VGG16(include_top=False).
 */
export const vgg16: BackboneDefinition = {
  name: 'vgg16',
  description: 'keras.applications VGG16 (13 3x3 convolutions, caffe preprocessing inside; Keras ImageNet weights load by name)',
  minInputSize: 32,
  parseOptions: noOptions.parse,
  build(input, plan) {
    noOptions.read(plan);
    let x = apply(imagenetPreprocessing('caffe'), input);
    BLOCKS.forEach(([filters, convs], i) => {
      x = vggBlock(x, i + 1, filters, convs);
      x = exposeBlock(plan, x, i, `block${i + 1}`);
    });
    return x;
  },
};
