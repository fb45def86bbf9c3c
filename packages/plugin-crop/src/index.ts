export { affineSample, bilinearSample, type Fill } from './sample.js';
export { affine, affineGrid, inverseAffineMatrix, paddedCrop, resizedCrop, IDENTITY_AFFINE, type AffineParams, type CropBox } from './geometry.js';
export { roundHalfEven, sampleAffine, samplePaddedCrop, sampleResizedCrop, type AffineRanges, type CropRng } from './params.js';
export {
  crop,
  applyCrop,
  drawCrop,
  parseCropOptions,
  cropOptionsSchema,
  resizedOptionsSchema,
  paddedOptionsSchema,
  affineOptionsSchema,
  type CropDraw,
  type CropOptions,
  type CropOptionsInput,
} from './plugin.js';
import { crop } from './plugin.js';
export default crop;
