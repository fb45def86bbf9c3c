export { bilinearSample, type Fill } from './sample.js';
export { affine, inverseAffineMatrix, paddedCrop, resizedCrop, IDENTITY_AFFINE, type AffineParams, type CropBox } from './geometry.js';
