import path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import type { Container } from 'inversify';
import type { DownloadProgress } from '@fermix/weights';
import type { BackendChoice } from '../backend/select.js';
import type { CheckpointState, CheckpointStore } from '../checkpoint.js';
import { ConfigError } from '../config/errors.js';
import { locateInConfig } from '../config/load.js';
import type { FermixConfig } from '../config/schema.js';
import { TOKENS, type BackendService } from '../container.js';
import { DataError, type DataSource } from '../data/source.js';
import { budgetBytesOf, openSourceSplit, type SplitData } from '../data/split.js';
import type { Logger } from '../logger.js';
import { MONITORABLE, type ClassificationMetrics, type MonitorName } from '../metrics.js';
import { callAsyncHook, type PluginHook } from '../plugin-hooks.js';
import { buildModelForConfig, initializeKernels } from '../model.js';
import { loadPretrainedWeights } from '../weights.js';
import { resolvePretrainedWeights } from '../pretrained.js';
import { balancedClassWeights, balancedOrder, classCounts } from '../data/balance.js';
import { validateModelConfig, type BackboneRegistry } from '../registry.js';
import { Rng } from '../rng.js';
import { appendLog, readRunLock, RunFolderLostError, runPaths, truncateLog, writeFileAtomic, writeResolvedConfig, type RunPaths } from '../run-folder.js';
import type { EpochSummary, FermixPlugin, PluginContext, SetupContext, StepResult, TrainSummary } from '../types.js';
import { batchRanges, batchTensors } from './batches.js';
import { DivergenceError, likelyCause, nonFiniteVariables } from './divergence.js';
import { createWeightEma, type WeightEma } from './ema.js';
import { evaluateSplit, recalibrateBatchNormSplit } from './evaluate.js';
import { createOptimizer } from './optimizers.js';
import { createSchedule, warmupStepsOf, type LrSchedule, type PlateauState } from './schedules.js';
import { createTrainStep } from './step.js';
import { galleryOfBatch } from './samples.js';

export interface ProgressEvent {
  epoch: number;
  epochs: number;
  step: number;
  steps: number;
  /**
   * Mean loss over the epoch's steps read so far: losses are read from the backend every
   * `lossReadEvery` steps, so it lags behind `step` by up to that many; NaN before the first read.
   */
  loss: number;
  imagesPerSecond: number;
  /** Seconds left in the whole run at the current pace (without early stopping). */
  etaSeconds: number;
}

export interface TrainerOptions {
  config: FermixConfig;
  container: Container;
  plugins?: FermixPlugin[];
  /** The run folder; without one nothing is written. */
  runDir?: string;
  /** Continue from the run folder's last checkpoint. */
  resume?: boolean;
  onProgress?: (event: ProgressEvent) => void;
  /** Progress of the download of `model.weights: imagenet` (only when it is not cached yet). */
  onDownloadProgress?: (progress: DownloadProgress) => void;
  /** Checked between steps: when it returns true the run stops, keeping its last checkpoint. */
  shouldStop?: () => boolean;
  /**
   * Read the training loss from the backend every this many steps (more often in an epoch of fewer
   * than 4 x that many steps: at least each quarter of it; and at each epoch's end); default
   * LOSS_READ_EVERY. 1 reads every step (the step's `lossRead: 'eager'`). The logged losses are the
   * same for any value; a NaN is found at the next read, named by its own step.
   */
  lossReadEvery?: number;
  /**
   * Checked between steps and before every write to the run folder (a `fermix worker` run: the
   * folder's lock still names this attempt). When it returns false the run throws
   * `RunFolderLostError` at once and writes nothing more.
   */
  ownsRunDir?: () => boolean;
}

/** One epoch in `metrics.json`'s history and in `log.jsonl`. */
export interface EpochRecord {
  epoch: number;
  trainLoss: number;
  accuracy: number;
  macroF1: number;
  averageAccuracy: number;
  testLoss: number | undefined;
  /** The learning rate of the epoch's first step. */
  lr: number;
  seconds: number;
  imagesPerSecond: number;
  /** Share of the epoch's training time spent waiting for the next batch. */
  dataWaitShare: number;
  improved: boolean;
}

