import { spawn } from 'node:child_process';
import { runGpuEnv, runThreadsEnv } from '../sweep/runner.js';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

/**
 * Two trainings side by side, as `fermix sweep --parallel 2` runs them, against one alone: wasm
 * computes on one thread in Node, so a second process is how a second core trains.
 */
export interface ParallelTrainingFigure {
  /** Training images/s of the last epoch of one run alone (the mean of one before and one after the pair). */
  single: { imagesPerSecond: number; cpuOverWall: number };
  /** The same of each of two runs started together, and their sum. */
  pair: { imagesPerSecond: [number, number]; cpuOverWall: [number, number]; totalImagesPerSecond: number };
  /** Sum of the pair's images/s over the single run's: ~2 when the second core does as much as the first. */
  throughputRatio: number;
  /** CPU seconds of both processes of the pair over the pair's wall time: cores kept busy. */
  coresBusy: number;
  config: { imageSize: number; images: number; epochs: number; batchSize: number; backbone: string };
}

export interface ParallelTrainingOptions {
  /** argv that runs `fermix train` (e.g. selfCommand() of the sweep runner). */
  trainCommand: string[];
  imageSize?: number;
  perClass?: number;
  epochs?: number;
  backend?: string;
}

interface RunFigures {
  imagesPerSecond: number;
  cpuSeconds: number;
  seconds: number;
}

function config(o: Required<Omit<ParallelTrainingOptions, 'trainCommand'>>): string {
  return [
    'seed: 1',
    `backend: ${o.backend}`,
    'data:',
    '  format: synthetic',
    `  imageSize: ${o.imageSize}`,
    `  trainPerClass: ${o.perClass}`,
    '  testPerClass: 4',
    'model:',
    '  backbone: small-cnn',
    '  options: { widths: [16, 32, 64], convsPerStage: 2 }',
    'train:',
    `  epochs: ${o.epochs}`,
    '  batchSize: 32',
    '  earlyStopping: false',
    '  bnRecalibrationBatches: 2',
    '',
  ].join('\n');
}

/**
 * `parallel`: how many trainings run at once; each gets the share of the cores, and the GPU
 * variables (memory growth), that `fermix sweep` would give it.
 */
function train(command: string[], configFile: string, out: string, parallel: number): Promise<RunFigures> {
  return new Promise((resolve, reject) => {
    const child = spawn(command[0], [...command.slice(1), '-c', configFile, '--out', out], { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, ...runThreadsEnv(parallel, process.env), ...runGpuEnv(0, undefined, process.env), CI: 'true' } });
    let stderr = '';
    child.stderr!.on('data', (d) => (stderr += d));
    child.once('error', reject);
    child.once('exit', (code) => {
      if (code !== 0) return reject(new Error(`fermix train exited ${code}: ${stderr.trim().split('\n').slice(-5).join('\n')}`));
      const m = JSON.parse(readFileSync(path.join(out, 'metrics.json'), 'utf8'));
      const last = m.history[m.history.length - 1];
      resolve({ imagesPerSecond: last.imagesPerSecond, cpuSeconds: m.cpuSeconds, seconds: m.seconds });
    });
  });
}

/** One training alone, then two at once, each its own process; figures from their metrics.json. */
export async function measureParallelTraining(options: ParallelTrainingOptions): Promise<ParallelTrainingFigure> {
  const o = { imageSize: options.imageSize ?? 48, perClass: options.perClass ?? 64, epochs: options.epochs ?? 2, backend: options.backend ?? 'wasm' };
  const dir = mkdtempSync(path.join(os.tmpdir(), 'fermix-bench-parallel-'));
  try {
    const file = path.join(dir, 'train.yaml');
    writeFileSync(file, config(o));
    // One alone before and after the pair, averaged: a load that comes and goes skews both sides alike.
    const before = await train(options.trainCommand, file, path.join(dir, 'single-1'), 1);
    const t0 = performance.now();
    const [a, b] = await Promise.all([train(options.trainCommand, file, path.join(dir, 'a'), 2), train(options.trainCommand, file, path.join(dir, 'b'), 2)]);
    const wall = (performance.now() - t0) / 1000;
    const after = await train(options.trainCommand, file, path.join(dir, 'single-2'), 1);
    const single = {
      imagesPerSecond: (before.imagesPerSecond + after.imagesPerSecond) / 2,
      cpuSeconds: before.cpuSeconds + after.cpuSeconds,
      seconds: before.seconds + after.seconds,
    };
    const total = a.imagesPerSecond + b.imagesPerSecond;
    return {
      single: { imagesPerSecond: single.imagesPerSecond, cpuOverWall: single.cpuSeconds / single.seconds },
      pair: { imagesPerSecond: [a.imagesPerSecond, b.imagesPerSecond], cpuOverWall: [a.cpuSeconds / a.seconds, b.cpuSeconds / b.seconds], totalImagesPerSecond: total },
      throughputRatio: total / single.imagesPerSecond,
      coresBusy: (a.cpuSeconds + b.cpuSeconds) / wall,
      config: { imageSize: o.imageSize, images: o.perClass * 7, epochs: o.epochs, batchSize: 32, backbone: 'small-cnn [16, 32, 64]' },
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
