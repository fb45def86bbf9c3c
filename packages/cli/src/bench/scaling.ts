/**
 * Two ways of running the same training step, each in a step-server process of its own (the wasm
 * backend's thread count and kernels are fixed per process), steps interleaved: all threads
 * against one thread, and the onnxruntime accelerator against wasm alone.
 */
import { interleaveSteps, StepClient, type InterleavedSide } from './step-server.js';

export interface PairRow {
  model: string;
  size: number;
  batch: number;
  warmup: number;
  rounds: number;
  /** Median step ms of the baseline side and of the side under test. */
  baseMs: number;
  testMs: number;
  /** Median over rounds of (baseline ms / tested ms): the gain in images/s. */
  speedup: number;
  /** Process CPU time over wall time during the timed steps, each side. */
  baseCpuOverWall: number;
  testCpuOverWall: number;
  /** Largest relative difference between the two sides' losses, step by step (0: bit-identical). */
  maxLossDifference: number;
}

export interface ThreadScalingRow extends PairRow {
  /** Threads of the "all" side, as its backend reported them. */
  threads: number;
  oneThreadMs: number;
  allThreadsMs: number;
  cpuOverWall: number;
  oneThreadCpuOverWall: number;
  /** The two sides' losses agree step by step, bit for bit. */
  sameLosses: boolean;
}

export interface ThreadScalingFigure {
  threads: number;
  threadsReason: string | null;
  rows: ThreadScalingRow[];
}

export interface AcceleratorFigure {
  /** What the accelerated side reported: onnxruntime version, kernels, ORT threads. */
  accelerator: { name: string; version: string; kernels: string[]; threads: number } | null;
  threads: number;
  rows: PairRow[];
}

type ModelPlan = { model: string; size: number; warmup: number; rounds: number };

function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

const sum = (v: number[]) => v.reduce((a, b) => a + b, 0);

/** Runs `base` and `test` step servers (extra argv each) side by side for each model. */
async function comparePair(
  command: string[],
  base: string[],
  test: string[],
  batch: number,
  models: ModelPlan[],
  progress?: (m: string) => void,
): Promise<{ rows: PairRow[]; testReady: InterleavedSide['ready'] | null }> {
  const rows: PairRow[] = [];
  let testReady: InterleavedSide['ready'] | null = null;
  for (const m of models) {
    const server = (extra: string[]) => [...command, 'step-server', '--backend', 'wasm', ...extra];
    const a = new StepClient(`step server ${base.join(' ')}`, server(base));
    const b = new StepClient(`step server ${test.join(' ')}`, server(test));
    let sides: InterleavedSide[];
    try {
      sides = await interleaveSteps(
        [
          { label: 'base', client: a },
          { label: 'test', client: b },
        ],
        { model: m.model, size: m.size, batch },
        m.warmup,
        m.rounds,
        progress,
      );
    } finally {
      a.close();
      b.close();
    }
    const [sa, sb] = sides;
    testReady = sb.ready;
    rows.push({
      model: m.model,
      size: m.size,
      batch,
      warmup: m.warmup,
      rounds: m.rounds,
      baseMs: +median(sa.ms).toFixed(2),
      testMs: +median(sb.ms).toFixed(2),
      speedup: +median(sa.ms.map((t, i) => t / sb.ms[i])).toFixed(3),
      baseCpuOverWall: +(sum(sa.cpuMs) / sum(sa.ms)).toFixed(3),
      testCpuOverWall: +(sum(sb.cpuMs) / sum(sb.ms)).toFixed(3),
      maxLossDifference: Math.max(0, ...sa.losses.map((l, i) => Math.abs(l - sb.losses[i]) / Math.max(1e-12, Math.abs(l)))),
    });
  }
  return { rows, testReady };
}

/** `command`: argv that starts `fermix` (without a subcommand). */
export async function measureThreadScaling(options: {
  command: string[];
  threads: number | 'auto';
  batch: number;
  models: ModelPlan[];
  progress?: (m: string) => void;
}): Promise<ThreadScalingFigure> {
  const { rows, testReady } = await comparePair(options.command, ['--threads', '1'], ['--threads', String(options.threads)], options.batch, options.models, options.progress);
  const threads = testReady?.threads ?? 1;
  return {
    threads,
    threadsReason: testReady?.threadsReason ?? null,
    rows: rows.map((r) => ({
      ...r,
      threads,
      oneThreadMs: r.baseMs,
      allThreadsMs: r.testMs,
      cpuOverWall: r.testCpuOverWall,
      oneThreadCpuOverWall: r.baseCpuOverWall,
      sameLosses: r.maxLossDifference === 0,
    })),
  };
}

/** The accelerator against wasm alone, both on `threads` threads. */
export async function measureAccelerator(options: {
  command: string[];
  threads: number | 'auto';
  batch: number;
  models: ModelPlan[];
  progress?: (m: string) => void;
}): Promise<AcceleratorFigure> {
  const t = ['--threads', String(options.threads)];
  const { rows, testReady } = await comparePair(options.command, t, [...t, '--accelerator', 'onnxruntime'], options.batch, options.models, options.progress);
  const acc = (testReady?.accelerator ?? null) as AcceleratorFigure['accelerator'];
  return { accelerator: acc, threads: testReady?.threads ?? 1, rows };
}