export type RunMetrics = ClassificationMetrics & {
  bestEpoch: number;
  monitor: MonitorName;
  epochsRun: number;
  stoppedEarly: boolean;
  interrupted: boolean;
  backend: string;
  /** Where the backend computed: GPU only for tfjs-node-gpu on a CUDA device. */
  device: 'GPU' | 'CPU';
  /** Why the CPU, when tfjs-node-gpu found no usable CUDA device. */
  deviceReason?: string;
  /** Threads the backend's kernels ran on (wasm, cpu), and why that many. */
  threads?: number;
  threadsReason?: string;
  /** The accelerator that served the backend's convolutions, if any (e.g. "onnxruntime 1.30.0"). */
  accelerator?: string;
  seconds: number;
  /** CPU time of this process during the run (user + system): more than `seconds` when several cores worked. */
  cpuSeconds: number;
  /** Test-time augmentations of the evaluations (eval.tta); empty: none. */
  tta: string[];
  /** The decay of the weight EMA the metrics were measured with (train.ema), or null. */
  emaDecay: number | null;
  history: EpochRecord[];
};

export interface TrainResult {
  metrics: RunMetrics;
  model: tfl.LayersModel;
  runDir?: string;
}

/**
 * Training losses are read back from the backend every this many steps (at least four times an
 * epoch, and at its end), not every step: a read waits for the backend, and on a GPU that stops the
 * next batch's work from being queued while the current one computes.
 */
export const LOSS_READ_EVERY = 16;

function better(monitor: MonitorName, value: number, best: number | null): boolean {
  if (best === null) return true;
  return MONITORABLE[monitor] === 'max' ? value > best : value < best;
}

function metricValue(metrics: ClassificationMetrics, monitor: MonitorName): number {
  return monitor === 'loss' ? metrics.loss ?? Infinity : metrics[monitor];
}

/**
 * Orchestrates a run: data, model, the train step of `createTrainStep`, evaluation after each epoch,
 * early stopping with the best weights restored, checkpoints, logs and metrics.json.
 */
export class Trainer {
  private readonly config: FermixConfig;
  private readonly container: Container;
  private readonly plugins: FermixPlugin[];
  private readonly logger: Logger;
  private readonly paths?: RunPaths;

  constructor(private readonly options: TrainerOptions) {
    this.config = options.config;
    this.container = options.container;
    this.plugins = options.plugins ?? [];
    this.logger = this.container.get<Logger>(TOKENS.Logger);
    this.paths = options.runDir ? runPaths(options.runDir) : undefined;
  }

  /** Splits opened for this run, closed when it ends (a stream's decode workers live for the whole run). */
  private readonly opened: SplitData[] = [];

  async run(): Promise<TrainResult> {
    try {
      return await this.train();
    } finally {
      await Promise.all(this.opened.splice(0).map((split) => split.close?.()));
    }
  }

