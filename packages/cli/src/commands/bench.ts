/**
 * `fermix bench`: how fast fermix trains on this machine, and where the time goes.
 *
 * Every figure is a median over several timed repetitions after untimed warm-up ones; every ratio
 * is measured side by side in this one process, on the same model and data, with the variants
 * interleaved round-robin (the order rotating each round) so drift in the machine's load hits them
 * alike, and reported as the median of the per-round ratios. See docs/bench.md for each figure.
 */
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import { registerBackbones } from '@fermix/backbones';
import {
  BackboneRegistry,
  basePlan,
  batchTensors,
  buildModel,
  createMemoryLogger,
  createTrainStep,
  gatherBatch,
  initializeKernels,
  Rng,
  selectBackend,
  wasmBackendInfo,
  ACCELERATOR_PACKAGE,
  findPackageEntry,
  type BackendName,
  type FermixPlugin,
  type ImageSet,
  type ThreadsSetting,
  type TrainStep,
} from '@fermix/core';
import { createImageFolderSource, createSyntheticSource } from '@fermix/data';
import { color } from '@fermix/plugin-color';
import { crop } from '@fermix/plugin-crop';
import { cutmix } from '@fermix/plugin-cutmix';
import { erasing } from '@fermix/plugin-erasing';
import { flip } from '@fermix/plugin-flip';
import { mixaugment } from '@fermix/plugin-mixaugment';
import { mixup } from '@fermix/plugin-mixup';
import { randaugment } from '@fermix/plugin-randaugment';
import { UsageError } from './train.js';
import { measureParallelTraining, type ParallelTrainingFigure } from '../bench/parallel.js';
import { runGpuEnv, selfCommand } from '../sweep/runner.js';
import { measureAccelerator, measureThreadScaling, type AcceleratorFigure, type ThreadScalingFigure } from '../bench/scaling.js';
import { parseThreadsFlag } from '../setup.js';
import { encodeImages, readOne, StepClient } from '../bench/step-server.js';

export interface BenchCommandOptions {
  /** Fewer steps, smaller ResNet18 input, no ResNet50 and no cpu backend: about 4 minutes on 2 idle cores. */
  quick?: boolean;
  /** Also write the report as JSON to this file. */
  json?: string;
  /** Comma-separated backends to time steps on: tensorflow, wasm, cpu (default: all there are; no cpu with --quick). */
  backends?: string;
  /** Comma-separated backbones (default small-cnn,resnet18,resnet50; no resnet50 with --quick). */
  models?: string;
  /** Timed repetitions of every loop (overrides the mode's defaults). */
  steps?: number | string;
  /** Untimed warm-up repetitions of every loop (overrides the mode's defaults). */
  warmup?: number | string;
  /** Batch size of every measurement (default 32; smaller only to try the command out). */
  batch?: number | string;
  /** Image-folder dataset for the small-CNN batches and the decoding figure, or `synthetic`. */
  data?: string;
  /** Time two trainings side by side against one (separate processes, as `fermix sweep --parallel 2`); default true. */
  parallel?: boolean;
  /** Threads of the wasm backend for the measurements: a count or `auto` (every core). */
  threads?: string;
  /** Time the step on all threads against one thread (two step-server processes); default true. */
  scaling?: boolean;
  /** argv that starts `fermix` for the child processes (default: this very program). */
  command?: string[];
  /** Time the onnxruntime accelerator against wasm alone when @fermix/accel-onnxruntime is installed; default true. */
  accelerator?: boolean;
}

/** Version of the JSON layout: bumped when a key changes meaning or disappears. */
export const BENCH_SCHEMA = 'fermix-bench/3';

const CLASSES = 7;
const SMALL_SIZE = 48;
const KNOWN_BACKENDS = ['tensorflow', 'wasm', 'cpu'] as const;
type Backend = (typeof KNOWN_BACKENDS)[number];
/**
 * Where to look for fer2013-mini when --data is not given: $FERMIX_BENCH_DATA, then next to the
 * repository as examples/fer2013-mini expects it (from the repository root).
 */
function defaultDataCandidates(): string[] {
  return [process.env.FERMIX_BENCH_DATA, '../shared/data/fer2013-mini'].filter((p): p is string => Boolean(p));
}

export interface StepRow {
  backend: string;
  model: string;
  size: number;
  batch: number;
  microBatch: number | null;
  params: number;
  warmup: number;
  steps: number;
  stepMs: number;
  imagesPerSecond: number;
  forwardMs: number;
  /** Median over the rounds of step / forward (the two ran back to back in each round). */
  stepOverForward: number;
  /** Tensors after the timed steps minus after warm-up; null without warm-up (the first step creates Adam's slots). */
  tensorGrowth: number | null;
  data: string;
  /** The step-server process this backend's rows were timed in (a fresh one per backend). */
  pid: number | null;
}

export interface KernelRow {
  layer: string;
  /** [N, H, W, Cin] -> Cout, 3x3, stride 1, same padding. */
  input: number[];
  filters: number;
  gflop: number;
  /** Median milliseconds; null where the kernel is not run in training (the first layer's input gradient). */
  filterMs: number;
  inputMs: number | null;
  convMs: number;
  matmulMs: number;
}

export interface Target {
  name: string;
  measured: number | null;
  op: '<=' | '>=' | '<' | '==';
  limit: number;
  met: boolean | null;
}

export interface BenchReport {
  schema: string;
  date: string;
  quick: boolean;
  machine: { cpu: string; cores: number; availableParallelism: number; node: string; platform: string; loadAverage: number[]; totalMemoryBytes: number };
  autoBackend: { name: string; provider: string; reasons: string[]; device: string; deviceReason: string | null };
  /** Threads the ratio backend's kernels ran on in this process, and why that many. */
  threads: number;
  threadsReason: string | null;
  /** Process CPU time over wall time during the training steps (the variant rounds): the cores kept busy. */
  cpuOverWall: number;
  /** The step on all threads against one thread, each in a step-server process; null when skipped (--no-scaling) or off wasm. */
  threadScaling: ThreadScalingFigure | null;
  /**
   * The step with @fermix/accel-onnxruntime (the convolutions on ONNX Runtime's native kernels)
   * against wasm alone, on the same threads, each its own step-server process; null when the
   * package is not installed, skipped (--no-accelerator) or off wasm.
   */
  accelerator: AcceleratorFigure | null;
  /** Why `accelerator` is null. */
  acceleratorSkipped: string | null;
  /** Each requested backend: whether it started, why not, and the device it computes on (GPU only for tfjs-node-gpu with a CUDA device). */
  backends: { name: string; available: boolean; reason: string | null; device: string | null; deviceReason: string | null }[];
  /** Step times per backend and model, each backend timed in a step-server process of its own. */
  steps: StepRow[];
  /** The backend, model and data the ratios, kernels, data-wait and memory figures are measured on. */
  ratioSetup: { backend: string; model: string; size: number; batch: number; warmup: number; rounds: number; data: string };
  kernels: {
    layers: KernelRow[];
    reps: number;
    /** Whole-net rates: the layers' FLOPs over the layers' median times, in GFLOP/s. */
    gflopsFilter: number;
    gflopsInput: number;
    gflopsConv: number;
    gflopsMatmul: number;
    filterOverMatmul: number;
    inputOverMatmul: number;
  } | null;
  variants: { name: string; medianMs: number; minMs: number; maxMs: number; overVanilla: number }[];
  ratios: { mixup: number; mixaugmentJoint: number; mixaugmentSeparate: number; flip: number; fermixOverHandWritten: number };
  dataWait: { batchMs: number; stepMs: number; share: number };
  memory: {
    tensorsAfterWarmup: number;
    tensorsAtEnd: number;
    tensorGrowth: number;
    tensorBytesAfterWarmup: number;
    tensorBytesAtEnd: number;
    wasmHeapBytesAfterWarmup: number | null;
    wasmHeapBytesAtEnd: number | null;
    rssAfterWarmup: number;
    rssAtEnd: number;
  };
  cores: {
    availableParallelism: number;
    /** The wasm backend runs on its threaded build (fermix starts it in Node; tfjs 4.22 itself never does, tfjs#3830). Null off wasm. */
    wasmMultithread: boolean | null;
    wasmSimd: boolean | null;
    /** Process CPU time over wall time while training (the round-robin loop): ~1 means one core. */
    trainingCpuOverWall: number;
    decode: {
      files: number;
      size: number;
      workers: number;
      inProcessMs: number;
      inProcessCpuOverWall: number;
      workersMs: number;
      workersCpuOverWall: number;
      speedup: number;
    } | null;
    /** Two `fermix train` processes side by side against one alone; null when not measured (--no-parallel). */
    parallelTraining: ParallelTrainingFigure | null;
  };
  /**
   * Where a vanilla small-CNN step's time goes: one profiled step (tf.profile, kernel by kernel) and
   * one profiled training-mode forward, after a warm-up step. The rest of the wall time is JS:
   * the tape, tidy, tfjs-layers' graph walk, Adam's bookkeeping.
   */
  profile: {
    stepWallMs: number;
    stepKernelMs: number;
    forwardWallMs: number;
    forwardKernelMs: number;
    /** Kernels of the step, by total time, largest first. */
    kernels: { kernel: string; calls: number; ms: number; share: number }[];
  };
  targets: Target[];
  seconds: number;
}

