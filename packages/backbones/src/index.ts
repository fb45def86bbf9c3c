import type { BackboneDefinition, BackboneRegistry } from '@fermix/core';
import { densenet121 } from './densenet.js';
import { efficientnetb0 } from './efficientnet.js';
import { mobilenetv2 } from './mobilenet-v2.js';
import { resnet18, resnet50 } from './resnet.js';
import { smallCnn } from './small-cnn.js';
import { vgg16 } from './vgg16.js';

export { smallCnn, smallCnnDefaults, type SmallCnnOptions } from './small-cnn.js';
export { resnet50, resnet18, resnet18Defaults, bottleneckBlock, basicBlock, type ResNet18Options } from './resnet.js';
export { vgg16 } from './vgg16.js';
export { densenet121 } from './densenet.js';
export { efficientnetb0, efficientNetDefaults, type EfficientNetOptions } from './efficientnet.js';
export { mobilenetv2, mobileNetV2Defaults, makeDivisible, type MobileNetV2Options } from './mobilenet-v2.js';
export {
  ChannelAffine,
  Normalization,
  imagenetPreprocessing,
  CAFFE_MEAN_BGR,
  IMAGENET_MEAN_RGB,
  IMAGENET_STDDEV_RGB,
  type ChannelAffineArgs,
  type ImagenetPreprocessingMode,
  type NormalizationArgs,
} from './layers.js';
export { backboneOptions, noOptions, exposeBlock, correctPad } from './common.js';

/** Every backbone of this package. */
export const backbones: BackboneDefinition[] = [smallCnn, resnet18, mobilenetv2, resnet50, vgg16, densenet121, efficientnetb0];

/** Registers this package's backbones in a registry (the CLI does this for you). */
export function registerBackbones(registry: BackboneRegistry): BackboneRegistry {
  for (const b of backbones) registry.register(b);
  return registry;
}
