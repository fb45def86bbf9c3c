import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import { Container } from 'inversify';
import { silentLogger, type Logger } from '../logger.js';
import { callHook, malformedBatch, malformedTerms, PluginError } from '../plugin-hooks.js';
import { Rng } from '../rng.js';
import type { Batch, FermixPlugin, LossTerms, PluginContext, StepResult, View } from '../types.js';
import { clipByGlobalNorm } from './clip.js';
import type { WeightEma } from './ema.js';
import { weightedCrossEntropy } from './loss.js';
import { accumulatedGradients } from './micro-batch.js';
import { FermixOptimizer, setLearningRate } from './optimizers.js';
import type { LrSchedule } from './schedules.js';

export interface TrainStepOptions {
  model: tfl.LayersModel;
  optimizer: tf.Optimizer;
  plugins?: FermixPlugin[];
  /** Seeds the generator the plugins draw from; ignored when `rng` is given. */
  seed?: number;
  /** The generator plugins draw from (the Trainer passes the run's). */
  rng?: Rng;
  logger?: Logger;
  container?: Container;
  /** Passed to `model.apply`; false runs batch norm and dropout in inference mode. Default true. */
  training?: boolean;
  /**
   * Computes the gradient in micro-batches of at most this many samples and sums them (gradient
   * accumulation), so a large model at a large batch fits in memory. Off when unset. With it,
   * `composeLoss` runs once per micro-batch, and batch norm sees each micro-batch on its own.
   */
  microBatch?: number;
  /** Sets the optimizer's learning rate before each step from the step count (see schedules.ts). */
  schedule?: LrSchedule;
  /** Scales the gradients so their global L2 norm is at most this (torch's clip_grad_norm_). Off when unset. */
  clipNorm?: number;
  /** Updated after each optimiser step (see ema.ts). */
  ema?: WeightEma;
}

/** A plain batch from a user's loop: images [B, H, W, C] in [0, 1] and one-hot labels [B, K]. */
export interface PlainBatch {
  x: tf.Tensor4D;
  y: tf.Tensor2D;
}

export interface TrainStep {
  /** Runs one optimisation step on a batch; the caller keeps ownership of the batch's tensors. */
  (batch: Batch | PlainBatch, position?: { epoch?: number }): StepResult;
  /** The generator plugins draw from (its state belongs in a checkpoint). */
  readonly rng: Rng;
  /** Steps run so far; the next step's `ctx.step`. */
  step: number;
  /**
   * Names of trainable variables to keep fixed (they get a zero gradient), or null. fermix's
   * optimizers (optimizers.ts) leave them alone entirely, weight decay included; with tfjs's Adam
   * they stay where they are as long as they have not been trained before.
   */
  frozen: Set<string> | null;
  /**
   * Called once per step with the batch after every plugin's `transformBatch` and what the plugins
   * drew, while its tensors are alive (they are disposed after the step: copy what you keep). The
   * Trainer sets it for the first step to write samples.json. Null: nothing is called.
   */
  inspect: ((batch: Batch, drawn: StepResult['drawn']) => void) | null;
}

function asBatch(input: Batch | PlainBatch): Batch {
  if ('views' in input) return input;
  return { views: { real: { x: input.x, y: input.y, weight: 1 } } };
}

/**
 * Forwards the views, one `model.apply` per forward group (all views by default, so batch norm sees
 * them as one batch), and returns each view's probabilities in view order.
 */
export function forwardViews(model: tfl.LayersModel, views: View[], training: boolean): tf.Tensor2D[] {
  const groups = new Map<string, number[]>();
  views.forEach((v, i) => {
    const key = v.group ?? 'main';
    groups.set(key, [...(groups.get(key) ?? []), i]);
  });
  const out: tf.Tensor2D[] = new Array(views.length);
  for (const members of groups.values()) {
    const x = members.length === 1 ? views[members[0]].x : tf.concat(members.map((i) => views[i].x), 0);
    const probs = model.apply(x, { training }) as tf.Tensor2D;
    const parts = members.length === 1 ? [probs] : tf.split(probs, members.map((i) => views[i].x.shape[0]), 0);
    members.forEach((viewIndex, k) => (out[viewIndex] = parts[k] as tf.Tensor2D));
  }
  return out;
}

/** The schedule's lr for a step, refusing one that is not a finite number >= 0 (the run would be lost). */
function scheduledLr(schedule: LrSchedule, step: number): number {
  const lr = schedule.lrAt(step);
  if (!(Number.isFinite(lr) && lr >= 0)) throw new Error(`learning rate became ${lr} at step ${step + 1} (schedule ${schedule.name}); check train.schedule and train.optimizer.lr`);
  return lr;
}

/**
 * The fermix training step as a function for any tfjs loop: plugins transform the batch, all views
 * go through one forward pass, one weighted cross-entropy term per view, plugins compose the loss,
 * then gradients and the optimizer update, all inside one tf.tidy.
 */
