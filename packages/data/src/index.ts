/**
 * @fermix/data: fermix's data formats (image folder, RAF-DB, FER2013 CSV, AffectNet, synthetic
 * faces), decoding in worker threads, streaming from disk and five-point face alignment. The
 * interfaces they implement (DataSource, ImageSet, SplitData) are @fermix/core's.
 */
import { provideDataModule } from '@fermix/core';
import * as self from './index.js';

// @fermix/core's deprecated re-exports of the names that moved here use this instance (no second load).
provideDataModule(self);

export { dataFormats, registerDataFormats, type BuiltinDataOptions } from './formats.js';
export { isFileListSource, type FileListSource, type SplitFiles } from './source.js';
export { createImageFolderSource, type ImageFolderOptions } from './image-folder.js';
export { decodeImage, toRgbResized, type AlignTarget, type DecodedImage } from './decode.js';
export { allCoreWorkers, decodeFiles, type DecodeFilesOptions, type DecodeResult } from './decode-pool.js';
export { createSyntheticSource, renderSyntheticFace, type SyntheticOptions } from './synthetic.js';
export { createRafdbSource, parseRafdbLabels, rafdbImagePath, RAFDB_LABEL_FILE, type RafdbOptions, type RafdbEntry } from './rafdb.js';
export { createFer2013CsvSource, type Fer2013CsvOptions } from './fer2013-csv.js';
export { createAffectNetSource, cropImage, type AffectNetOptions, type FaceBox } from './affectnet.js';
export {
  canonicalExpression,
  canonicalFolderClasses,
  canonicalOrder,
  labelIndexTable,
  hasInventory,
  CONTEMPT,
  EXPRESSION_CLASSES_WITH_CONTEMPT,
  RAFDB_BASIC_LABELS,
  FER2013_LABELS,
  AFFECTNET_LABELS,
  type ExpressionName,
  type InventorySource,
  type SplitInventory,
  type OnMissing,
} from './labels.js';
export {
  alignFace,
  fivePointsFrom68,
  alignmentTemplate,
  applyTransform,
  invertTransform,
  similarityTransform,
  transformMatrix,
  transformResidual,
  transformScaleRotation,
  warpSimilarity,
  ALIGN_SIZES,
  ARCFACE_TEMPLATE_112,
  FIVE_POINT_NAMES,
  type AlignedFace,
  type AlignSize,
  type DetectedFace,
  type FivePoints,
  type LandmarkDetector,
  type Point2,
  type RgbImage,
  type SimilarityTransform,
  type WarpBorder,
} from './align.js';
export {
  alignFiles,
  alignImageFile,
  isAlignable,
  toRgbImage,
  type AlignableSource,
  type AlignConfig,
  type AlignFilesOptions,
  type AlignFailureKind,
  type AlignItem,
  type AlignOutcome,
  type AlignPlan,
} from './align-files.js';
export { parseRafdbLandmarks, rafdbAnnotationPath, rafdbOriginalPath, RAFDB_ANNOTATION_DIR, RAFDB_ORIGINAL_DIR } from './rafdb-annotations.js';
export { DecodePool, sharedDecodePool, type DecodePoolOptions, type DecoderChoice, type SharedDecodePool } from './decode-pool.js';
export { codecWith, type DecodeItem, type NativeDecode } from './decode.js';
export { loadSharp } from './sharp-decoder.js';
export { streamedSplit, defaultStreamWorkers, type StreamOptions } from './stream.js';
export { fileListSource, openSplit, streamable, type FileListSpec, type OpenSplitOptions } from './open-split.js';