interface Plan {
  quick: boolean;
  warmup: number;
  steps: number;
  batch: number;
  backends: Backend[];
  backendsExplicit: boolean;
  models: string[];
  /** Which of warmup / steps the caller set (they then apply to every loop). */
  overrides: { warmup: boolean; steps: boolean };
}

function positiveInt(name: string, value: number | string | undefined, min: number): number | undefined {
  if (value === undefined) return undefined;
  const n = typeof value === 'number' ? value : Number(value);
  if (!Number.isInteger(n) || n < min) throw new UsageError(`--${name}: expected an integer >= ${min}, found ${JSON.stringify(value)}`);
  return n;
}

function list(name: string, value: string | undefined, allowed: readonly string[]): string[] | undefined {
  if (value === undefined) return undefined;
  const items = value.split(',').map((s) => s.trim()).filter(Boolean);
  const bad = items.filter((s) => !allowed.includes(s));
  if (items.length === 0 || bad.length > 0) throw new UsageError(`--${name}: unknown ${bad.join(', ') || '(empty list)'}; choose from ${allowed.join(', ')}`);
  return [...new Set(items)];
}

function median(values: number[]): number {
  if (values.length === 0) return NaN;
  const s = [...values].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

function cpuModel(): string {
  try {
    const line = readFileSync('/proc/cpuinfo', 'utf8').split('\n').find((l) => l.startsWith('model name'));
    if (line) return line.split(':')[1].trim();
  } catch {
    // not Linux
  }
  return os.cpus()[0]?.model ?? 'unknown';
}

function wasmHeapBytes(): number | null {
  const wasm = (tf.backend() as unknown as { wasm?: { HEAPU8?: Uint8Array } }).wasm;
  return wasm?.HEAPU8 ? wasm.HEAPU8.length : null;
}

function cpuMs(since: NodeJS.CpuUsage): number {
  const u = process.cpuUsage(since);
  return (u.user + u.system) / 1000;
}

/**
 * Runs the variants round-robin: round r runs variant (r + k) mod n as its k-th, so none is always
 * first. `beforeRound` prepares shared inputs; only rounds after `warmup` are recorded.
 */
function roundRobin(
  variants: { name: string; run: () => void }[],
  warmup: number,
  rounds: number,
  hooks: { beforeRound?: (round: number) => void; afterRound?: (round: number) => void; afterWarmup?: () => void } = {},
): Map<string, number[]> {
  const times = new Map(variants.map((v) => [v.name, [] as number[]]));
  if (warmup === 0) hooks.afterWarmup?.();
  for (let round = 0; round < warmup + rounds; round++) {
    hooks.beforeRound?.(round);
    for (let k = 0; k < variants.length; k++) {
      const v = variants[(round + k) % variants.length];
      const t0 = performance.now();
      v.run();
      const ms = performance.now() - t0;
      if (round >= warmup) times.get(v.name)!.push(ms);
    }
    hooks.afterRound?.(round);
    if (round === warmup - 1) hooks.afterWarmup?.();
  }
  return times;
}

/** Median of the per-round ratios a / b (each round's a and b ran seconds apart). */
function pairedRatio(times: Map<string, number[]>, a: string, b: string): number {
  const ta = times.get(a)!;
  const tb = times.get(b)!;
  return median(ta.map((t, i) => t / tb[i]));
}

function oneHot(labels: number[]): tf.Tensor2D {
  return tf.tidy(() => tf.cast(tf.oneHot(tf.tensor1d(labels, 'int32'), CLASSES), 'float32') as tf.Tensor2D);
}

function randomBatch(n: number, size: number, seed: number): { x: tf.Tensor4D; y: tf.Tensor2D } {
  const rng = new Rng(seed);
  const x = tf.tensor4d(Float32Array.from({ length: n * size * size * 3 }, () => rng.uniform()), [n, size, size, 3]);
  return { x, y: oneHot(Array.from({ length: n }, (_, i) => i % CLASSES)) };
}

interface Progress {
  (message: string): void;
}

/** Measures everything; `progress` gets a line per stage (stderr in the CLI). */
export async function runBench(options: BenchCommandOptions = {}, progress: Progress = () => {}): Promise<BenchReport> {
  const started = performance.now();
  const quick = options.quick ?? false;
  const registry = registerBackbones(new BackboneRegistry());
  const modelsAsked = list('models', options.models, registry.names());
  const backendsAsked = list('backends', options.backends, KNOWN_BACKENDS) as Backend[] | undefined;
  const plan: Plan = {
    quick,
    warmup: positiveInt('warmup', options.warmup, 0) ?? (quick ? 2 : 3),
    steps: positiveInt('steps', options.steps, 1) ?? (quick ? 5 : 12),
    batch: positiveInt('batch', options.batch, 2) ?? 32,
    backends: backendsAsked ?? (quick ? ['tensorflow', 'wasm'] : ['tensorflow', 'wasm', 'cpu']),
    backendsExplicit: backendsAsked !== undefined,
    models: modelsAsked ?? (quick ? ['small-cnn', 'resnet18'] : ['small-cnn', 'resnet18', 'resnet50']),
    overrides: { warmup: options.warmup !== undefined, steps: options.steps !== undefined },
  };

  const machine = {
    cpu: cpuModel(),
    cores: os.cpus().length,
    availableParallelism: os.availableParallelism(),
    node: process.version,
    platform: `${process.platform} ${process.arch}`,
    loadAverage: os.loadavg().map((v) => +v.toFixed(2)),
    totalMemoryBytes: os.totalmem(),
  };

  // This process and its step servers may all use one GPU: without memory growth the first to start
  // TensorFlow would reserve nearly all of it (set before tfjs-node loads; the children inherit it).
  Object.assign(process.env, runGpuEnv(0, undefined, process.env));
  // Which backend `auto` picks, and why (this also makes it the active backend).
  const threads = options.threads === undefined ? 'auto' : parseThreadsFlag(options.threads);
  const autoLogger = createMemoryLogger();
  const auto = await selectBackend('auto', autoLogger, { threads });
  progress(`backend auto: ${auto.name} (${auto.provider}) on ${auto.device}${auto.deviceReason ? ` (${auto.deviceReason})` : ''}`);
  const backends: BenchReport['backends'] = [];
  for (const name of KNOWN_BACKENDS) {
    if (!plan.backends.includes(name)) continue;
    try {
      const choice = await selectBackend(name as BackendName, createMemoryLogger(), { threads });
      backends.push({ name, available: true, reason: null, device: choice.device, deviceReason: choice.deviceReason ?? null });
    } catch (err) {
      const lines = (err as Error).message.split('\n').map((l) => l.trim());
      const items = lines.filter((l) => l.startsWith('- ')).map((l) => l.slice(2));
      backends.push({ name, available: false, reason: items.length > 0 ? items.join('; ') : lines[0], device: null, deviceReason: null });
    }
  }
  const usable = backends.filter((b) => b.available).map((b) => b.name as Backend);
  if (usable.length === 0) throw new UsageError(`none of the backends ${plan.backends.join(', ')} could start: ${backends.map((b) => b.reason).join('; ')}`);
  /** The ratios are the wasm backend's (fermix's own kernels) when it is measured. */
  const ratioBackend: Backend = usable.includes('wasm') ? 'wasm' : usable[0];

  // Data: the in-memory uint8 cache the Trainer gathers batches from, and the decoding figure.
  const { set, dataName, decode } = await loadData(options.data, progress);

  // Kernels first, on a fresh heap.
  const ratioChoice = await selectBackend(ratioBackend, createMemoryLogger(), { threads });
  progress(`${ratioBackend} on ${ratioChoice.threads ?? '?'} thread(s): ${ratioChoice.threadsReason ?? ''}`);
  // The heap grows on first use (slowly, and unevenly): warm it to a step's high-water mark first.
  warmHeap(registry, plan);
  const kernels = benchKernels(plan, progress);
  // Step times: each backend in a step-server process of its own, step and forward interleaved.
  const serverCommand = options.command ?? selfCommand().slice(0, -1);
  const rows: StepRow[] = [];
  for (const backend of [ratioBackend, ...usable.filter((b) => b !== ratioBackend)]) {
    rows.push(...(await benchBackendSteps(backend, plan, set, dataName, { command: serverCommand, threads }, progress)));
  }

  await selectBackend(ratioBackend, createMemoryLogger(), { threads });
  const group = benchVariants(registry, set, plan, progress);
  const profile = await profileStep(registry, set, plan);
  progress(`profile: step ${profile.stepWallMs.toFixed(0)} ms wall, ${profile.stepKernelMs.toFixed(0)} ms in kernels; forward ${profile.forwardWallMs.toFixed(0)} ms wall, ${profile.forwardKernelMs.toFixed(0)} ms in kernels`);

  // The second core: wasm trains on one thread, so two trainings (fermix sweep --parallel 2) are how both work.
  let parallelTraining: ParallelTrainingFigure | null = null;
  if (options.parallel !== false) {
    progress('two trainings side by side against one (separate fermix train processes)...');
    parallelTraining = await measureParallelTraining({ trainCommand: selfCommand(), backend: ratioBackend, epochs: quick ? 2 : 3 });
    progress(`one training ${parallelTraining.single.imagesPerSecond.toFixed(1)} images/s; two side by side ${parallelTraining.pair.totalImagesPerSecond.toFixed(1)} images/s together (${parallelTraining.throughputRatio.toFixed(2)}x), ${parallelTraining.coresBusy.toFixed(2)} cores busy`);
  }

  // The models the step-server comparisons (threads, accelerator) time, in fermix processes of their own.
  const stepServers = {
    command: serverCommand,
    threads,
    batch: plan.batch,
    models: plan.models
      .filter((m) => m === 'small-cnn' || m === 'resnet18')
      .map((model) => {
        const spec = modelSpec(model, plan, 'wasm');
        return { model, size: spec.size, warmup: Math.max(1, spec.warmup), rounds: spec.steps };
      }),
  };
  // All threads against one, each side its own process (the thread count is fixed per process).
  let threadScaling: ThreadScalingFigure | null = null;
  if (options.scaling !== false && ratioBackend === 'wasm') {
    progress('the step on all threads against one thread (two step-server processes, interleaved)...');
    threadScaling = await measureThreadScaling({ ...stepServers, progress });
    for (const r of threadScaling.rows) progress(`${r.model}: 1 thread ${r.oneThreadMs.toFixed(0)} ms, ${r.threads} threads ${r.allThreadsMs.toFixed(0)} ms (${r.speedup.toFixed(2)}x, ${r.cpuOverWall.toFixed(2)} cores busy)`);
  }

  let accelerator: AcceleratorFigure | null = null;
  let acceleratorSkipped: string | null = null;
  if (options.accelerator === false) acceleratorSkipped = 'skipped (--no-accelerator)';
  else if (ratioBackend !== 'wasm') acceleratorSkipped = 'the accelerator is for the wasm backend';
  else if (!findPackageEntry(ACCELERATOR_PACKAGE, process.cwd())) acceleratorSkipped = `${ACCELERATOR_PACKAGE} is not installed here`;
  else {
    progress('the step with the onnxruntime accelerator against wasm alone (two step-server processes, interleaved)...');
    accelerator = await measureAccelerator({ ...stepServers, progress });
    for (const r of accelerator.rows) progress(`${r.model}: wasm ${r.baseMs.toFixed(0)} ms, with onnxruntime ${r.testMs.toFixed(0)} ms (${r.speedup.toFixed(2)}x)`);
  }

  const smallRow = rows.find((r) => r.backend === ratioBackend && r.model === 'small-cnn');
  const scalingOf = (model: string) => threadScaling?.rows.find((r) => r.model === model)?.speedup ?? null;
  const multi = (ratioChoice.threads ?? 1) > 1;
  const targets: Target[] = [
    target('step / forward (small-cnn)', smallRow?.stepOverForward ?? null, '<=', 3.5),
    target('backprop-filter / matmul FLOP rate', kernels?.filterOverMatmul ?? null, '>=', 0.5),
    target('backprop-input / matmul FLOP rate', kernels?.inputOverMatmul ?? null, '>=', 0.5),
    target('mixup / vanilla', group.ratios.mixup, '<=', 1.02),
    target('mixaugment joint / vanilla', group.ratios.mixaugmentJoint, '<=', 2.05),
    target('mixaugment separate / vanilla', group.ratios.mixaugmentSeparate, '<=', 2.05),
    target('flip / vanilla', group.ratios.flip, '<=', 1.02),
    ...['cutmix', 'crop', 'color', 'erasing', 'randaugment'].map((name) => target(`${name} / vanilla`, group.variants.find((v) => v.name === name)?.overVanilla ?? null, '<=', 1.05)),
    // MixAugment's own limit (its floor of two passes of B, plus the mixing): CutMix is only another mix.
    target('mixaugment-cutmix / vanilla', group.variants.find((v) => v.name === 'mixaugment-cutmix')?.overVanilla ?? null, '<=', 2.05),
    target('fermix vanilla / hand-written', group.ratios.fermixOverHandWritten, '<=', 1.03),
    target('data wait share', group.dataWait.share, '<', 0.05),
    target('tensor growth', group.warmup > 0 ? group.memory.tensorGrowth : null, '==', 0), // without warm-up it counts Adam's slots
    target('2 trainings side by side / 1 (images/s)', parallelTraining?.throughputRatio ?? null, '>=', 1.5),
    // One training on every core: meaningful with 2 cores or more.
    target('training cpu / wall (cores busy)', multi ? group.cpuOverWall : null, '>=', 1.7),
    target('small-cnn all threads / 1 thread (images/s)', multi ? scalingOf('small-cnn') : null, '>=', 1.7),
    target('resnet18 all threads / 1 thread (images/s)', multi ? scalingOf('resnet18') : null, '>=', 1.6),
  ];
  return {
    schema: BENCH_SCHEMA,
    date: new Date().toISOString(),
    quick,
    machine,
    autoBackend: { name: auto.name, provider: auto.provider, reasons: auto.reasons, device: auto.device, deviceReason: auto.deviceReason ?? null },
    threads: ratioChoice.threads ?? 1,
    threadsReason: ratioChoice.threadsReason ?? null,
    cpuOverWall: +group.cpuOverWall.toFixed(3),
    threadScaling,
    accelerator,
    acceleratorSkipped,
    backends,
    steps: rows,
    ratioSetup: { backend: ratioBackend, model: 'small-cnn', size: SMALL_SIZE, batch: plan.batch, warmup: group.warmup, rounds: group.rounds, data: dataName },
    kernels,
    variants: group.variants,
    ratios: group.ratios,
    dataWait: group.dataWait,
    memory: group.memory,
    cores: { availableParallelism: os.availableParallelism(), ...(await wasmFlags(usable)), trainingCpuOverWall: group.cpuOverWall, decode, parallelTraining },
    profile,
    targets,
    seconds: +((performance.now() - started) / 1000).toFixed(1),
  };
}

async function wasmFlags(usable: Backend[]): Promise<{ wasmMultithread: boolean | null; wasmSimd: boolean | null }> {
  if (!usable.includes('wasm')) return { wasmMultithread: null, wasmSimd: null };
  const flag = async (name: string) => {
    try {
      return Boolean(await tf.env().getAsync(name));
    } catch {
      return null;
    }
  };
  return { wasmMultithread: (wasmBackendInfo()?.threads ?? 1) > 1, wasmSimd: await flag('WASM_HAS_SIMD_SUPPORT') };
}

function target(name: string, measured: number | null, op: Target['op'], limit: number): Target {
  const ok = (v: number) => (op === '<=' ? v <= limit : op === '>=' ? v >= limit : op === '<' ? v < limit : v === limit);
  return { name, measured: measured === null || Number.isNaN(measured) ? null : +measured.toFixed(4), op, limit, met: measured === null || Number.isNaN(measured) ? null : ok(measured) };
}

interface ModelSpec {
  size: number;
  batch: number;
  microBatch: number | undefined;
  warmup: number;
  steps: number;
}

function modelSpec(model: string, plan: Plan, backend: Backend): ModelSpec {
  const { quick, batch } = plan;
  // Big models get fewer repetitions than the mode's defaults, unless --warmup / --steps say otherwise.
  const custom = (w: number, s: number) => ({ warmup: plan.overrides.warmup ? plan.warmup : w, steps: plan.overrides.steps ? plan.steps : s });
  if (backend === 'cpu') {
    // One step (with Adam's slot creation) is all there is time for: minutes at batch 32.
    return { size: SMALL_SIZE, batch, microBatch: undefined, ...custom(0, 1) };
  }
  if (model === 'small-cnn') return { size: SMALL_SIZE, batch, microBatch: undefined, warmup: plan.warmup, steps: plan.steps };
  const size = quick && model === 'resnet18' ? 64 : 100;
  const heavy = ['resnet50', 'vgg16', 'densenet121'].includes(model);
  // wasm's heap (4 GiB) does not hold ResNet50's activations at batch 32: micro-batches of 16.
  const microBatch = backend === 'wasm' && heavy && batch > 16 ? 16 : undefined;
  return { size, batch, microBatch, ...(heavy ? custom(1, 3) : custom(1, quick ? 3 : 6)) };
}

/** Two untimed small-CNN steps: the wasm heap grows to a step's high-water mark before anything is timed. */
function warmHeap(registry: BackboneRegistry, plan: Plan): void {
  const net = buildNet(registry, 'small-cnn', SMALL_SIZE);
  const optimizer = tf.train.adam(1e-3);
  const step = createTrainStep({ model: net, optimizer });
  const { x, y } = randomBatch(plan.batch, SMALL_SIZE, 4);
  for (let i = 0; i < 2; i++) step({ x, y });
  tf.dispose([x, y]);
  optimizer.dispose();
  net.dispose();
}

function buildNet(registry: BackboneRegistry, model: string, size: number): tfl.LayersModel {
  const net = buildModel(basePlan({ backbone: model, imageSize: size, numClasses: CLASSES }), registry);
  initializeKernels(net, new Rng(1));
  return net;
}

function firstBatch(set: ImageSet, n: number): { x: tf.Tensor4D; y: tf.Tensor2D } {
  const order = new Rng(3).permutation(set.count);
  const count = Math.min(n, set.count);
  return batchTensors(gatherBatch(set, order, 0, count), set.size, CLASSES);
}

/** The first `n` images of the set (a fixed order), as a step server's setup takes them. */
function firstBatchPayload(set: ImageSet, n: number): { images: string; labels: number[] } {
  const { x, y } = firstBatch(set, n);
  const images = encodeImages(x.dataSync() as Float32Array);
  const labels = Array.from(tf.tidy(() => tf.argMax(y, 1)).dataSync());
  tf.dispose([x, y]);
  return { images, labels };
}

/**
 * One backend's step rows, timed in a step-server process of its own (a fresh process per backend:
 * nothing another backend set up in this one can help or hinder it): per model, step and
 * training-mode forward interleaved round-robin, each timed in the server through a read-back.
 */
async function benchBackendSteps(
  backend: Backend,
  plan: Plan,
  set: ImageSet,
  dataName: string,
  server: { command: string[]; threads: ThreadsSetting },
  progress: Progress,
): Promise<StepRow[]> {
  const models = plan.models.filter((m) => backend !== 'cpu' || m === 'small-cnn'); // the cpu backend's conv gradient takes minutes per step
  if (models.length === 0) return [];
  const client = new StepClient(`step server (${backend})`, [...server.command, 'step-server', '--backend', backend, '--threads', String(server.threads)]);
  const rows: StepRow[] = [];
  try {
    const ready = await client.ready();
    for (const model of models) {
      const spec = modelSpec(model, plan, backend);
      const real = set.size === spec.size && set.count >= spec.batch;
      const setup = await client.request<{ params: number; tensors: number }>({
        cmd: 'setup',
        model,
        size: spec.size,
        batch: spec.batch,
        classes: CLASSES,
        seed: 1,
        ...(spec.microBatch ? { microBatch: spec.microBatch } : {}),
        ...(real ? firstBatchPayload(set, spec.batch) : {}),
      });
      const times = new Map<string, number[]>([['step', []], ['forward', []]]);
      const order = ['step', 'forward'];
      let tensorsAfterWarmup = setup.tensors;
      let tensors = setup.tensors;
      for (let round = 0; round < spec.warmup + spec.steps; round++) {
        for (let k = 0; k < order.length; k++) {
          const cmd = order[(round + k) % order.length];
          const reply = await client.request<{ ms: number; loss?: number; tensors: number }>({ cmd });
          if (cmd === 'step' && !Number.isFinite(reply.loss)) throw new Error(`${model} on ${backend}: loss ${reply.loss}`);
          if (round >= spec.warmup) times.get(cmd)!.push(reply.ms);
          tensors = reply.tensors;
        }
        if (round === spec.warmup - 1) tensorsAfterWarmup = tensors;
      }
      const stepMs = median(times.get('step')!);
      const row: StepRow = {
        backend,
        model,
        size: spec.size,
        batch: spec.batch,
        microBatch: spec.microBatch ?? null,
        params: setup.params,
        warmup: spec.warmup,
        steps: spec.steps,
        stepMs: +stepMs.toFixed(2),
        imagesPerSecond: +((spec.batch * 1000) / stepMs).toFixed(2),
        forwardMs: +median(times.get('forward')!).toFixed(2),
        stepOverForward: +pairedRatio(times, 'step', 'forward').toFixed(3),
        tensorGrowth: spec.warmup > 0 ? tensors - tensorsAfterWarmup : null,
        data: real ? dataName : 'random',
        pid: ready.pid ?? null,
      };
      rows.push(row);
      progress(`${backend} ${model} ${spec.size}x${spec.size} batch ${spec.batch}: ${row.stepMs.toFixed(0)} ms/step, forward ${row.forwardMs.toFixed(0)} ms (own process)`);
    }
  } finally {
    client.close();
  }
  return rows;
}

/** The small CNN's convolutions (default widths 32/64/128, two 3x3 'same' convs per stage) at batch `batch`. */
function smallCnnLayers(batch: number): { layer: string; input: [number, number, number, number]; filters: number }[] {
  const layers: { layer: string; input: [number, number, number, number]; filters: number }[] = [];
  let size = SMALL_SIZE;
  let channels = 3;
  [32, 64, 128].forEach((filters, stage) => {
    for (let c = 0; c < 2; c++) {
      layers.push({ layer: `block${stage + 1}_conv${c + 1}`, input: [batch, size, size, channels], filters });
      channels = filters;
    }
    size = Math.floor(size / 2);
  });
  return layers;
}

function benchKernels(plan: Plan, progress: Progress): BenchReport['kernels'] {
  const reps = plan.overrides.steps ? plan.steps : plan.quick ? 5 : 11;
  const warmup = plan.overrides.warmup ? plan.warmup : 2;
  const engine = tf.engine();
  const out: KernelRow[] = [];
  smallCnnLayers(plan.batch).forEach(({ layer, input, filters }, index) => {
    const [n, h, w, ci] = input;
    const rng = new Rng(10 + index);
    const rand = (shape: number[]) => tf.tensor(Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => rng.uniform() - 0.5), shape);
    const x = rand(input) as tf.Tensor4D;
    const filter = rand([3, 3, ci, filters]) as tf.Tensor4D;
    const dy = rand([n, h, w, filters]) as tf.Tensor4D;
    // The same FLOPs as a GEMM: the im2col shape of this convolution.
    const a = rand([n * h * w, 9 * ci]) as tf.Tensor2D;
    const b = rand([9 * ci, filters]) as tf.Tensor2D;
    const attrs = { strides: [1, 1], pad: 'same', dataFormat: 'NHWC', dimRoundingMode: undefined };
    // Each result is read back (one element) before the clock stops: a GPU queues kernels and
    // returns at once, so without a read the time would be the dispatch, not the computation.
    const done = (t: tf.Tensor) => {
      readOne(t);
      t.dispose();
    };
    const variants = [
      { name: 'filter', run: () => done(engine.runKernel('Conv2DBackpropFilter', { x, dy }, { ...attrs, filterShape: [3, 3, ci, filters] } as never) as tf.Tensor) },
      // The first layer's input gradient is never computed in training (the images are not variables).
      ...(index === 0 ? [] : [{ name: 'input', run: () => done(engine.runKernel('Conv2DBackpropInput', { dy, filter }, { ...attrs, inputShape: input } as never) as tf.Tensor) }]),
      { name: 'conv', run: () => done(tf.conv2d(x, filter, 1, 'same')) },
      { name: 'matmul', run: () => done(tf.matMul(a, b)) },
    ];
    const times = roundRobin(variants, warmup, reps);
    tf.dispose([x, filter, dy, a, b]);
    out.push({
      layer,
      input,
      filters,
      gflop: +((2 * n * h * w * 9 * ci * filters) / 1e9).toFixed(4),
      filterMs: +median(times.get('filter')!).toFixed(3),
      inputMs: index === 0 ? null : +median(times.get('input')!).toFixed(3),
      convMs: +median(times.get('conv')!).toFixed(3),
      matmulMs: +median(times.get('matmul')!).toFixed(3),
    });
  });
  const rate = (rowsOf: KernelRow[], key: 'filterMs' | 'inputMs' | 'convMs' | 'matmulMs') => {
    const used = rowsOf.filter((r) => r[key] !== null);
    return used.reduce((s, r) => s + r.gflop, 0) / (used.reduce((s, r) => s + (r[key] as number), 0) / 1000);
  };
  const gflopsMatmul = rate(out, 'matmulMs');
  // Compare each backward kernel with the matmuls of the same layers.
  const gflopsMatmulNoFirst = rate(out.slice(1), 'matmulMs');
  const result = {
    layers: out,
    reps,
    gflopsFilter: +rate(out, 'filterMs').toFixed(3),
    gflopsInput: +rate(out, 'inputMs').toFixed(3),
    gflopsConv: +rate(out, 'convMs').toFixed(3),
    gflopsMatmul: +gflopsMatmul.toFixed(3),
    filterOverMatmul: +(rate(out, 'filterMs') / gflopsMatmul).toFixed(3),
    inputOverMatmul: +(rate(out, 'inputMs') / gflopsMatmulNoFirst).toFixed(3),
  };
  progress(`kernels: backprop filter ${result.gflopsFilter} GFLOP/s, input ${result.gflopsInput}, conv ${result.gflopsConv}, matmul ${result.gflopsMatmul}`);
  return result;
}

