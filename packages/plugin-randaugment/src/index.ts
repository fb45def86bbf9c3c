export { affineNearest, applyOps, autocontrast, brightness, contrast, equalize, fromUint8Scale, geometricParams, grayU8, posterize, saturation, sharpness, solarize, toUint8Scale, OP_NAMES, type OpName } from './ops.js';
export { augmentationSpace, NUM_BINS, type Policy, type Space } from './space.js';
export {
  randaugment,
  applyRandAugment,
  DEFAULT_MAGNITUDE,
  DEFAULT_OPS,
  drawRandAugment,
  parseRandAugmentOptions,
  randAugmentOptionsSchema,
  type RandAugmentDraw,
  type RandAugmentOptions,
  type RandAugmentOptionsInput,
} from './plugin.js';
import { randaugment } from './plugin.js';
export default randaugment;
