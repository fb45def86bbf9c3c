export { affineNearest, applyOps, autocontrast, brightness, contrast, equalize, fromUint8Scale, geometricParams, grayU8, posterize, saturation, sharpness, solarize, toUint8Scale, OP_NAMES, type OpName } from './ops.js';
export { augmentationSpace, NUM_BINS, type Policy, type Space } from './space.js';