interface VariantGroup {
  warmup: number;
  rounds: number;
  variants: BenchReport['variants'];
  ratios: BenchReport['ratios'];
  dataWait: BenchReport['dataWait'];
  memory: BenchReport['memory'];
  cpuOverWall: number;
}

/**
 * Vanilla, mixup, mixaugment (joint, separate), flip and a hand-written tfjs step, each with its own
 * copy of the small CNN (same initial weights), round-robin on the same batch each round; the
 * batch is gathered from the uint8 cache each round, as the Trainer does (timed: the data wait).
 */
function benchVariants(registry: BackboneRegistry, set: ImageSet, plan: Plan, progress: Progress): VariantGroup {
  const warmup = plan.overrides.warmup ? plan.warmup : plan.quick ? 2 : 3;
  const rounds = plan.overrides.steps ? plan.steps : plan.quick ? 7 : 15;
  const fermixStep = (plugins: FermixPlugin[]): { step: TrainStep; dispose: () => void } => {
    const model = buildNet(registry, 'small-cnn', SMALL_SIZE);
    const optimizer = tf.train.adam(1e-3);
    return { step: createTrainStep({ model, optimizer, plugins, seed: 1 }), dispose: () => (optimizer.dispose(), model.dispose()) };
  };
  const variants = [
    { name: 'vanilla', ...fermixStep([]) },
    { name: 'mixup', ...fermixStep([mixup({ alpha: 0.2 })]) },
    { name: 'mixaugment-joint', ...fermixStep([mixaugment({ forward: 'joint' })]) },
    { name: 'mixaugment-separate', ...fermixStep([mixaugment({ forward: 'separate' })]) },
    { name: 'flip', ...fermixStep([flip()]) },
    // Issue 13's plugins, each at settings a FER recipe would use; each should cost <= 5% of a step.
    { name: 'cutmix', ...fermixStep([cutmix({ alpha: 1 })]) },
    { name: 'crop', ...fermixStep([crop({ resized: { scale: [0.8, 1] }, affine: { degrees: 10, translate: [0.05, 0.05] } })]) },
    { name: 'color', ...fermixStep([color({ brightness: 0.4, contrast: 0.4, saturation: 0.4, hue: 0.1, grayscale: 0.1 })]) },
    { name: 'erasing', ...fermixStep([erasing({ p: 0.5 })]) },
    { name: 'randaugment', ...fermixStep([randaugment({ ops: 2, magnitude: 9 })]) },
    { name: 'mixaugment-cutmix', ...fermixStep([mixaugment({ mix: 'cutmix', alpha: 1 })]) },
  ];
  // The loop a tfjs user writes by hand: the same CCE, variableGrads, applyGradients, loss read back.
  const handModel = buildNet(registry, 'small-cnn', SMALL_SIZE);
  const handOptimizer: tf.Optimizer = tf.train.adam(1e-3);
  const handVariables = handModel.trainableWeights.map((v) => v.read() as tf.Variable);

  let batch: { x: tf.Tensor4D; y: tf.Tensor2D } | null = null;
  const waits: number[] = [];
  const order = new Rng(5).permutation(set.count);
  let cursor = 0;
  let memAfterWarmup = { tensors: 0, bytes: 0, heap: null as number | null, rss: 0 };
  let cpuStart: NodeJS.CpuUsage = process.cpuUsage();
  let wallStart = 0;
  const n = Math.min(plan.batch, set.count);
  const times = roundRobin(
    [
      ...variants.map((v) => ({
        name: v.name,
        run: () => {
          const r = v.step(batch!);
          if (!Number.isFinite(r.loss)) throw new Error(`${v.name}: loss ${r.loss}`);
        },
      })),
      {
        name: 'hand-written',
        run: () => {
          const { x, y } = batch!;
          const loss = tf.tidy(() => {
            const { value, grads } = tf.variableGrads(() => {
              const p = handModel.apply(x, { training: true }) as tf.Tensor2D;
              return tf.neg(tf.mean(tf.sum(tf.mul(y, tf.log(tf.clipByValue(p, 1e-7, 1 - 1e-7))), 1))) as tf.Scalar;
            }, handVariables);
            handOptimizer.applyGradients(grads);
            return value.dataSync()[0];
          });
          if (!Number.isFinite(loss)) throw new Error(`hand-written: loss ${loss}`);
        },
      },
    ],
    warmup,
    rounds,
    {
      beforeRound: (round) => {
        if (cursor + n > set.count) cursor = 0;
        const t0 = performance.now();
        const host = gatherBatch(set, order, cursor, cursor + n);
        batch = batchTensors(host, set.size, CLASSES);
        const ms = performance.now() - t0;
        cursor += n;
        if (round >= warmup) waits.push(ms);
      },
      afterRound: (round) => {
        tf.dispose([batch!.x, batch!.y]);
        batch = null;
        progress(`round ${round + 1}/${warmup + rounds}`);
      },
      afterWarmup: () => {
        memAfterWarmup = { tensors: tf.memory().numTensors, bytes: tf.memory().numBytes, heap: wasmHeapBytes(), rss: process.memoryUsage().rss };
        cpuStart = process.cpuUsage();
        wallStart = performance.now();
      },
    },
  );
  const cpuOverWall = cpuMs(cpuStart) / (performance.now() - wallStart);
  const memory = {
    tensorsAfterWarmup: memAfterWarmup.tensors,
    tensorsAtEnd: tf.memory().numTensors,
    tensorGrowth: tf.memory().numTensors - memAfterWarmup.tensors,
    tensorBytesAfterWarmup: memAfterWarmup.bytes,
    tensorBytesAtEnd: tf.memory().numBytes,
    wasmHeapBytesAfterWarmup: memAfterWarmup.heap,
    wasmHeapBytesAtEnd: wasmHeapBytes(),
    rssAfterWarmup: memAfterWarmup.rss,
    rssAtEnd: process.memoryUsage().rss,
  };
  for (const v of variants) v.dispose();
  handOptimizer.dispose();
  handModel.dispose();

  const vanilla = times.get('vanilla')!;
  const out = [...times.entries()].map(([name, t]) => ({
    name,
    medianMs: +median(t).toFixed(2),
    minMs: +Math.min(...t).toFixed(2),
    maxMs: +Math.max(...t).toFixed(2),
    overVanilla: +pairedRatio(times, name, 'vanilla').toFixed(3),
  }));
  const batchMs = median(waits);
  const stepMs = median(vanilla);
  return {
    warmup,
    rounds,
    variants: out,
    ratios: {
      mixup: +pairedRatio(times, 'mixup', 'vanilla').toFixed(3),
      mixaugmentJoint: +pairedRatio(times, 'mixaugment-joint', 'vanilla').toFixed(3),
      mixaugmentSeparate: +pairedRatio(times, 'mixaugment-separate', 'vanilla').toFixed(3),
      flip: +pairedRatio(times, 'flip', 'vanilla').toFixed(3),
      fermixOverHandWritten: +pairedRatio(times, 'vanilla', 'hand-written').toFixed(3),
    },
    // As the Trainer counts it: waiting for the batch over the wait plus the step.
    dataWait: { batchMs: +batchMs.toFixed(3), stepMs: +stepMs.toFixed(2), share: +(batchMs / (batchMs + stepMs)).toFixed(4) },
    memory,
    cpuOverWall: +cpuOverWall.toFixed(2),
  };
}

