export { addNoise, drawNoise, MAX_NOISE_SEED, type NoiseDraw, type NoiseRng } from './noise.js';
export { noise, parseNoiseOptions, noiseOptionsSchema, type NoiseOptions, type NoiseOptionsInput } from './plugin.js';
import { noise } from './plugin.js';
export default noise;
