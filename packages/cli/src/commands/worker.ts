import { createReporter } from '../progress.js';
import { listenForStop } from '../stop-signals.js';
import { UsageError } from './train.js';

export interface WorkerCommandFlags {
  queue?: string;
  concurrency?: string;
  name?: string;
  lockSeconds?: string;
}

/** `fermix worker`: runs queued sweep runs until Ctrl-C. Returns the exit code. */
export async function workerCommand(flags: WorkerCommandFlags): Promise<number> {
  if (!flags.queue) throw new UsageError('fermix worker needs the queue: fermix worker --queue redis://host:6379/0');
  const concurrency = Number(flags.concurrency ?? 1);
  if (!Number.isInteger(concurrency) || concurrency < 1) throw new UsageError(`--concurrency expects an integer >= 1, got "${flags.concurrency}"`);
  const lockSeconds = Number(flags.lockSeconds ?? 30);
  if (!Number.isFinite(lockSeconds) || lockSeconds < 1) throw new UsageError(`--lock-seconds expects a number of seconds >= 1, got "${flags.lockSeconds}"`);
  const { runWorker } = await import('../sweep/distributed.js');
  const { logger } = createReporter();
  const signals = listenForStop(logger, 'stopping the worker: its runs stop after their current step and their jobs go back to the queue; press Ctrl-C again to quit now');
  try {
    return await runWorker({ url: flags.queue, concurrency, name: flags.name, lockSeconds, logger, shouldStop: () => signals.stopping });
  } finally {
    signals.release();
  }
}
