import { existsSync } from 'node:fs';
import path from 'node:path';
import { isRunDir } from '@fermix/core';
import { readSweepFile } from '../sweep/spec.js';
import { parseGpus, runSweep } from '../sweep/runner.js';
import { createReporter } from '../progress.js';
import { UsageError } from './train.js';
import { listenForStop } from '../stop-signals.js';

export interface SweepCommandOptions {
  config?: string;
  out?: string;
  parallel?: string;
  /** `--gpus 0,1`: pin runs to these GPUs, round-robin (CUDA_VISIBLE_DEVICES). */
  gpus?: string;
  dryRun?: boolean;
  /** redis://... : enqueue the runs for `fermix worker`s instead of running them here. */
  queue?: string;
  /** With --queue: show where each run stands instead of enqueuing. */
  status?: boolean;
  maxAttempts?: string;
  backoff?: string;
}

function positiveNumber(flag: string, value: string | undefined, fallback: number, integer: boolean): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isFinite(n) || (integer ? !Number.isInteger(n) || n < 1 : n < 0)) {
    throw new UsageError(`${flag} expects ${integer ? 'an integer >= 1' : 'a number of seconds >= 0'}, got "${value}"`);
  }
  return n;
}

/** `fermix sweep`: every combination of a grid, each run a folder; resumable. Returns the exit code. */
export async function sweepCommand(options: SweepCommandOptions): Promise<number> {
  if (!options.config) throw new UsageError('fermix sweep needs the sweep file: fermix sweep -c sweep.yaml');
  const sweep = readSweepFile(options.config);
  const parallel = options.parallel === undefined ? (sweep.spec.parallel ?? 1) : Number(options.parallel);
  if (!Number.isInteger(parallel) || parallel < 1) throw new UsageError(`--parallel expects an integer >= 1, got "${options.parallel}"`);
  const gpus = options.gpus === undefined ? undefined : parseGpus(options.gpus);
  const out = path.resolve(
    options.out ?? (sweep.spec.out ? path.resolve(sweep.dir, sweep.spec.out) : path.join('runs', path.basename(sweep.file).replace(/(\.sweep)?\.ya?ml$/, ''))),
  );
  if (options.dryRun) {
    process.stdout.write(`${sweep.runs.length} runs into ${out}:\n`);
    for (const run of sweep.runs) process.stdout.write(`  ${run.name}\n`);
    return 0;
  }
  if (options.status && !options.queue) throw new UsageError('--status reads a queued sweep: give the queue too (fermix sweep -c <file> --queue redis://host:6379/0 --status)');
  // Not for --status, which only reads the queue.
  if (!options.status) {
    const missing = missingWeights(sweep.runs.map((r) => r.config));
    if (missing.length > 0) {
      throw new UsageError(
        `the runs of this sweep start from model.weights ${missing.join(', ')}: ${missing.length > 1 ? 'they are' : 'it is'} not there yet, or the run that writes it has not finished ` +
          `(no metrics.json). Train that run first (a fine-tuning chain: fermix train -c <stage 1 config> --out <its folder>), then start the sweep again (nothing was started)`,
      );
    }
  }
  if (options.queue) return queuedSweep(options, sweep, out);
  const { logger } = createReporter();
  const signals = listenForStop(logger, 'stopping the sweep: each run stops after its current step and keeps its last checkpoint; start the same command again to resume');
  try {
    const result = await runSweep({ sweep, out, parallel, logger, gpus }, () => signals.stopping);
    const finished = result.state.runs.filter((r) => r.status === 'finished').length;
    const inv = result.state.lastInvocation;
    process.stdout.write(
      `${finished} of ${result.state.runs.length} runs finished` +
        (inv && inv.runs > 0 ? `; this invocation: ${inv.runs} runs in ${inv.wallSeconds.toFixed(0)} s wall, ${inv.cpuSeconds.toFixed(0)} s CPU (${(inv.cpuSeconds / inv.wallSeconds).toFixed(2)} cores busy on average)` : '') +
        `\nsweep folder: ${out}\n`,
    );
    if (result.failed.length > 0) {
      process.stderr.write(`fermix: ${result.failed.length} run(s) failed: ${result.failed.map((r) => r.name).join(', ')}; see <run>/train.out. Start the sweep again to retry them.\n`);
      return 1;
    }
    if (result.interrupted) {
      process.stderr.write(`fermix: interrupted; continue with: fermix sweep -c ${options.config}${options.out ? ` --out ${options.out}` : ''}\n`);
      return 130;
    }
    process.stdout.write(`tables and the HTML report: fermix report ${out}\n`);
    return 0;
  } finally {
    signals.release();
  }
}

/**
 * The `model.weights` paths of run configs (absolute in a sweep) that are not ready: absent, or the
 * checkpoint folder (`<run>/checkpoints/<name>`) of a run that has not finished (no metrics.json):
 * a chain's earlier stage not trained yet, whose `best` may still change.
 */
export function missingWeights(configs: Record<string, unknown>[]): string[] {
  const paths = configs.map((c) => (c.model as { weights?: unknown } | undefined)?.weights).filter((w): w is string => typeof w === 'string' && w !== 'imagenet');
  const unfinishedRun = (w: string) => {
    const run = path.dirname(path.dirname(w));
    return path.basename(path.dirname(w)) === 'checkpoints' && isRunDir(run) && !existsSync(path.join(run, 'metrics.json'));
  };
  return [...new Set(paths)].filter((w) => !existsSync(w) || unfinishedRun(w));
}

/** `--queue`: enqueue every unfinished run (or, with --status, show where each stands). BullMQ loads only here. */
async function queuedSweep(options: SweepCommandOptions, sweep: ReturnType<typeof readSweepFile>, out: string): Promise<number> {
  const { enqueueSweep, formatStatus, sweepStatus } = await import('../sweep/distributed.js');
  const url = options.queue!;
  if (options.status) {
    const state = await sweepStatus({ out, url });
    process.stdout.write(`sweep folder: ${out}\n${formatStatus(state)}`);
    return 0;
  }
  const maxAttempts = positiveNumber('--max-attempts', options.maxAttempts, 3, true);
  const backoffSeconds = positiveNumber('--backoff', options.backoff, 30, false);
  const { logger } = createReporter();
  const { state, result, where } = await enqueueSweep({ sweep, out, url, maxAttempts, backoffSeconds, logger });
  const finished = state.runs.filter((r) => r.status === 'finished').length;
  process.stdout.write(
    `${state.runs.length} runs: ${finished} finished, ${result.added.length} enqueued, ${result.queued.length} already queued, ${result.retried.length} enqueued again after failing\n` +
      `sweep folder: ${out}\nrun them with: fermix worker --queue ${where}   (on any machine that sees ${out}; the password from the URL or FERMIX_REDIS_PASSWORD)\n` +
      `where they stand: fermix sweep -c ${options.config} --queue ${where} --status\n`,
  );
  return 0;
}
