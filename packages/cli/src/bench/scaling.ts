/**
 * Thread scaling: the same training step on all threads against one thread, each side its own
 * step-server process (the wasm backend's thread count is fixed per process), steps interleaved.
 */
import { interleaveSteps, StepClient, type InterleavedSide } from './step-server.js';

export interface ThreadScalingRow {
  model: string;
  size: number;
  batch: number;
  warmup: number;
  rounds: number;
  /** Threads of the "all" side, as its backend reported them (the thread pool plus the calling thread). */
  threads: number;
  oneThreadMs: number;
  allThreadsMs: number;
  /** Median over rounds of (1-thread step ms / all-threads step ms) = the gain in images/s. */
  speedup: number;
  /** The all-threads side's process CPU time over wall time during its timed steps: cores kept busy. */
  cpuOverWall: number;
  oneThreadCpuOverWall: number;
  /** The two sides' losses agree step by step (bit-identical kernels). */
  sameLosses: boolean;
}

export interface ThreadScalingFigure {
  threads: number;
  threadsReason: string | null;
  rows: ThreadScalingRow[];
}

function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

const sum = (v: number[]) => v.reduce((a, b) => a + b, 0);

/** `command`: argv that starts `fermix` (without a subcommand). */
export async function measureThreadScaling(options: {
  command: string[];
  threads: number | 'auto';
  batch: number;
  models: { model: string; size: number; warmup: number; rounds: number }[];
  progress?: (m: string) => void;
}): Promise<ThreadScalingFigure> {
  const rows: ThreadScalingRow[] = [];
  let threads = 1;
  let threadsReason: string | null = null;
  for (const m of options.models) {
    const server = (t: number | 'auto') => [...options.command, 'step-server', '--backend', 'wasm', '--threads', String(t)];
    const one = new StepClient('1 thread', server(1));
    const all = new StepClient('all threads', server(options.threads));
    let sides: InterleavedSide[];
    try {
      sides = await interleaveSteps(
        [
          { label: 'one', client: one },
          { label: 'all', client: all },
        ],
        { model: m.model, size: m.size, batch: options.batch },
        m.warmup,
        m.rounds,
        options.progress,
      );
    } finally {
      one.close();
      all.close();
    }
    const [s1, sN] = sides;
    threads = sN.ready.threads ?? 1;
    threadsReason = sN.ready.threadsReason ?? null;
    rows.push({
      model: m.model,
      size: m.size,
      batch: options.batch,
      warmup: m.warmup,
      rounds: m.rounds,
      threads,
      oneThreadMs: +median(s1.ms).toFixed(2),
      allThreadsMs: +median(sN.ms).toFixed(2),
      speedup: +median(s1.ms.map((t, i) => t / sN.ms[i])).toFixed(3),
      cpuOverWall: +(sum(sN.cpuMs) / sum(sN.ms)).toFixed(3),
      oneThreadCpuOverWall: +(sum(s1.cpuMs) / sum(s1.ms)).toFixed(3),
      sameLosses: s1.losses.length === sN.losses.length && s1.losses.every((l, i) => l === sN.losses[i]),
    });
  }
  return { threads, threadsReason, rows };
}