async function profileStep(registry: BackboneRegistry, set: ImageSet, plan: Plan): Promise<BenchReport['profile']> {
  const model = buildNet(registry, 'small-cnn', SMALL_SIZE);
  const optimizer = tf.train.adam(1e-3);
  const step = createTrainStep({ model, optimizer, seed: 1 });
  const { x, y } = firstBatch(set, plan.batch);
  step({ x, y }); // Adam's slots, first-use compilation
  tf.tidy(() => (model.apply(x, { training: true }) as tf.Tensor).dataSync());
  // tf.profile returns the engine's one profile object, so each result is copied before the next.
  // Kernels named `<op>__op` are gradient wrappers (customGrad) around kernels listed on their own.
  const kernelsOf = (info: Awaited<ReturnType<typeof tf.profile>>) =>
    info.kernels.filter((k) => !k.name.endsWith('__op')).map((k) => ({ name: k.name, ms: k.kernelTimeMs as number }));
  let t0 = performance.now();
  const stepKernels = kernelsOf(
    await tf.profile(() => {
      step({ x, y });
    }),
  );
  const stepWallMs = performance.now() - t0;
  t0 = performance.now();
  const forwardKernels = kernelsOf(
    await tf.profile(() => {
      tf.tidy(() => (model.apply(x, { training: true }) as tf.Tensor).dataSync());
    }),
  );
  const forwardWallMs = performance.now() - t0;
  tf.dispose([x, y]);
  optimizer.dispose();
  model.dispose();
  const total = (list: { ms: number }[]) => list.reduce((sum, k) => sum + k.ms, 0);
  const byName = new Map<string, { calls: number; ms: number }>();
  for (const k of stepKernels) {
    const e = byName.get(k.name) ?? { calls: 0, ms: 0 };
    e.calls++;
    e.ms += k.ms;
    byName.set(k.name, e);
  }
  const stepKernelMs = total(stepKernels);
  const kernels = [...byName.entries()]
    .map(([kernel, e]) => ({ kernel, calls: e.calls, ms: +e.ms.toFixed(2), share: +(e.ms / stepWallMs).toFixed(4) }))
    .sort((a, b) => b.ms - a.ms);
  return {
    stepWallMs: +stepWallMs.toFixed(2),
    stepKernelMs: +stepKernelMs.toFixed(2),
    forwardWallMs: +forwardWallMs.toFixed(2),
    forwardKernelMs: +total(forwardKernels).toFixed(2),
    kernels,
  };
}

