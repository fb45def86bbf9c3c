import path from 'node:path';
import { isRunDir, newRunDir, readRunLock, Trainer } from '@fermix/core';
import { createReporter } from '../progress.js';
import { dryRunTrain, formatDryRun } from './dry-run.js';
import { openSession } from '../setup.js';
import { listenForStop } from '../stop-signals.js';

export interface TrainCommandOptions {
  config?: string;
  out?: string;
  resume?: boolean;
  threads?: string;
  accelerator?: string;
  /** Set everything up (config, plugins, data index, model) and stop before training; nothing is written. */
  dryRun?: boolean;
}

/** `fermix train`: one run into a run folder. Returns the process exit code. */
export async function trainCommand(options: TrainCommandOptions): Promise<number> {
  const reporter = createReporter();
  const { logger } = reporter;
  const session = await openSession(options.config, logger, { threads: options.threads, accelerator: options.accelerator });
  if (options.dryRun) {
    process.stdout.write(formatDryRun(await dryRunTrain(session, logger)));
    return 0;
  }
  const runDir = path.resolve(options.out ?? newRunDir(path.resolve('runs')));
  if (!options.resume && isRunDir(runDir)) {
    throw new UsageError(`run folder ${runDir} already holds a run; continue it with --resume, or choose another --out (nothing was changed)`);
  }
  logger.info(`run folder: ${runDir}`);
  const signals = listenForStop(logger, 'stopping after this step; the last epoch checkpoint stays (continue with --resume); press Ctrl-C again to quit now');
  // Started by `fermix sweep` (an IPC channel): if the sweep dies, even by kill -9, stop the same way.
  const onOrphaned = () => signals.stop('the fermix sweep or worker that started this run is gone: stopping after this step; the last epoch checkpoint stays');
  if (process.send) {
    process.channel?.unref();
    process.once('disconnect', onOrphaned);
  }
  // Started by `fermix worker`: the run folder's lock names this attempt; another attempt's lock means stop.
  const token = process.env.FERMIX_RUN_LOCK;
  let epochSent = -1;
  try {
    const trainer = new Trainer({
      ...session,
      runDir,
      resume: options.resume,
      onProgress: (e) => {
        reporter.onProgress(e);
        // The worker that started this run shows its epoch in `fermix sweep --status`.
        if (process.send && process.connected && e.epoch !== epochSent) {
          epochSent = e.epoch;
          process.send({ type: 'fermix-progress', epoch: e.epoch + 1, epochs: e.epochs });
        }
      },
      onDownloadProgress: (p) => reporter.onDownload(p),
      shouldStop: () => signals.stopping,
      ...(token ? { ownsRunDir: () => readRunLock(runDir)?.token === token } : {}),
    });
    const { metrics } = await trainer.run();
    reporter.done();
    if (metrics.interrupted) {
      logger.warn(`interrupted; continue with: fermix train${options.config ? ` -c ${options.config}` : ''} --out ${runDir} --resume`);
      return 130;
    }
    process.stdout.write(
      `accuracy ${(metrics.accuracy * 100).toFixed(2)}%  macro F1 ${(metrics.macroF1 * 100).toFixed(2)}%  average accuracy ${(metrics.averageAccuracy * 100).toFixed(2)}%  (best epoch ${metrics.bestEpoch + 1} of ${metrics.epochsRun}, ${metrics.seconds.toFixed(1)} s)\n` +
        `run folder: ${runDir}\n`,
    );
    return 0;
  } finally {
    reporter.done();
    signals.release();
    process.off('disconnect', onOrphaned);
  }
}

/** A mistake in how fermix was called: printed without a stack trace. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}
