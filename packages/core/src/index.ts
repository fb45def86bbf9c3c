import 'reflect-metadata';

export * from './types.js';
export * from './rng.js';
export * from './logger.js';
export * from './metrics.js';
export * from './registry.js';
export * from './model.js';
export * from './container.js';
export * from './run-folder.js';
export { PluginError, type PluginHook } from './plugin-hooks.js';
export { ConfigError, OptionsError, formatPath, issuesFromZod, parseOptions, type ConfigIssue, type ConfigPath } from './config/errors.js';
export { configSchema, COMMON_OPTIMIZER_KEYS, OPTIMIZER_KEYS, SCHEDULE_KEYS, type FermixConfig, type FermixConfigInput } from './config/schema.js';
export { CONFIG_SEARCH_PLACES, findConfigFile, loadConfig, locateInConfig, readConfigFile, validateConfig, type LoadConfigOptions } from './config/load.js';
export { ACCELERATOR_PACKAGE, BackendUnavailableError, selectBackend, type AcceleratorName, type BackendChoice, type BackendName, type SelectBackendOptions } from './backend/select.js';
export { describeDevice, type ComputeDevice, type DeviceDescription } from './backend/tensorflow.js';
export { availableCores, initWasmBackend, resolveThreads, splitCores, wasmBackendInfo, type ThreadsSetting, type WasmBackendInfo, type WasmBackendOptions } from './backend/wasm.js';
export { registerWasmTrainingKernels } from './backend/wasm-kernels.js';
export * from './checkpoint.js';
export * from './data/source.js';
export { createImageFolderSource, type ImageFolderOptions } from './data/image-folder.js';
export { decodeImage, toRgbResized, DEFAULT_MAX_PIXELS, type DecodedImage } from './data/decode.js';
export { decodeFiles, type DecodeFilesOptions, type DecodeResult } from './data/decode-pool.js';
export { createSyntheticSource, renderSyntheticFace, type SyntheticOptions } from './data/synthetic.js';
export { categoricalCrossEntropy, weightedCrossEntropy, PROBABILITY_EPSILON } from './train/loss.js';
export { createTrainStep, forwardViews, type PlainBatch, type StepLosses, type TrainStep, type TrainStepOptions } from './train/step.js';
export { DivergenceError, divergenceMessage, likelyCause, nonFiniteVariables, type DivergenceDetail } from './train/divergence.js';
export { batchRanges, batchTensors, gatherBatch, identityOrder, type HostBatch } from './train/batches.js';
export { evaluateModel, predictProbabilities, predictSet, recalibrateBatchNorm, type PredictOptions, type TtaName } from './train/evaluate.js';
export { Adam, AdamW, FermixOptimizer, RMSprop, SGD, OPTIMIZER_NAMES, createOptimizer, decaysUnlessNormOrBias, setLearningRate, type OptimizerName, type OptimizerSettings } from './train/optimizers.js';
export {
  SCHEDULE_NAMES,
  createSchedule,
  cosineLr,
  exponentialLr,
  oneCycleLr,
  stepDecayLr,
  warmupStepsOf,
  type LrSchedule,
  type PlateauState,
  type ScheduleName,
  type ScheduleRun,
  type ScheduleSettings,
} from './train/schedules.js';
export { clipByGlobalNorm, globalNorm } from './train/clip.js';
export { createWeightEma, emaStep, type WeightEma } from './train/ema.js';
export { LOSS_READ_EVERY, Trainer, type EpochRecord, type ProgressEvent, type RunMetrics, type TrainerOptions, type TrainResult } from './train/trainer.js';
export { z } from 'zod';
export { loadPretrainedWeights, compareWeightLayers, type PretrainedWeightsReport, type LoadPretrainedWeightsOptions, type WeightLayerComparison } from './weights.js';
export { checkWeightsSetting, resolvePretrainedWeights, IMAGENET, type ResolveWeightsOptions } from './pretrained.js';
export { accumulatedGradients, accumulateGradients, microBatchRanges, type AccumulatedGradientTensors, type AccumulatedGradients, type AccumulatedGradientsOptions, type LossFromProbabilities, type MicroBatchSlice } from './train/micro-batch.js';
export { createRafdbSource, parseRafdbLabels, rafdbImagePath, RAFDB_LABEL_FILE, type RafdbOptions, type RafdbEntry } from './data/rafdb.js';
export { createFer2013CsvSource, type Fer2013CsvOptions } from './data/fer2013-csv.js';
export { createAffectNetSource, cropImage, type AffectNetOptions, type FaceBox } from './data/affectnet.js';
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
} from './data/labels.js';
export { classCounts, balancedClassWeights, balancedOrder } from './data/balance.js';
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
} from './data/align.js';
export {
  alignImageFile,
  isAlignable,
  toRgbImage,
  type AlignableSource,
  type AlignConfig,
  type AlignFailureKind,
  type AlignItem,
  type AlignOutcome,
  type AlignPlan,
} from './data/align-files.js';
export { parseRafdbLandmarks, rafdbAnnotationPath, rafdbOriginalPath, RAFDB_ANNOTATION_DIR, RAFDB_ORIGINAL_DIR } from './data/rafdb-annotations.js';
export { DecodePool, type DecodePoolOptions, type DecoderChoice } from './data/decode-pool.js';
export { codecWith, encodeRgbPng, type DecodeItem, type NativeDecode } from './data/decode.js';
export { loadSharp } from './data/sharp-decoder.js';
export { memorySplit, streamedSplit, defaultStreamWorkers, type SplitBatch, type SplitData, type StreamOptions } from './data/stream.js';
export { loadSplit, openSplit, budgetBytesOf, type OpenSplitOptions } from './data/open-split.js';
export { evaluateSplit, recalibrateBatchNormSplit } from './train/evaluate.js';
export { encodePng, galleryOfBatch, sampleGallery, writeSampleGallery, type GalleryOptions, type GallerySample, type SampleGallery } from './train/samples.js';
