export {
  dropout,
  dropoutLayer,
  dropoutLayerFns,
  dropoutOptionsSchema,
  dropoutPlacements,
  parseDropoutOptions,
  seedMasksFrom,
  spatialDropoutLayer,
  HEAD_DROPOUT,
  SPATIAL_DROPOUT,
  type DropoutOptions,
  type DropoutOptionsInput,
  type DropoutPlacement,
} from './plugin.js';
import { dropout } from './plugin.js';
export default dropout;
