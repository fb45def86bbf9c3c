export { areaLambda, boxArea, boxAt, sampleBox, EMPTY_BOX, type Box, type BoxRng } from './box.js';
export { boxMasks, cutmixBatch, pasteFromPartner, type Perm } from './cutmix.js';
export { drawMixCut, mixCutImages, mixCutView, recordedValues, type CutmixRng, type MixCutDraw, type MixCutOptions, type MixMode } from './draw.js';
export {
  cutmix,
  mixupCutmix,
  cutmixBatchDrawn,
  cutmixDrawOptions,
  parseCutmixOptions,
  parseMixupCutmixOptions,
  cutmixOptionsSchema,
  mixupCutmixOptionsSchema,
  type CutmixOptions,
  type CutmixOptionsInput,
  type MixupCutmixOptions,
  type MixupCutmixOptionsInput,
} from './plugin.js';
import { cutmix } from './plugin.js';
export default cutmix;
