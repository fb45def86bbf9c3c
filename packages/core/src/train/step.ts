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
import { accumulateGradients } from './micro-batch.js';
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
  /**
   * When a step's loss is read back from the backend. `eager` (default): at the end of every step,
   * so the result's `loss` and `terms` are plain numbers (one host sync per step). `lazy`: the loss
   * terms stay on the backend, and the next batch's work can be queued while a GPU still computes;
   * `step.readLosses()` reads every step not read yet in one sync (the Trainer does it every few
   * steps and at the end of each epoch), and so does reading `loss` or `terms` of a step's result.
   * The numbers are the same either way.
   */
  lossRead?: 'eager' | 'lazy';
}

/** One step's loss as read back: the step's index (its `ctx.step`), the total and each term. */
export interface StepLosses {
  step: number;
  loss: number;
  terms: Record<string, number>;
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
  /**
   * With `lossRead: 'lazy'`: reads the losses of every step not read yet in one sync with the
   * backend, oldest first, and frees what they kept there. Empty in eager mode, or when every step
   * was read.
   */
  readLosses(): StepLosses[];
  /** Steps whose losses are still on the backend (lazy mode). */
  readonly pendingLosses: number;
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

/** A step's read-back terms as numbers, and their sum: the same arithmetic in eager and lazy mode. */
function lossesOf(step: number, names: string[], values: ArrayLike<number>): StepLosses {
  const terms: Record<string, number> = Object.fromEntries(names.map((name, i) => [name, values[i]]));
  const loss = Object.values(terms).reduce((a, b) => a + b, 0);
  return { step, loss, terms };
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
  const lazy = options.lossRead === 'lazy';
  if (options.lossRead !== undefined && options.lossRead !== 'eager' && !lazy) throw new Error(`lossRead: expected "eager" or "lazy", found ${JSON.stringify(options.lossRead)}`);
  /** Lazy mode: each unread step's terms, on the backend, and where to put their values. */
  const pending: { step: number; names: string[]; values: tf.Tensor1D; resolve: (read: StepLosses) => void }[] = [];
  const readLosses = (): StepLosses[] => {
    if (pending.length === 0) return [];
    const unread = pending.splice(0);
    let flat: Float32Array;
    try {
      const all = unread.length === 1 ? unread[0].values : tf.concat(unread.map((p) => p.values));
      flat = all.dataSync() as Float32Array;
      if (all !== unread[0].values) all.dispose();
    } finally {
      tf.dispose(unread.map((p) => p.values));
    }
    let offset = 0;
    return unread.map((p) => {
      const read = lossesOf(p.step, p.names, flat.subarray(offset, offset + p.names.length));
      offset += p.names.length;
      p.resolve(read);
      return read;
    });
  };
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
    let termNames: string[] = [];
    let termValues: tf.Tensor1D | undefined;
    let batchSize = 0;
    const lr = schedule ? scheduledLr(schedule, run.step) : undefined;
    if (lr !== undefined) setLearningRate(optimizer, lr);
    if (optimizer instanceof FermixOptimizer) optimizer.skip = run.frozen;
    try {
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
          const r = accumulateGradients({ model, views, microBatch, training, variables: active, loss: (probs, sliced) => lossTerms(probs, sliced, names) });
          grads = r.grads;
          termNames = r.termNames;
          termValues = tf.keep(r.termValues);
        } else {
          grads = tf.variableGrads(() => {
            const t = lossTerms(forwardViews(model, views, training), views, names);
            termNames = Object.keys(t);
            const values = termNames.map((k) => t[k]);
            termValues = tf.keep(tf.stack(values) as tf.Tensor1D);
            return (values.length === 1 ? values[0] : tf.addN(values)) as tf.Scalar;
          }, active).grads;
        }
        // Frozen variables get a zero gradient, in the same order as always: the optimizer keys its
        // moments by position, so the variable list must not change when freezing ends.
        let ordered: tf.NamedTensorMap = {};
        for (const v of all) ordered[v.name] = grads[v.name] ?? tf.zerosLike(v);
        if (clipNorm) ordered = clipByGlobalNorm(ordered, clipNorm).grads;
        optimizer.applyGradients(ordered);
        ema?.update();
      });
    } catch (err) {
      termValues?.dispose();
      throw err;
    }
    const step = run.step;
    run.step++;
    const rest = { drawn, batchSize, step, ...(lr !== undefined ? { lr } : {}) };
    if (!lazy) {
      const values = termValues!.dataSync();
      termValues!.dispose();
      const { loss, terms } = lossesOf(step, termNames, values);
      return { loss, terms, ...rest };
    }
    // Lazy: loss and terms are read with the other unread steps' on first use (or by readLosses).
    let read: StepLosses | undefined;
    pending.push({ step, names: termNames, values: termValues!, resolve: (r) => (read = r) });
    const value = () => {
      if (!read) readLosses();
      return read!;
    };
    return Object.defineProperties(rest, {
      loss: { get: () => value().loss, enumerable: true },
      terms: { get: () => value().terms, enumerable: true },
    }) as StepResult;
  }) as TrainStep;
  Object.defineProperty(run, 'rng', { value: rng, enumerable: true });
  Object.defineProperty(run, 'pendingLosses', { get: () => pending.length, enumerable: true });
  run.readLosses = readLosses;
  run.step = 0;
  run.frozen = null;
  run.inspect = null;
  return run;
}
