export { readKerasWeights, type KerasLayer, type KerasWeight, type KerasWeightsFile } from './keras.js';
export { WeightsFileError } from './hdf5.js';
export { imagenetWeightsFile, IMAGENET_BACKBONES, MOBILENETV2_ALPHAS, MOBILENETV2_ROWS, type ImagenetOptions, type WeightsFileSpec } from './imagenet.js';
export { fetchWeightsFile, hashFile, type DownloadProgress, type FetchWeightsOptions, type WeightsLogger } from './download.js';
export { weightsCacheDir, kerasCacheDir, BASE_URL_ENV } from './cache.js';
export { kerasLayerList, type KerasLayerList } from './layer-lists.js';