  private async train(): Promise<TrainResult> {
    const { config, logger, plugins } = this;
    const started = Date.now();
    const cpuAtStart = process.cpuUsage();
    validateModelConfig(config, this.container.get<BackboneRegistry>(TOKENS.BackboneRegistry));
    const backend = await this.container.get<BackendService>(TOKENS.Backend).select();
    const { train: trainSet, test: testSet } = await this.loadData();
    const classes = trainSet.classes;

    const root = new Rng(config.seed);
    const initRng = root.fork('init');
    const dataRng = root.fork('data');
    const pluginRng = root.fork('plugins');
    const setupCtx: SetupContext = { logger, container: this.container, rng: pluginRng };
    for (const plugin of plugins) await this.hook(plugin, 'setup', () => plugin.setup?.(setupCtx));

    const store = this.container.get<CheckpointStore>(TOKENS.CheckpointStore);
    const model = buildModelForConfig(config, classes.length, plugins, setupCtx, this.container.get<BackboneRegistry>(TOKENS.BackboneRegistry));
    initializeKernels(model, initRng);
    if (config.model.weights && !(this.options.resume && this.paths && store.exists(this.paths.lastCheckpoint))) {
      const file = await resolvePretrainedWeights(config, { logger, onDownloadProgress: this.options.onDownloadProgress });
      await loadPretrainedWeights(model, file, { logger, exclude: config.model.weightsExclude, head: 'predictions' });
    }
    logger.info(`model: ${config.model.backbone}`, { params: model.countParams(), input: model.inputs[0].shape.slice(1), classes: classes.length });
    const optimizer = createOptimizer(config.train.optimizer);
    const ranges = batchRanges(trainSet.count, config.train.batchSize);
    const schedule = this.scheduleFor(ranges.length);
    const readEvery = this.options.lossReadEvery ?? LOSS_READ_EVERY;
    if (!Number.isInteger(readEvery) || readEvery < 1) throw new Error(`lossReadEvery: expected an integer >= 1, found ${readEvery}`);
    const ema = config.train.ema ? createWeightEma(model.trainableWeights.map((w) => w.read() as tf.Variable), config.train.ema.decay) : undefined;
    const step = createTrainStep({
      model,
      optimizer,
      plugins,
      rng: pluginRng,
      logger,
      container: this.container,
      microBatch: config.train.microBatch,
      schedule,
      clipNorm: config.train.clipNorm,
      ema,
      lossRead: readEvery === 1 ? 'eager' : 'lazy',
    });
    if (config.train.microBatch) logger.info(`micro-batches of ${config.train.microBatch}: gradients accumulated over each batch of ${config.train.batchSize}`);
    // model.freezeBackbone: only the classifier trains for the first N epochs.
    const backboneVariables = new Set(model.trainableWeights.filter((w) => !w.name.startsWith('predictions/')).map((w) => (w.read() as tf.Variable).name));

    const monitor: MonitorName = config.train.earlyStopping === false ? 'macroF1' : config.train.earlyStopping.monitor;
    const patience = config.train.earlyStopping === false ? Infinity : config.train.earlyStopping.patience;
    let history: EpochRecord[] = [];
    let bestMetric: number | null = null;
    let bestEpoch = -1;
    let bestMetrics: ClassificationMetrics | null = null;
    let bestWeights: tf.Tensor[] | null = null;
    let firstEpoch = 0;
    /** The epoch of the last checkpoint written (or resumed from), for the message of a divergence. */
    let lastCheckpointEpoch: number | null = null;

    if (!this.paths && this.options.resume) throw new Error('resume needs a run folder (runDir) to resume from');
    const resuming = Boolean(this.options.resume && this.paths && store.exists(this.paths.lastCheckpoint));
    if (this.options.resume && !resuming) {
      // A run killed before its first epoch ended has nothing to resume: it starts over in its folder.
      logger.warn(`nothing to resume in ${this.paths!.lastCheckpoint} (no complete checkpoint yet): starting from epoch 1`);
    }
    if (resuming && this.paths) {
      const state = await store.load(this.paths.lastCheckpoint, { model, optimizer, ema });
      if (schedule.setState && state.extra?.schedule) schedule.setState(state.extra.schedule as PlateauState);
      dataRng.setState(state.rng.data);
      pluginRng.setState(state.rng.plugins);
      step.step = state.step;
      firstEpoch = state.epoch + 1;
      lastCheckpointEpoch = state.epoch;
      bestMetric = state.bestMetric;
      bestEpoch = state.bestEpoch;
      history = (state.extra?.history as EpochRecord[]) ?? [];
      bestMetrics = (state.extra?.bestMetrics as ClassificationMetrics) ?? null;
      logger.info(`resuming from ${this.paths.lastCheckpoint}`, { epoch: firstEpoch, step: state.step, bestEpoch });
    }
    this.assertOwnsRunDir();
    if (this.paths) writeResolvedConfig(this.paths, config);
    // log.jsonl: epochs after the checkpoint (logged by a run killed before its checkpoint) are run again.
    if (this.paths && this.options.resume) truncateLog(this.paths, firstEpoch);
    if (this.paths && !resuming) {
      // samples.json: the first training batch as the network sees it, for the report's gallery.
      const file = path.join(this.paths.dir, 'samples.json');
      step.inspect = (batch, drawn) => {
        step.inspect = null;
        try {
          writeFileAtomic(file, JSON.stringify(galleryOfBatch(batch, { classes, drawn: structuredClone(drawn) })) + '\n');
        } catch (err) {
          logger.warn(`samples.json not written (the report's gallery will lack this run): ${(err as Error).message}`);
        }
      };
    }

    const ctxFor = (epoch: number): PluginContext => ({
      step: step.step,
      epoch,
      rng: pluginRng,
      logger,
      container: this.container,
      record: () => {},
    });

    const epochs = config.train.epochs;
    const batchSize = config.train.batchSize;
    const tta = config.eval.tta;
    const plateauMonitor: MonitorName = config.train.schedule.monitor ?? monitor;
    const classWeights = config.train.classWeights === 'balanced' ? balancedClassWeights(trainSet.labels, classes.length) : null;
    if (classWeights) logger.info('class weights (balanced)', Object.fromEntries(classes.map((c, i) => [c, +classWeights[i].toFixed(3)])));
    let stoppedEarly = false;
    let interrupted = false;
    let epochsRun = firstEpoch;
    let secondsPerEpoch = 0;
    for (let epoch = firstEpoch; epoch < epochs; epoch++) {
      // Early stopping: `patience` evaluated epochs in a row without improvement (also after a resume).
      if (bestEpoch >= 0 && epoch - 1 - bestEpoch >= patience) {
        stoppedEarly = true;
        break;
      }
      const frozen = epoch < config.model.freezeBackbone;
      if (frozen !== (step.frozen !== null)) logger.info(frozen ? `backbone frozen: training the classifier only until epoch ${config.model.freezeBackbone}` : 'backbone unfrozen: training every layer');
      step.frozen = frozen ? backboneVariables : null;
      const t0 = performance.now();
      const lr = schedule.lrAt(step.step);
      const order = config.train.sampler === 'balanced' ? balancedOrder(trainSet.labels, classes.length, trainSet.count, dataRng) : dataRng.permutation(trainSet.count);
      let lossSum = 0;
      let lossesRead = 0;
      let waitMs = 0;
      let images = 0;
      let steps = 0;
      let i = -1;
      // At least four reads an epoch, so the progress line has a loss each quarter of a short epoch.
      const readWindow = Math.min(readEvery, Math.max(1, Math.ceil(ranges.length / 4)));
      /** Steps of this epoch whose loss is still on the backend; `settle` reads them, oldest first. */
      const unread: { index: number; result: StepResult }[] = [];
      const settle = () => {
        step.readLosses();
        for (const { index, result } of unread.splice(0)) {
          if (!Number.isFinite(result.loss)) throw this.divergedAt(epoch, index, result, lastCheckpointEpoch);
          lossSum += result.loss;
          lossesRead++;
        }
      };
      let tFetch = performance.now();
      // In memory, or streamed from disk and decoded ahead in worker threads: the same batches.
      // Leaving the loop (break, throw) stops the stream.
      try {
        for await (const host of trainSet.batches(order, ranges)) {
          i++;
          waitMs += performance.now() - tFetch; // waiting for the batch: decoding, when streamed
          // A turn of the event loop between steps, so signals and a closed IPC channel (fermix sweep) are seen.
          await new Promise<void>((resolve) => setImmediate(resolve));
          this.assertOwnsRunDir();
          if (this.options.shouldStop?.()) {
            interrupted = true;
            break;
          }
          const tWait = performance.now();
          const { x, y } = batchTensors(host, trainSet.size, classes.length);
          const weight = classWeights ? tf.tensor1d(Array.from(host.labels, (label) => classWeights[label])) : 1;
          waitMs += performance.now() - tWait;
          let result: StepResult;
          try {
            result = step({ views: { real: { x, y, weight } } }, { epoch });
          } finally {
            tf.dispose([x, y, ...(typeof weight === 'number' ? [] : [weight])]);
          }
          unread.push({ index: i, result });
          if (unread.length >= readWindow) settle();
          images += result.batchSize;
          steps = i + 1;
          for (const plugin of plugins) {
            if (plugin.onStepEnd) await this.hook(plugin, 'onStepEnd', () => plugin.onStepEnd!(result, ctxFor(epoch)));
          }
          const elapsed = (performance.now() - t0) / 1000;
          const perStep = elapsed / (i + 1);
          this.options.onProgress?.({
            epoch,
            epochs,
            step: i + 1,
            steps: ranges.length,
            loss: lossesRead > 0 ? lossSum / lossesRead : NaN,
            imagesPerSecond: images / elapsed,
            etaSeconds: perStep * (ranges.length - i - 1) + (epochs - epoch - 1) * (secondsPerEpoch || perStep * ranges.length),
          });
          tFetch = performance.now();
        }
        settle();
      } finally {
        // A failure elsewhere (a plugin, the data) leaves nothing behind on the backend.
        if (step.pendingLosses > 0) step.readLosses();
      }
      if (interrupted) break;
      const trainSeconds = (performance.now() - t0) / 1000;
      // A last step can break the weights while its own loss was finite: never evaluate or save them.
      const broken = nonFiniteVariables(model.weights.map((w) => w.read() as tf.Variable));
      if (broken.length > 0) {
        const lastLr = schedule.lrAt(step.step - 1);
        throw new DivergenceError({ epoch: epoch + 1, step: steps, runStep: step.step - 1, weights: broken, lr: lastLr, cause: likelyCause(step.step - 1, lastLr), kept: this.paths ? keptCheckpoint(lastCheckpointEpoch) : undefined });
      }

      // With an EMA, the averaged weights are evaluated (batch norm recalibrated for them), kept as
      // the best and saved as the best checkpoint; the trained weights come back before training goes on.
      const restoreTrained = ema ? swapInEma(model, ema) : null;
      const recalibrated = await recalibrateBatchNormSplit(model, trainSet, batchSize, config.train.bnRecalibrationBatches, new Rng(config.seed).fork('bn-recalibration'));
      const metrics = await evaluateSplit(model, testSet, batchSize, { tta });
      const value = metricValue(metrics, monitor);
      const improved = better(monitor, value, bestMetric);
      const record: EpochRecord = {
        epoch,
        trainLoss: lossSum / steps,
        accuracy: metrics.accuracy,
        macroF1: metrics.macroF1,
        averageAccuracy: metrics.averageAccuracy,
        testLoss: metrics.loss,
        lr,
        seconds: (performance.now() - t0) / 1000,
        imagesPerSecond: images / trainSeconds,
        dataWaitShare: waitMs / 1000 / trainSeconds,
        improved,
      };
      history.push(record);
      secondsPerEpoch = record.seconds;
      epochsRun = epoch + 1;
      if (improved) {
        bestMetric = value;
        bestEpoch = epoch;
        bestMetrics = metrics;
        bestWeights?.forEach((t) => t.dispose());
        bestWeights = model.getWeights().map((w) => w.clone());
      }
      logger.info(
        `epoch ${epoch + 1}/${epochs}: loss ${record.trainLoss.toFixed(4)}, test accuracy ${(metrics.accuracy * 100).toFixed(2)}%, macro F1 ${(metrics.macroF1 * 100).toFixed(2)}%, avg acc ${(metrics.averageAccuracy * 100).toFixed(2)}%${improved ? ' (best)' : ''}`,
        { lr: +lr.toPrecision(4), seconds: +record.seconds.toFixed(1), imagesPerSecond: +record.imagesPerSecond.toFixed(1), dataWait: `${(record.dataWaitShare * 100).toFixed(2)}%`, bnBatches: recalibrated },
      );
      if (schedule.observe?.(metricValue(metrics, plateauMonitor))) {
        logger.info(`plateau: ${plateauMonitor} has not improved; learning rate now ${schedule.lrAt(step.step).toPrecision(4)}`);
      }
      const state: CheckpointState = {
        epoch,
        step: step.step,
        bestMetric,
        bestEpoch,
        monitor,
        rng: { data: dataRng.getState(), plugins: pluginRng.getState() },
        extra: { history, bestMetrics, ...(schedule.getState ? { schedule: schedule.getState() } : {}) },
      };
      if (this.paths) {
        this.assertOwnsRunDir();
        appendLog(this.paths, { ...record, time: new Date().toISOString() });
        if (improved) await store.save(this.paths.bestCheckpoint, { model, optimizer, state });
      }
      restoreTrained?.();
      if (this.paths) {
        this.assertOwnsRunDir();
        await store.save(this.paths.lastCheckpoint, { model, optimizer, state, ema });
        lastCheckpointEpoch = epoch;
      }
      const summary: EpochSummary = { epoch, trainLoss: record.trainLoss, metrics, seconds: record.seconds, improved };
      for (const plugin of plugins) {
        if (plugin.onEpochEnd) await this.hook(plugin, 'onEpochEnd', () => plugin.onEpochEnd!(summary, ctxFor(epoch)));
      }
    }

    ema?.dispose();
    // Keep the best model: restore its weights (from memory, or from its checkpoint after a resume).
    if (bestWeights) {
      model.setWeights(bestWeights);
      bestWeights.forEach((t) => t.dispose());
    } else if (bestEpoch >= 0 && this.paths && store.exists(this.paths.bestCheckpoint)) {
      await store.loadWeights(this.paths.bestCheckpoint, model);
    }
    if (!bestMetrics) {
      if (interrupted) throw new Error('the run was interrupted before its first evaluation; nothing to report (resume it with --resume)');
      throw new Error('no epoch was evaluated');
    }
    const metrics: RunMetrics = {
      ...bestMetrics,
      bestEpoch,
      monitor,
      epochsRun,
      stoppedEarly,
      interrupted,
      backend: backend.name,
      device: backend.device,
      ...(backend.deviceReason ? { deviceReason: backend.deviceReason } : {}),
      ...(backend.threads === undefined ? {} : { threads: backend.threads, threadsReason: backend.threadsReason }),
      ...(backend.accelerator ? { accelerator: `onnxruntime ${backend.accelerator.version}` } : {}),
      seconds: (Date.now() - started) / 1000,
      cpuSeconds: cpuSecondsSince(cpuAtStart),
      tta: [...tta],
      emaDecay: config.train.ema?.decay ?? null,
      history,
    };
    if (this.paths && !interrupted) {
      this.assertOwnsRunDir();
      writeFileAtomic(this.paths.metrics, JSON.stringify(metrics, null, 2) + '\n');
    }
    const summary: TrainSummary = { bestEpoch, bestMetric: bestMetric ?? NaN, monitor, epochsRun, stoppedEarly };
    for (const plugin of plugins) {
      if (plugin.onTrainEnd) await this.hook(plugin, 'onTrainEnd', () => plugin.onTrainEnd!(summary, ctxFor(epochsRun - 1)));
    }
    logger.info(
      `best epoch ${bestEpoch + 1}: accuracy ${(metrics.accuracy * 100).toFixed(2)}%, macro F1 ${(metrics.macroF1 * 100).toFixed(2)}%, average accuracy ${(metrics.averageAccuracy * 100).toFixed(2)}%`,
      { seconds: +metrics.seconds.toFixed(1), stoppedEarly, ...(this.paths ? { run: this.paths.dir } : {}) },
    );
    return { metrics, model, runDir: this.paths?.dir };
  }

