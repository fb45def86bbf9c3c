export { sampleBox, boxArea, areaLambda, type Box, type BoxRng } from './box.js';
export { cutmixBatch, boxMask, type Perm } from './cutmix.js';
export { cutmix, drawCutmix, parseCutmixOptions, cutmixOptionsSchema, type CutmixDraw, type CutmixOptions, type CutmixOptionsInput } from './plugin.js';
import { cutmix } from './plugin.js';
export default cutmix;
