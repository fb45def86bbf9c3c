export { sampleBeta, samplePairing, sampleLambda, drawMix, type LambdaMode, type Pairing, type MixDraw, type MixDrawOptions, type MixRng } from './sampling.js';
export { mixBatch, mixTensor, type Lambda, type Perm } from './mix.js';
export { mixup, mixupBatch, mixView, drawnValues, parseMixupOptions, mixupOptionsSchema, type MixupOptions, type MixupOptionsInput } from './plugin.js';
export { mixupDataset, type MappableDataset, type MixupDatasetOptions, type XYBatch } from './dataset.js';
import { mixup } from './plugin.js';
export default mixup;