export function createTrainStep(options: TrainStepOptions): TrainStep {
  const { model, optimizer } = options;
  const plugins = options.plugins ?? [];
  const rng = options.rng ?? new Rng(options.seed ?? 0);
  const logger = options.logger ?? silentLogger;
  const container = options.container ?? new Container();
  const training = options.training ?? true;
  const microBatch = options.microBatch;
  const { schedule, clipNorm, ema } = options;
  const batchHooks = plugins.filter((p) => p.transformBatch);
  const lossHooks = plugins.filter((p) => p.composeLoss);

  const run = ((input: Batch | PlainBatch, position: { epoch?: number } = {}): StepResult => {
    const drawn: StepResult['drawn'] = {};
    const contextFor = (plugin: FermixPlugin): PluginContext => ({
      step: run.step,
      epoch: position.epoch ?? 0,
      rng,
      logger,
      container,
      record(key, value) {
        (drawn[plugin.name] ??= {})[key] = value;
      },
    });
    /** One weighted cross-entropy term per view, then the plugins' composeLoss, in order. */
    const lossTerms = (probs: tf.Tensor2D[], views: View[], names: string[]): LossTerms => {
      let terms: LossTerms = {};
      names.forEach((name, i) => {
        terms[name] = weightedCrossEntropy(views[i].y, probs[i], views[i].weight);
      });
      for (const plugin of lossHooks) {
        const given = terms;
        terms = callHook(plugin, 'composeLoss', () => plugin.composeLoss!(given, contextFor(plugin)));
        const bad = malformedTerms(terms);
        if (bad) throw new PluginError(plugin.name, 'composeLoss', bad);
      }
      return terms;
    };
    let terms: Record<string, number> = {};
    let batchSize = 0;
    const lr = schedule ? scheduledLr(schedule, run.step) : undefined;
    if (lr !== undefined) setLearningRate(optimizer, lr);
    if (optimizer instanceof FermixOptimizer) optimizer.skip = run.frozen;
    tf.tidy(() => {
      let batch = asBatch(input);
      const classes = model.outputs[0].shape[1] ?? undefined;
      const given = malformedBatch(batch, classes);
      if (given) throw new Error(`the batch given to the step is malformed: ${given}`);
      for (const plugin of batchHooks) {
        const before = batch;
        batch = callHook(plugin, 'transformBatch', () => plugin.transformBatch!(before, contextFor(plugin)));
        const bad = malformedBatch(batch, classes);
        if (bad) throw new PluginError(plugin.name, 'transformBatch', `it returned a malformed batch: ${bad}`);
      }
      run.inspect?.(batch, drawn);
      const names = Object.keys(batch.views);
      const views = names.map((n) => batch.views[n]);
      batchSize = (batch.views.real ?? views[0]).x.shape[0];
      const all = model.trainableWeights.map((w) => w.read() as tf.Variable);
      const frozen = run.frozen;
      const active = frozen ? all.filter((v) => !frozen.has(v.name)) : all;
      let grads: tf.NamedTensorMap;
      if (microBatch && microBatch < Math.max(...views.map((v) => v.x.shape[0]))) {
        const r = accumulatedGradients({ model, views, microBatch, training, variables: active, loss: (probs, sliced) => lossTerms(probs, sliced, names) });
        grads = r.grads;
        terms = r.terms;
      } else {
        let kept: tf.Tensor1D | undefined;
        let termNames: string[] = [];
        grads = tf.variableGrads(() => {
          const t = lossTerms(forwardViews(model, views, training), views, names);
          termNames = Object.keys(t);
          const values = termNames.map((k) => t[k]);
          kept = tf.keep(tf.stack(values) as tf.Tensor1D);
          return (values.length === 1 ? values[0] : tf.addN(values)) as tf.Scalar;
        }, active).grads;
        const values = kept!.dataSync();
        kept!.dispose();
        terms = Object.fromEntries(termNames.map((name, i) => [name, values[i]]));
      }
      // Frozen variables get a zero gradient, in the same order as always: the optimizer keys its
      // moments by position, so the variable list must not change when freezing ends.
      let ordered: tf.NamedTensorMap = {};
      for (const v of all) ordered[v.name] = grads[v.name] ?? tf.zerosLike(v);
      if (clipNorm) ordered = clipByGlobalNorm(ordered, clipNorm).grads;
      optimizer.applyGradients(ordered);
      ema?.update();
    });
    const loss = Object.values(terms).reduce((a, b) => a + b, 0);
    run.step++;
    return { loss, terms, drawn, batchSize, ...(lr !== undefined ? { lr } : {}) };
  }) as TrainStep;
  Object.defineProperty(run, 'rng', { value: rng, enumerable: true });
  run.step = 0;
  run.frozen = null;
  run.inspect = null;
  return run;
}
