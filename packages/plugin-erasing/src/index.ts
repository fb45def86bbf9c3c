export { eraseBatch, eraseMasks, sampleEraseBox, type EraseBox, type EraseRng, type EraseValue } from './erase.js';
export { erasing, applyErasing, drawErasing, parseErasingOptions, erasingOptionsSchema, MAX_NOISE_SEED, type ErasingDraw, type ErasingOptions, type ErasingOptionsInput } from './plugin.js';
import { erasing } from './plugin.js';
export default erasing;
