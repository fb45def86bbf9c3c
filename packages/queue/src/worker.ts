import { hostname } from 'node:os';
import { UnrecoverableError, WaitingError, Worker, type Job } from 'bullmq';
import { checkConnection, redact, type QueueConnection } from './connection.js';
import { runJobProblem, type RunJobData } from './jobs.js';
import { DEFAULT_QUEUE } from './queue.js';

/** What a worker's `run` function gets for one job. */
export interface ActiveRun {
  data: RunJobData;
  jobId: string;
  /** 1 for the first attempt. */
  attempt: number;
  maxAttempts: number;
  /** The lock token of this attempt: unique to it, so it fences the run folder (see `RunLock` in @fermix/core). */
  token: string;
  /** Tells `--status` where the run is; Redis being away is not an error here. */
  reportProgress(progress: { epoch: number; epochs: number }): void;
  /** Puts the job back to waiting (not counted as an attempt): call it, then return what it returns. */
  giveBack(): Promise<never>;
}

export interface RunWorkerOptions {
  connection: QueueConnection;
  queue?: string;
  /** Shown in `--status` and stored on each job it runs (default `host:pid`). */
  name?: string;
  /** Runs at once. */
  concurrency: number;
  /**
   * How long a job stays with a worker that stopped renewing its lock (killed, frozen, cut off)
   * before the stalled-job check hands it to another worker; renewed every half of it.
   */
  lockSeconds: number;
  /** Times a job may be taken back from a stalled worker before it is marked failed. */
  maxStalls?: number;
  /** Does the job: resolves with what the job returns when it succeeded, throws when it failed. */
  run: (run: ActiveRun) => Promise<unknown>;
  /** Called after a job completed, failed for good, or was given back (e.g. to rewrite sweep.json). */
  onSettled?: (data: RunJobData) => void;
  log: (level: 'info' | 'warn' | 'error', message: string) => void;
}

export interface RunWorker {
  name: string;
  /** Stops taking jobs and waits for the running ones to end (each `run` must end on its own). */
  close(): Promise<void>;
}

/** Default times a stalled job is taken back before it fails: a killed worker is not the run's fault. */
export const DEFAULT_MAX_STALLS = 5;

/**
 * Checks the address, then takes jobs from the queue, `concurrency` at a time, and hands each to
 * `options.run`. Retries with backoff, stalled-job detection and reconnecting after Redis restarts
 * are BullMQ's and ioredis's. A job whose data is not a fermix run fails without a retry.
 */
export async function startRunWorker(options: RunWorkerOptions): Promise<RunWorker> {
  const { connection, log } = options;
  await checkConnection(connection);
  const name = options.name ?? `${hostname()}:${process.pid}`;
  const lockDuration = Math.max(1000, Math.round(options.lockSeconds * 1000));
  const worker = new Worker<RunJobData>(
    options.queue ?? DEFAULT_QUEUE,
    async (job: Job<RunJobData>, token?: string) => {
      const problem = runJobProblem(job.data);
      if (problem) throw new UnrecoverableError(`job ${job.id} is not a fermix run: ${problem}`);
      const run: ActiveRun = {
        data: job.data,
        jobId: job.id!,
        attempt: job.attemptsMade + 1,
        maxAttempts: job.opts.attempts ?? 1,
        token: token!,
        reportProgress: (progress) => {
          job.updateProgress(progress).catch((err: Error) => log('warn', `progress of ${job.id} not stored: ${redact(err.message, connection)}`));
        },
        giveBack: async () => {
          await job.moveToWait(token);
          throw new WaitingError();
        },
      };
      return options.run(run);
    },
    {
      connection: connection.options,
      name,
      concurrency: options.concurrency,
      lockDuration,
      stalledInterval: lockDuration,
      maxStalledCount: options.maxStalls ?? DEFAULT_MAX_STALLS,
      autorun: false,
    },
  );
  let lastError = '';
  worker.on('error', (err) => {
    const message = redact(err.message, connection);
    // ioredis repeats a lost connection once per retry: one line until the message changes.
    if (message !== lastError) log('warn', `queue: ${message}`);
    lastError = message;
  });
  worker.on('ready', () => {
    if (lastError) log('info', 'queue: connected again');
    lastError = '';
  });
  worker.on('completed', (job) => options.onSettled?.(job.data));
  worker.on('failed', (job, err) => {
    if (!job) return;
    const final = job.attemptsMade >= (job.opts.attempts ?? 1) || err instanceof UnrecoverableError || err.name === 'UnrecoverableError';
    const firstLine = redact(err.message, connection).split('\n')[0];
    log(final ? 'error' : 'warn', `${job.id}: attempt ${job.attemptsMade} of ${job.opts.attempts ?? 1} failed: ${firstLine}${final ? '; marked failed' : '; retried after a backoff'}`);
    options.onSettled?.(job.data);
  });
  worker.on('stalled', (jobId) => log('warn', `${jobId}: its worker stopped answering; the job goes back to the queue`));
  void worker.run().catch((err: Error) => log('error', `queue: ${redact(err.message, connection)}`));
  await worker.waitUntilReady();
  return {
    name,
    close: () => worker.close(),
  };
}
