export { smoothTargets } from './smooth.js';
export { labelSmoothing, labelSmoothingOptionsSchema, parseLabelSmoothingOptions, type LabelSmoothingOptions, type LabelSmoothingOptionsInput } from './plugin.js';
import { labelSmoothing } from './plugin.js';
export default labelSmoothing;
