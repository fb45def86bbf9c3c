export { adjustBrightness, adjustContrast, adjustHue, adjustSaturation, grayscale, hsvToRgb, randomGrayscale, rgbToHsv, type Factors } from './ops.js';
export { color, applyColor, drawColor, parseColorOptions, colorOptionsSchema, JITTER_OPS, type ColorDraw, type ColorOptions, type ColorOptionsInput, type JitterOp } from './plugin.js';
import { color } from './plugin.js';
export default color;
