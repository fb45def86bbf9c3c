export { mixAugmentLoss, REAL_TERM_FACTOR, type MixAugmentWeights } from './loss.js';
export {
  mixaugment,
  mixAugmentBatch,
  mixAugmentViews,
  parseMixAugmentOptions,
  mixAugmentOptionsSchema,
  DEFAULT_FORWARD,
  DEFAULT_MIXUP_ALPHA,
  virtualMixDrawOptions,
  REAL_GROUP,
  VIRTUAL_GROUP,
  type ForwardMode,
  type VirtualMix,
  type MixAugmentOptions,
  type MixAugmentOptionsInput,
} from './plugin.js';
import { mixaugment } from './plugin.js';
export default mixaugment;
