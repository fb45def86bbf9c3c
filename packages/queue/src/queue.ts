import { randomUUID } from 'node:crypto';
import { Queue, type Job } from 'bullmq';
import type { Redis } from 'ioredis';
import { checkConnection, type QueueConnection } from './connection.js';
import { jobIdOf, type RunJobData } from './jobs.js';

/** The queue's name in Redis when none is given. */
export const DEFAULT_QUEUE = 'fermix-runs';

/** Where a run's job stands, as `fermix sweep --status` shows it. */
export interface RunJobView {
  id: string;
  /** BullMQ's state: waiting, delayed (a retry waiting out its backoff), active, completed, failed... */
  state: string;
  /** Attempts that ended (failed); the next attempt is number attemptsMade + 1. */
  attemptsMade: number;
  maxAttempts: number;
  /** The worker that runs it (active) or ran it last. */
  worker?: string;
  /** The epoch the active run is in (1-based) and the epochs it has. */
  epoch?: number;
  epochs?: number;
  /** Why the last attempt failed: the end of the run's output. */
  failedReason?: string;
}

export interface EnqueueOptions {
  /** Attempts before a run is marked failed (1 = no retry). */
  maxAttempts: number;
  /** Wait before the first retry; doubled for each later one (BullMQ's exponential backoff). */
  backoffSeconds: number;
}

export interface EnqueueResult {
  /** Runs that got a new job. */
  added: string[];
  /** Runs whose job was already waiting, delayed or active: left alone. */
  queued: string[];
  /** Runs whose job had failed: given all their attempts again. */
  retried: string[];
}

/** The producer side: enqueue runs, read their jobs. Open with `RunQueue.open`. */
export class RunQueue {
  private constructor(
    readonly queue: Queue<RunJobData>,
    readonly connection: QueueConnection,
  ) {}

  /** Checks the address (a clear error for a wrong password or an unreachable Redis), then opens the queue. */
  static async open(connection: QueueConnection, name: string = DEFAULT_QUEUE): Promise<RunQueue> {
    await checkConnection(connection);
    const queue = new Queue<RunJobData>(name, { connection: connection.options });
    queue.on('error', () => {}); // reconnects are ioredis's; callers see failures on their own calls
    await queue.waitUntilReady();
    return new RunQueue(queue, connection);
  }

  /**
   * One job per run, its id made from the sweep and the run name: a run already waiting, delayed or
   * active is left alone (enqueuing twice makes no second job), a failed one is retried from its
   * first attempt, a completed one whose run folder lost its result (`isFinished` false) is replaced.
   */
  async enqueue(runs: RunJobData[], options: EnqueueOptions, isFinished: (run: RunJobData) => boolean): Promise<EnqueueResult> {
    const result: EnqueueResult = { added: [], queued: [], retried: [] };
    for (const data of runs) {
      const id = jobIdOf(data.sweep, data.run);
      const existing = await this.queue.getJob(id);
      if (existing) {
        const state = await existing.getState();
        if (state === 'failed') {
          await existing.retry('failed', { resetAttemptsMade: true, resetAttemptsStarted: true });
          result.retried.push(data.run);
          continue;
        }
        if (state !== 'completed' || isFinished(data)) {
          result.queued.push(data.run);
          continue;
        }
        await existing.remove();
      }
      await this.queue.add('run', data, {
        jobId: id,
        attempts: options.maxAttempts,
        backoff: { type: 'exponential', delay: Math.round(options.backoffSeconds * 1000) },
        removeOnComplete: false,
        removeOnFail: false,
      });
      result.added.push(data.run);
    }
    return result;
  }

  /** The jobs of a sweep's runs, by run name (runs never enqueued are absent). */
  async jobsOf(sweep: string, runs: string[]): Promise<Map<string, RunJobView>> {
    const views = await Promise.all(runs.map(async (run) => [run, await this.viewOf(jobIdOf(sweep, run))] as const));
    return new Map(views.filter((v): v is readonly [string, RunJobView] => v[1] !== undefined));
  }

  /**
   * The state first, then the job's fields: read the other way round, a job that failed its last
   * attempt in between showed state 'failed' with the previous attempt's count and reason. Fields
   * read after a final state (completed, failed) are final.
   */
  private async viewOf(id: string): Promise<RunJobView | undefined> {
    const state = await this.queue.getJobState(id);
    if (state === 'unknown') return undefined;
    const job: Job<RunJobData> | undefined = await this.queue.getJob(id);
    if (!job?.id) return undefined;
    const progress = typeof job.progress === 'object' && job.progress !== null ? (job.progress as { epoch?: number; epochs?: number }) : {};
    return {
      id: job.id,
      state,
      attemptsMade: job.attemptsMade,
      maxAttempts: job.opts.attempts ?? 1,
      ...(job.processedBy ? { worker: job.processedBy } : {}),
      ...(state === 'active' && typeof progress.epoch === 'number' ? { epoch: progress.epoch, epochs: progress.epochs } : {}),
      ...(job.failedReason ? { failedReason: job.failedReason } : {}),
    };
  }

  /** The sweep folders of every job still to run (waiting, delayed, active): what a worker must see. */
  async foldersToRun(): Promise<string[]> {
    const jobs = await this.queue.getJobs(['waiting', 'delayed', 'active', 'prioritized', 'paused']);
    return [...new Set(jobs.filter((j) => j?.data?.out).map((j) => j.data.out))].sort();
  }

  /**
   * Runs `fn` while holding a short Redis lock named after the sweep, so the processes that rewrite
   * its `sweep.json` (workers, `fermix sweep`) take turns. Gives up waiting after `waitMs` and runs
   * `fn` anyway: the file is rewritten whole, from Redis, by whoever writes it.
   */
  async withSweepLock<T>(sweep: string, fn: () => Promise<T> | T, waitMs = 10_000): Promise<T> {
    // BullMQ 5 connects through ioredis: its client is an ioredis Redis under BullMQ's narrower type.
    return withRedisLock((await this.queue.client) as unknown as Redis, `${this.queue.qualifiedName}:sweep-lock:${sweep}`, fn, waitMs);
  }

  async close(): Promise<void> {
    await this.queue.close();
  }
}

const RELEASE = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end";

/** `fn` while holding the Redis lock `key` (SET NX PX, released only by its holder's token). */
export async function withRedisLock<T>(client: Redis, key: string, fn: () => Promise<T> | T, waitMs: number): Promise<T> {
  const token = randomUUID();
  const until = Date.now() + waitMs;
  let held = false;
  while (!held && Date.now() < until) {
    held = (await client.set(key, token, 'PX', 15_000, 'NX')) === 'OK';
    if (!held) await new Promise((r) => setTimeout(r, 50));
  }
  try {
    return await fn();
  } finally {
    if (held) await client.eval(RELEASE, 1, key, token).catch(() => {});
  }
}
