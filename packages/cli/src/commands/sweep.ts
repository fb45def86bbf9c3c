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
  const missing = missingWeights(sweep.runs.map((r) => r.config));
  if (missing.length > 0) {
    throw new UsageError(
      `the runs of this sweep start from model.weights ${missing.join(', ')}: ${missing.length > 1 ? 'they are' : 'it is'} not there yet, or the run that writes it has not finished ` +
        `(no metrics.json). Train that run first (a fine-tuning chain: fermix train -c <stage 1 config> --out <its folder>), then start the sweep again (nothing was started)`,
    );
  }
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