  private assertOwnsRunDir(): void {
    if (this.paths && this.options.ownsRunDir && !this.options.ownsRunDir()) throw new RunFolderLostError(this.paths.dir, readRunLock(this.paths.dir));
  }

  /** train.schedule for a run of `stepsPerEpoch` steps an epoch; a warmup as long as the run is refused at its path. */
  private scheduleFor(stepsPerEpoch: number): LrSchedule {
    const { schedule, optimizer, epochs } = this.config.train;
    const total = epochs * stepsPerEpoch;
    if (schedule.name === 'cosine' && warmupStepsOf(schedule, stepsPerEpoch) >= total) {
      const p = ['train', 'schedule', schedule.warmupSteps !== undefined ? 'warmupSteps' : 'warmupEpochs'];
      throw new ConfigError(
        [{ path: p, expected: `a warmup shorter than the run (${epochs} epochs of ${stepsPerEpoch} steps = ${total} steps)`, found: schedule.warmupSteps ?? schedule.warmupEpochs, location: locateInConfig(this.config, p) }],
        this.config.configFile,
      );
    }
    const mode = MONITORABLE[schedule.monitor ?? (this.config.train.earlyStopping === false ? 'macroF1' : this.config.train.earlyStopping.monitor)];
    return createSchedule({ ...schedule, mode }, { lr: optimizer.lr, stepsPerEpoch, epochs });
  }

