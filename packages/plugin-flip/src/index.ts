export { flipBatch, sampleFlipMask, type FlipMask } from './flip.js';
export { flip, flipOptionsSchema, parseFlipOptions, type FlipOptions, type FlipOptionsInput } from './plugin.js';
import { flip } from './plugin.js';
export default flip;
