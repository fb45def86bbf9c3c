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
export { configSchema, DATA_KEYS, DEFAULT_MAX_PIXELS, COMMON_OPTIMIZER_KEYS, OPTIMIZER_KEYS, SCHEDULE_KEYS, type FermixConfig, type FermixConfigInput } from './config/schema.js';
export { CONFIG_SEARCH_PLACES, findConfigFile, loadConfig, locateInConfig, readConfigFile, validateConfig, type LoadConfigOptions } from './config/load.js';
export { ACCELERATOR_PACKAGE, BackendUnavailableError, selectBackend, type AcceleratorName, type BackendChoice, type BackendName, type SelectBackendOptions } from './backend/select.js';
export { describeDevice, type ComputeDevice, type DeviceDescription } from './backend/tensorflow.js';
export { availableCores, initWasmBackend, resolveThreads, splitCores, wasmBackendInfo, type ThreadsSetting, type WasmBackendInfo, type WasmBackendOptions } from './backend/wasm.js';
export { registerWasmTrainingKernels } from './backend/wasm-kernels.js';
export * from './checkpoint.js';
export * from './data/source.js';
export { budgetBytesOf, loadSplit, memorySplit, openSourceSplit, requireSplit, type SplitBatch, type SplitData } from './data/split.js';
export { encodeRgbPng } from './png.js';
export { categoricalCrossEntropy, weightedCrossEntropy, PROBABILITY_EPSILON } from './train/loss.js';
export { createTrainStep, forwardViews, type PlainBatch, type StepLosses, type TrainStep, type TrainStepOptions } from './train/step.js';
export { DivergenceError, divergenceMessage, likelyCause, nonFiniteVariables, type DivergenceDetail } from './train/divergence.js';
export { batchRanges, batchTensors, gatherBatch, identityOrder, scaleRows, type HostBatch } from './train/batches.js';
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
export { classCounts, balancedClassWeights, balancedOrder } from './data/balance.js';
export { evaluateSplit, recalibrateBatchNormSplit } from './train/evaluate.js';
export { encodePng, galleryOfBatch, sampleGallery, writeSampleGallery, type GalleryOptions, type GallerySample, type SampleGallery } from './train/samples.js';
// Deprecated: the names that moved to @fermix/data, loaded from it on first use (removed in the next minor version).
export * from './deprecated-data.js';