async function loadData(option: string | undefined, progress: Progress): Promise<{ set: ImageSet; dataName: string; decode: BenchReport['cores']['decode'] }> {
  const root = option === 'synthetic' ? undefined : option !== undefined ? option : defaultDataCandidates().map((p) => path.resolve(p)).find((p) => existsSync(path.join(p, 'train')));
  if (option !== undefined && option !== 'synthetic' && !(existsSync(option) && statSync(option).isDirectory())) {
    throw new UsageError(`--data: ${option} is not a folder (expected <root>/<split>/<class>/*.png, or "synthetic")`);
  }
  if (!root) {
    const set = await createSyntheticSource({ seed: 1, trainPerClass: 40 }).load('train', { imageSize: SMALL_SIZE, logger: createMemoryLogger() });
    progress(`data: synthetic (${set.count} images)`);
    return { set, dataName: 'synthetic', decode: null };
  }
  const logger = createMemoryLogger();
  const workers = Math.min(4, os.availableParallelism());
  const load = async (w: number) => {
    const cpu = process.cpuUsage();
    const t0 = performance.now();
    const set = await createImageFolderSource({ root, workers: w }).load('train', { imageSize: SMALL_SIZE, logger });
    const wall = performance.now() - t0;
    return { set, wall, cpuOverWall: cpuMs(cpu) / wall };
  };
  await load(0); // warms the file cache and the decoder's JIT for both measurements
  const inProcess: { wall: number; cpuOverWall: number }[] = [];
  const pooled: { wall: number; cpuOverWall: number }[] = [];
  let set: ImageSet | undefined;
  for (let round = 0; round < 2; round++) {
    for (const w of round % 2 ? [0, workers] : [workers, 0]) {
      const r = await load(w);
      (w === 0 ? inProcess : pooled).push(r);
      set = r.set;
    }
  }
  const inProcessMs = median(inProcess.map((r) => r.wall));
  const workersMs = median(pooled.map((r) => r.wall));
  const decode = {
    files: set!.count + set!.skipped.length,
    size: SMALL_SIZE,
    workers,
    inProcessMs: +inProcessMs.toFixed(1),
    inProcessCpuOverWall: +median(inProcess.map((r) => r.cpuOverWall)).toFixed(2),
    workersMs: +workersMs.toFixed(1),
    workersCpuOverWall: +median(pooled.map((r) => r.cpuOverWall)).toFixed(2),
    speedup: +(inProcessMs / workersMs).toFixed(2),
  };
  progress(`data: ${root} train, ${set!.count} images; decode ${decode.inProcessMs} ms in-process, ${decode.workersMs} ms with ${workers} workers`);
  return { set: set!, dataName: path.basename(root), decode };
}