  /** The error for a step whose loss was read as NaN or infinite: where, the likely cause, and the checkpoint that stays. */
  private divergedAt(epoch: number, index: number, result: StepResult, lastCheckpointEpoch: number | null): DivergenceError {
    return new DivergenceError({
      epoch: epoch + 1,
      step: index + 1,
      runStep: result.step,
      loss: result.loss,
      terms: result.terms,
      lr: result.lr,
      cause: likelyCause(result.step, result.lr),
      kept: this.paths ? keptCheckpoint(lastCheckpointEpoch) : undefined,
    });
  }

  /** Train, then test, in memory while they fit data.cacheMB (train first), streamed from disk otherwise. */
  private async loadData(): Promise<{ train: SplitData; test: SplitData }> {
    const source = this.container.get<DataSource>(TOKENS.DataSource);
    const { data } = this.config;
    const options = { imageSize: data.imageSize, logger: this.logger, prefetch: data.prefetch, maxPixels: data.maxPixels };
    const train = await openSourceSplit(source, data.trainSplit, { ...options, budgetBytes: budgetBytesOf(data.cacheMB) });
    this.opened.push(train);
    const test = await openSourceSplit(source, data.testSplit, { ...options, budgetBytes: budgetBytesOf(data.cacheMB) - train.residentBytes });
    this.opened.push(test);
    if (train.classes.join('\n') !== test.classes.join('\n')) {
      throw new DataError(`${source.description}: train and test have different classes (${train.classes.join(', ')} vs ${test.classes.join(', ')})`);
    }
    for (const [split, set] of [[data.trainSplit, train], [data.testSplit, test]] as const) {
      this.logger.info(`data ${split}: ${set.count} images from ${source.description}${set.streamed ? ' (streamed)' : ''}`, { classes: Object.fromEntries(classCounts(set.labels, set.classes.length).map((n, c) => [set.classes[c], n])), skipped: set.skipped.length });
    }
    return { train, test };
  }

  private hook(plugin: FermixPlugin, name: PluginHook, fn: () => unknown): Promise<void> {
    return callAsyncHook(plugin, name, fn);
  }
}

export type { BackendChoice };

/**
 * Puts the EMA's averages into the model for an evaluation; the returned function puts back the
 * trained weights and the batch-norm statistics the evaluation's recalibration replaced.
 */
function swapInEma(model: tfl.LayersModel, ema: WeightEma): () => void {
  const statistics = model.nonTrainableWeights.map((w) => w.read() as tf.Variable);
  const saved = statistics.map((v) => v.clone());
  const restoreTrainable = ema.swapIn();
  return () => {
    restoreTrainable();
    statistics.forEach((v, i) => v.assign(saved[i]));
    tf.dispose(saved);
  };
}

function keptCheckpoint(epoch: number | null): string | undefined {
  return epoch === null ? undefined : `checkpoints/last, after epoch ${epoch + 1}`;
}

function cpuSecondsSince(start: NodeJS.CpuUsage): number {
  const used = process.cpuUsage(start);
  return (used.user + used.system) / 1e6;
}
