import type * as tf from '@tensorflow/tfjs-core';
import type { SymbolicTensor } from '@tensorflow/tfjs-layers';
import type { Container } from 'inversify';
import type { Logger } from './logger.js';
import type { Rng } from './rng.js';

/** The plugin API version this core implements. A plugin declares the version it was written for. */
export const PLUGIN_API_VERSION = 1;
export const SUPPORTED_PLUGIN_API_VERSIONS: readonly number[] = [1];

/**
 * One view of a batch: images, soft or one-hot targets, and the weight of its loss term.
 * `x` is [B, H, W, C] in [0, 1]; `y` is [B, K] and each row sums to 1; `weight` is a scalar for the
 * whole term or a [B] vector of per-sample weights (the term is mean(weight_i * CCE_i)).
 */
export interface View {
  x: tf.Tensor4D;
  y: tf.Tensor2D;
  weight: number | tf.Tensor1D;
  /**
   * Views of the same group go through the model in one forward pass (batch norm sees them as one
   * batch); each group gets its own pass. Default `main`: all views together.
   */
  group?: string;
}

/** A batch is a set of named views; the data source yields one view, `real`. */
export interface Batch {
  views: Record<string, View>;
}

/** One weighted loss term per view, by view name; `composeLoss` may add, drop or reweight terms. */
export type LossTerms = Record<string, tf.Scalar>;

/** What every hook receives. */
export interface PluginContext {
  /** Global step, counted from 0 over the whole run. */
  step: number;
  /** Epoch, counted from 0. */
  epoch: number;
  /** The run's seeded generator: draw every random choice from it. */
  rng: Rng;
  logger: Logger;
  container: Container;
  /** Reports a value the plugin drew this step (lam, a permutation, a flip mask...). */
  record(key: string, value: unknown): void;
}

/** A function that adds layers to a model under construction. */
export type LayerFn = (x: SymbolicTensor, info: { index: number; name: string }) => SymbolicTensor;

/**
 * What a model is built from. A backbone turns the input into a feature map, calling `afterBlock`
 * after each block it exposes; the core adds `beforePool`, global average pooling, `beforeHead` and a
 * dense softmax classifier named `predictions`. `transformModel` hooks edit this plan.
 */
export interface ModelPlan {
  backbone: string;
  inputShape: [number, number, number];
  numClasses: number;
  /** Options for the backbone, from `model.options` in the config. */
  options: Record<string, unknown>;
  afterBlock: LayerFn[];
  beforePool: LayerFn[];
  beforeHead: LayerFn[];
}

export interface StepResult {
  /** The total loss that was optimised. */
  loss: number;
  /** Each loss term by name, after `composeLoss`. */
  terms: Record<string, number>;
  /** What each plugin recorded this step, by plugin name. */
  drawn: Record<string, Record<string, unknown>>;
  /** Samples in the batch the step consumed (the `real` view, or the first view). */
  batchSize: number;
  /** The step's index in the run (0-based; the `ctx.step` its hooks saw). */
  step: number;
  /** The learning rate of this step, when a schedule set it. */
  lr?: number;
}

export interface EpochSummary {
  epoch: number;
  trainLoss: number;
  metrics: import('./metrics.js').ClassificationMetrics;
  /** Seconds spent training this epoch. */
  seconds: number;
  improved: boolean;
}

export interface TrainSummary {
  bestEpoch: number;
  bestMetric: number;
  monitor: string;
  epochsRun: number;
  stoppedEarly: boolean;
}

export interface SetupContext {
  logger: Logger;
  container: Container;
  rng: Rng;
}

/**
 * A fermix plugin: a plain object made by a factory. Every hook is optional and returns what it
 * changes; hooks run in config order.
 */
export interface FermixPlugin {
  name: string;
  apiVersion: number;
  /** Plugins this one cannot run with in one config, each with the reason shown to the user. */
  conflicts?: { name: string; reason: string }[];
  setup?(ctx: SetupContext): void | Promise<void>;
  transformModel?(plan: ModelPlan, ctx: SetupContext): ModelPlan;
  transformBatch?(batch: Batch, ctx: PluginContext): Batch;
  composeLoss?(terms: LossTerms, ctx: PluginContext): LossTerms;
  onStepEnd?(result: StepResult, ctx: PluginContext): void | Promise<void>;
  onEpochEnd?(summary: EpochSummary, ctx: PluginContext): void | Promise<void>;
  onTrainEnd?(summary: TrainSummary, ctx: PluginContext): void | Promise<void>;
}

/** What a plugin package exports (default or `plugin`): a factory with an optional options parser. */
export interface PluginFactory<O = any> {
  (options: O): FermixPlugin;
  /**
   * Validates raw options from YAML. Throw a `ConfigError`-style error or return issues with paths
   * relative to the options object; see `definePlugin`.
   */
  parseOptions?: (raw: unknown) => O;
}