// ---------------------------------------------------------------------------------------------
// Output
// ---------------------------------------------------------------------------------------------

function table(header: string[], rows: (string | number)[][], rightAlign: boolean[]): string {
  const cells = rows.map((r) => r.map(String));
  const widths = header.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i].length)));
  const line = (c: string[]) => c.map((v, i) => (rightAlign[i] ? v.padStart(widths[i]) : v.padEnd(widths[i]))).join('  ').trimEnd();
  return [line(header), ...cells.map(line)].join('\n');
}

const fixed = (v: number | null, digits: number) => (v === null || Number.isNaN(v) ? '-' : v.toFixed(digits));
const mib = (b: number | null) => (b === null ? '-' : `${(b / 2 ** 20).toFixed(1)} MiB`);

/** The report as text tables. */
export function formatBenchReport(r: BenchReport): string {
  const parts: string[] = [];
  const m = r.machine;
  parts.push(
    `fermix bench${r.quick ? ' --quick' : ''}: ${r.date}\n` +
      `${m.cpu}, ${m.availableParallelism} cores available, node ${m.node}, ${m.platform}, load average ${m.loadAverage.join(' ')} (at start)\n` +
      `backend auto -> ${r.autoBackend.name} (${r.autoBackend.provider}) on ${r.autoBackend.device}${r.autoBackend.deviceReason ? ` (${r.autoBackend.deviceReason})` : ''}: ${r.autoBackend.reasons.join('; ') || 'first choice'}\n` +
      r.backends.map((b) => (b.available ? `backend ${b.name}: measured, on ${b.device}${b.deviceReason ? ` (${b.deviceReason})` : ''}\n` : '')).join('') +
      r.backends.filter((b) => !b.available).map((b) => `backend ${b.name}: not measured (${b.reason})\n`).join('').trimEnd(),
  );
  parts.push(
    'training steps (each backend in a process of its own; median after warm-up; forward = model.apply in training mode, read back; step/forward = median of per-round ratios)\n' +
      table(
        ['backend', 'model', 'input', 'batch', 'params', 'warm+timed', 'step ms', 'images/s', 'forward ms', 'step/fwd', 'tensor growth', 'data'],
        r.steps.map((s) => [s.backend, s.model, `${s.size}x${s.size}`, s.microBatch ? `${s.batch}/${s.microBatch}` : s.batch, s.params.toLocaleString('en-US'), `${s.warmup}+${s.steps}`, fixed(s.stepMs, 0), fixed(s.imagesPerSecond, 1), fixed(s.forwardMs, 0), fixed(s.stepOverForward, 2), s.tensorGrowth ?? '-', s.data]),
        [false, false, false, true, true, true, true, true, true, true, true, false],
      ),
  );
  const rs = r.ratioSetup;
  if (r.kernels) {
    const k = r.kernels;
    parts.push(
      `kernels (${rs.backend}, the small CNN's 3x3 convolutions at batch ${rs.batch}; median of ${k.reps}; matmul = the same FLOPs as an im2col GEMM)\n` +
        table(
          ['layer', 'input', 'Cout', 'GFLOP', 'filter-grad ms', 'input-grad ms', 'conv ms', 'matmul ms'],
          k.layers.map((l) => [l.layer, l.input.join('x'), l.filters, fixed(l.gflop, 3), fixed(l.filterMs, 1), fixed(l.inputMs, 1), fixed(l.convMs, 1), fixed(l.matmulMs, 1)]),
          [false, false, true, true, true, true, true, true],
        ) +
        `\nGFLOP/s: backprop filter ${fixed(k.gflopsFilter, 2)}, backprop input ${fixed(k.gflopsInput, 2)}, forward conv ${fixed(k.gflopsConv, 2)}, matmul ${fixed(k.gflopsMatmul, 2)}` +
        ` -> filter/matmul ${fixed(k.filterOverMatmul, 2)}, input/matmul ${fixed(k.inputOverMatmul, 2)}`,
    );
  }
  parts.push(
    `variants (${rs.backend}, ${rs.model} ${rs.size}x${rs.size} batch ${rs.batch}, ${rs.data} batches gathered each round; ${rs.warmup} warm-up + ${rs.rounds} rounds round-robin; x vanilla = median of per-round ratios)\n` +
      table(
        ['variant', 'median ms', 'min ms', 'max ms', 'x vanilla'],
        r.variants.map((v) => [v.name, fixed(v.medianMs, 0), fixed(v.minMs, 0), fixed(v.maxMs, 0), fixed(v.overVanilla, 3)]),
        [false, true, true, true, true],
      ) +
      `\nfermix vanilla / hand-written tfjs step: ${fixed(r.ratios.fermixOverHandWritten, 3)}` +
      `\ndata wait: ${fixed(r.dataWait.batchMs, 2)} ms to gather a batch from the uint8 cache vs ${fixed(r.dataWait.stepMs, 0)} ms per step = ${fixed(r.dataWait.share * 100, 2)} %`,
  );
  const mem = r.memory;
  parts.push(
    `memory over the variant rounds (after warm-up -> end): tensors ${mem.tensorsAfterWarmup} -> ${mem.tensorsAtEnd} (growth ${mem.tensorGrowth}), ` +
      `tensor bytes ${mib(mem.tensorBytesAfterWarmup)} -> ${mib(mem.tensorBytesAtEnd)}, wasm heap ${mib(mem.wasmHeapBytesAfterWarmup)} -> ${mib(mem.wasmHeapBytesAtEnd)}, rss ${mib(mem.rssAfterWarmup)} -> ${mib(mem.rssAtEnd)}`,
  );
  const p = r.profile;
  const top = p.kernels.slice(0, 10);
  const rest = p.kernels.slice(10).reduce((sum, k) => sum + k.ms, 0);
  parts.push(
    `profile of one vanilla step (${rs.backend}, ${rs.model} batch ${rs.batch}; tf.profile, one run): step ${fixed(p.stepWallMs, 0)} ms wall, ${fixed(p.stepKernelMs, 0)} ms in kernels; ` +
      `training-mode forward ${fixed(p.forwardWallMs, 0)} ms wall, ${fixed(p.forwardKernelMs, 0)} ms in kernels\n` +
      // tfjs-node's time() is the wall time around a kernel's launch: on a GPU that is the dispatch.
      (rs.backend === 'tensorflow' ? 'on tensorflow each kernel is timed without waiting for it (tfjs-node\'s time() measures the launch): on a GPU these are dispatch times, not compute\n' : '') +
      table(
        ['kernel', 'calls', 'ms', '% of step'],
        [
          ...top.map((k) => [k.kernel, k.calls, fixed(k.ms, 1), fixed(k.share * 100, 1)]),
          [`${p.kernels.length - top.length} other kernels`, p.kernels.slice(10).reduce((n, k) => n + k.calls, 0), fixed(rest, 1), fixed((rest / p.stepWallMs) * 100, 1)],
          ['outside kernels (JS)', '', fixed(p.stepWallMs - p.stepKernelMs, 1), fixed(((p.stepWallMs - p.stepKernelMs) / p.stepWallMs) * 100, 1)],
        ],
        [false, true, true, true],
      ),
  );
  const sc = r.threadScaling;
  if (sc) {
    parts.push(
      `threads (${rs.backend}; each side a step-server process, steps interleaved; speed-up = median of per-round 1-thread / all-threads; cores busy = process CPU / wall)\n` +
        table(
          ['model', 'input', 'batch', 'rounds', '1 thread ms', 'threads', 'all ms', 'speed-up', 'cores busy', 'same losses'],
          sc.rows.map((x) => [x.model, `${x.size}x${x.size}`, x.batch, `${x.warmup}+${x.rounds}`, fixed(x.oneThreadMs, 0), x.threads, fixed(x.allThreadsMs, 0), fixed(x.speedup, 2), fixed(x.cpuOverWall, 2), x.sameLosses ? 'yes' : 'NO']),
          [false, false, true, false, true, true, true, true, true, false],
        ),
    );
  }
  if (r.accelerator) {
    const a = r.accelerator;
    parts.push(
      `accelerator (${a.accelerator ? `onnxruntime ${a.accelerator.version}: ${a.accelerator.kernels.join(', ')} on ${a.accelerator.threads} thread(s)` : 'onnxruntime'}; against wasm alone on ${a.threads} thread(s), each side a step-server process, interleaved)\n` +
        table(
          ['model', 'input', 'batch', 'rounds', 'wasm ms', 'onnxruntime ms', 'speed-up', 'max loss diff'],
          a.rows.map((x) => [x.model, `${x.size}x${x.size}`, x.batch, `${x.warmup}+${x.rounds}`, fixed(x.baseMs, 0), fixed(x.testMs, 0), fixed(x.speedup, 2), x.maxLossDifference.toExponential(1)]),
          [false, false, true, false, true, true, true, true],
        ),
    );
  } else parts.push(`accelerator: not measured (${r.acceleratorSkipped ?? 'unknown'})`);
  const d = r.cores.decode;
  parts.push(
    `cores: ${r.cores.availableParallelism} available; ${rs.backend} on ${r.threads} thread(s) (${r.threadsReason ?? 'unknown'}); training steps use ${fixed(r.cores.trainingCpuOverWall, 2)} cores (process CPU time / wall time)` +
      (r.cores.wasmMultithread === null ? '' : `; wasm threaded build ${r.cores.wasmMultithread ? 'on' : 'off'}, SIMD ${r.cores.wasmSimd ? 'on' : 'off'}`) +
      (d
        ? `\ndecoding ${d.files} files to ${d.size}x${d.size}: in-process ${fixed(d.inProcessMs, 0)} ms (${fixed(d.inProcessCpuOverWall, 2)} cores), ` +
          `${d.workers} workers ${fixed(d.workersMs, 0)} ms (${fixed(d.workersCpuOverWall, 2)} cores), speed-up ${fixed(d.speedup, 2)}x`
        : '\ndecoding: not measured (synthetic data)') +
      (r.cores.parallelTraining
        ? `\ntwo trainings side by side (fermix sweep --parallel 2): ${fixed(r.cores.parallelTraining.pair.totalImagesPerSecond, 1)} images/s together against ${fixed(r.cores.parallelTraining.single.imagesPerSecond, 1)} for one ` +
          `(${fixed(r.cores.parallelTraining.throughputRatio, 2)}x), ${fixed(r.cores.parallelTraining.coresBusy, 2)} cores busy (small-cnn ${r.cores.parallelTraining.config.imageSize}x${r.cores.parallelTraining.config.imageSize}, ${r.cores.parallelTraining.config.images} images, batch 32)`
        : '\ntwo trainings side by side: not measured (--no-parallel)'),
  );
  parts.push(
    'targets\n' +
      table(
        ['target', 'measured', 'limit', 'met'],
        r.targets.map((t) => [t.name, fixed(t.measured, Number.isInteger(t.limit) && t.op === '==' ? 0 : 3), `${t.op} ${t.limit}`, t.met === null ? 'n/a' : t.met ? 'yes' : 'NO']),
        [false, true, false, false],
      ),
  );
  parts.push(`${r.seconds} s`);
  return parts.join('\n\n') + '\n';
}

/**
 * `fermix bench [--quick] [--json file] [--backends wasm,cpu] [--models small-cnn,resnet18,resnet50]`:
 * prints the tables (progress on stderr) and writes the JSON report when asked.
 */
export async function benchCommand(options: BenchCommandOptions = {}, out: NodeJS.WritableStream = process.stdout, err: NodeJS.WritableStream = process.stderr): Promise<number> {
  const report = await runBench(options, (message) => err.write(`[bench] ${message}\n`));
  out.write(formatBenchReport(report));
  if (options.json) {
    const file = path.resolve(options.json);
    mkdirSync(path.dirname(file), { recursive: true });
    writeFileSync(file, JSON.stringify(report, null, 2) + '\n');
    err.write(`[bench] wrote ${file}\n`);
  }
  return 0;
}
