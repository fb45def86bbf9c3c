/**
 * Sweeps through a Redis job queue: `fermix sweep --queue` enqueues, `fermix worker` runs, `--status`
 * reads. Loaded only when `--queue` is given, so a plain `fermix` never loads BullMQ.
 */
import { appendFileSync, existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { hostname } from 'node:os';
import path from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { readRunLock, runLockFile, runPaths, writeRunLock, type Logger } from '@fermix/core';
import {
  DEFAULT_QUEUE,
  parseQueueUrl,
  PASSWORD_ENV,
  redact,
  runFiles,
  RunQueue,
  startRunWorker,
  sweepIdOf,
  type ActiveRun,
  type EnqueueResult,
  type RunJobData,
  type RunJobView,
} from '@fermix/queue';
import type { SweepSpec } from './spec.js';
import { initialSweepState, pct, runThreadsEnv, saveSweepState, spawnTrain, summaryOf, tail, workerRunEnv, type SweepRunRecord, type SweepState } from './runner.js';
import { UsageError } from '../commands/train.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A worker that takes over a run folder from another attempt waits this long before it starts the run, so a write the old process began is over. */
export const TAKEOVER_GRACE_MS = 2000;

function readSweepState(out: string): SweepState | undefined {
  try {
    return JSON.parse(readFileSync(path.join(out, 'sweep.json'), 'utf8')) as SweepState;
  } catch {
    return undefined;
  }
}

/**
 * A run's record from its folder and its job: finished when its metrics.json is there (whatever
 * the queue says), otherwise what the job's state says. Pure apart from reading the run folder.
 */
export function applyJob(record: SweepRunRecord, job: RunJobView | undefined, out: string): SweepRunRecord {
  const dir = path.join(out, record.dir);
  const { name, settings, dir: relDir, config } = record;
  const base = { name, settings, dir: relDir, config, ...(job ? { attempts: job.attemptsMade + (job.state === 'active' ? 1 : 0) } : {}) };
  if (existsSync(runPaths(dir).metrics)) return { ...base, status: 'finished', ...summaryOf(dir), ...(job?.worker ? { worker: job.worker } : {}) };
  if (!job) return { ...base, status: 'pending' };
  switch (job.state) {
    case 'active':
      return { ...base, status: 'running', ...(job.worker ? { worker: job.worker } : {}), ...(job.epoch ? { epoch: job.epoch, epochs: job.epochs } : {}) };
    case 'failed':
      return { ...base, status: 'failed', ...(job.worker ? { worker: job.worker } : {}), error: job.failedReason ?? 'failed' };
    case 'completed':
      return { ...base, status: 'failed', error: `its job completed, but ${runPaths(dir).metrics} is missing; enqueue the sweep again to run it again` };
    default:
      // waiting, delayed (a retry waiting out its backoff), prioritized, paused
      return { ...base, status: 'pending', ...(job.failedReason && job.attemptsMade > 0 ? { error: job.failedReason } : {}) };
  }
}

async function updateFromJobs(queue: RunQueue, out: string, state: SweepState): Promise<SweepState> {
  const sweep = state.queue?.sweep ?? sweepIdOf(out);
  const jobs = await queue.jobsOf(sweep, state.runs.map((r) => r.name));
  state.runs = state.runs.map((record) => applyJob(record, jobs.get(record.name), out));
  return state;
}

/** Rewrites `<out>/sweep.json` from the run folders and the jobs; undefined when the sweep was never enqueued. */
export async function refreshSweepState(queue: RunQueue, out: string): Promise<SweepState | undefined> {
  return queue.withSweepLock(sweepIdOf(out), async () => {
    const state = readSweepState(out);
    if (!state?.queue) return undefined;
    await updateFromJobs(queue, out, state);
    saveSweepState(out, state);
    return state;
  });
}

export interface EnqueueSweepOptions {
  sweep: SweepSpec;
  out: string;
  url: string;
  maxAttempts: number;
  backoffSeconds: number;
  logger: Logger;
}

/** `fermix sweep --queue`: writes the run configs and sweep.json, and one job per unfinished run. */
export async function enqueueSweep(options: EnqueueSweepOptions): Promise<{ state: SweepState; result: EnqueueResult; where: string }> {
  const { sweep, out, logger } = options;
  const connection = parseQueueUrl(options.url);
  const queue = await RunQueue.open(connection);
  try {
    mkdirSync(out, { recursive: true });
    const id = sweepIdOf(out);
    return await queue.withSweepLock(id, async () => {
      const state = initialSweepState(sweep, out);
      state.queue = { where: connection.where, name: DEFAULT_QUEUE, sweep: id };
      const runs: RunJobData[] = state.runs
        .filter((r) => r.status !== 'finished')
        .map((r) => ({ schema: 'fermix-run/1', sweep: id, out, run: r.name, settings: r.settings }));
      const result = await queue.enqueue(runs, { maxAttempts: options.maxAttempts, backoffSeconds: options.backoffSeconds }, (run) =>
        existsSync(runPaths(runFiles(run).dir).metrics),
      );
      await updateFromJobs(queue, out, state);
      saveSweepState(out, state);
      const finished = state.runs.length - runs.length;
      logger.info(
        `sweep ${id}: ${state.runs.length} runs, ${finished} already finished; ${result.added.length} enqueued, ${result.queued.length} already in the queue, ${result.retried.length} failed before and enqueued again`,
        { queue: connection.where },
      );
      return { state, result, where: connection.where };
    });
  } finally {
    await queue.close();
  }
}

const STATUS_WORD: Record<SweepRunRecord['status'], string> = { pending: 'waiting', running: 'active', finished: 'finished', failed: 'failed', interrupted: 'waiting' };

/** One line per run, as `--status` prints them: status, name, and where it stands. */
export function formatStatus(state: SweepState): string {
  const width = Math.max(...state.runs.map((r) => r.name.length), 4);
  const lines = state.runs.map((r) => {
    const firstLine = (text?: string) => (text ?? '').split('\n').find((l) => l.trim() !== '') ?? '';
    let detail = '';
    if (r.status === 'finished') detail = `accuracy ${pct(r.accuracy)}, macro F1 ${pct(r.macroF1)}, average accuracy ${pct(r.averageAccuracy)}${r.worker ? ` (${r.worker})` : ''}`;
    else if (r.status === 'running') detail = `on ${r.worker ?? '?'}${r.epoch ? `, epoch ${r.epoch}/${r.epochs}` : ', starting'}${(r.attempts ?? 1) > 1 ? `, attempt ${r.attempts}` : ''}`;
    else if (r.status === 'failed') detail = `after ${r.attempts ?? '?'} attempt(s): ${firstLine(r.error)}`;
    else if (r.error) detail = `retry after attempt ${r.attempts ?? '?'} failed: ${firstLine(r.error)}`;
    else if (r.attempts === undefined) detail = 'not enqueued';
    return `  ${STATUS_WORD[r.status].padEnd(8)}  ${r.name.padEnd(width)}  ${detail}`.trimEnd();
  });
  const count = (s: SweepRunRecord['status'][]) => state.runs.filter((r) => s.includes(r.status)).length;
  lines.push(`${state.runs.length} runs: ${count(['finished'])} finished, ${count(['running'])} active, ${count(['pending', 'interrupted'])} waiting, ${count(['failed'])} failed`);
  return lines.join('\n') + '\n';
}

/** `fermix sweep --queue ... --status`: sweep.json brought up to date from the queue, and printed. */
export async function sweepStatus(options: { out: string; url: string }): Promise<SweepState> {
  const connection = parseQueueUrl(options.url);
  const queue = await RunQueue.open(connection);
  try {
    const state = await refreshSweepState(queue, options.out);
    if (!state) throw new UsageError(`the sweep in ${options.out} was not enqueued (no sweep.json with a queue); enqueue it with fermix sweep -c <file> --queue <url>`);
    return state;
  } finally {
    await queue.close();
  }
}

export interface WorkerCommandOptions {
  url: string;
  concurrency: number;
  name?: string;
  lockSeconds: number;
  logger: Logger;
  /** True once Ctrl-C (or SIGTERM) asked the worker to stop. */
  shouldStop: () => boolean;
  /** The command that runs `fermix train` (default: this very program). */
  trainCommand?: string[];
}

/**
 * `fermix worker`: takes runs from the queue until Ctrl-C, each a `fermix train` process writing its
 * run folder on the shared storage, `concurrency` at a time on an even share of the cores. Ctrl-C
 * stops the runs after their step and puts their jobs back. Returns the exit code.
 */
export async function runWorker(options: WorkerCommandOptions): Promise<number> {
  const { logger, concurrency } = options;
  const connection = parseQueueUrl(options.url);
  const queue = await RunQueue.open(connection);
  const log = (level: 'info' | 'warn' | 'error', message: string) => logger[level](redact(message, connection));
  const children = new Set<ChildProcess>();
  let givenBack = 0;
  try {
    const folders = await queue.foldersToRun();
    const missing = folders.filter((f) => !existsSync(f));
    if (missing.length > 0) {
      throw new UsageError(
        `this machine (${hostname()}) does not see the sweep folder${missing.length > 1 ? 's' : ''} ${missing.join(', ')} that queued runs write to. ` +
          'Every worker must see each sweep\'s out folder at the same path (shared storage: NFS, SMB or a mounted bucket); mount it here, or start workers only where it is mounted',
      );
    }
    const refresh = coalesced((out: string) => refreshSweepState(queue, out).then(() => undefined), (err) => log('warn', `sweep.json not updated: ${err.message}`));
    const threads = runThreadsEnv(concurrency, process.env);
    if (threads.FERMIX_THREADS) logger.info(`each run's wasm backend gets ${threads.FERMIX_THREADS} thread(s): ${threads.FERMIX_THREADS_WHY}`);

    const name = options.name ?? `${hostname()}:${process.pid}`;
    const worker = await startRunWorker({
      connection,
      name,
      concurrency,
      lockSeconds: options.lockSeconds,
      log,
      onSettled: (data) => refresh(data.out),
      run: async (run) => {
        if (options.shouldStop()) return run.giveBack();
        const outcome = await trainRun(run, { ...options, workerName: name, children, refresh, log });
        if (outcome === 'give-back') {
          givenBack++;
          log('info', `${run.jobId}: stopped after its step; the job is back in the queue for any worker`);
          try {
            return await run.giveBack();
          } finally {
            refresh(run.data.out);
          }
        }
        return outcome;
      },
    });
    logger.info(`worker ${worker.name} takes runs from ${connection.where}, ${concurrency} at a time; Ctrl-C stops its runs after their step and puts their jobs back`);
    while (!options.shouldStop()) await sleep(200);
    for (const child of children) child.kill('SIGINT');
    await worker.close();
    await refresh.idle();
    logger.info(`worker ${worker.name} stopped${givenBack ? `; ${givenBack} run(s) went back to the queue` : ''}`);
    return givenBack > 0 ? 130 : 0;
  } finally {
    await queue.close();
  }
}

interface TrainRunContext extends WorkerCommandOptions {
  workerName: string;
  children: Set<ChildProcess>;
  refresh: (out: string) => void;
  log: (level: 'info' | 'warn' | 'error', message: string) => void;
}

/** One attempt of one run: take the run folder's lock, train (resuming what is there), give the lock up. */
async function trainRun(run: ActiveRun, ctx: TrainRunContext): Promise<Partial<SweepRunRecord> | 'give-back'> {
  const { data } = run;
  const { config, dir } = runFiles(data);
  if (!existsSync(data.out)) {
    throw new Error(`the sweep folder ${data.out} is not on ${hostname()}: every worker must see it at the same path (shared storage: NFS, SMB or a mounted bucket)`);
  }
  if (!existsSync(config)) throw new Error(`the run's config ${config} is missing; enqueue the sweep again to write it`);
  if (existsSync(runPaths(dir).metrics)) {
    ctx.log('info', `${run.jobId}: already finished (${runPaths(dir).metrics}); nothing to do`);
    return summaryOf(dir);
  }
  mkdirSync(dir, { recursive: true });
  const previous = writeRunLock(dir, { token: run.token, worker: ctx.workerName, job: run.jobId, attempt: run.attempt, since: new Date().toISOString() });
  if (previous && previous.token !== run.token) {
    ctx.log('warn', `${run.jobId}: taking the run folder over from ${previous.worker} (attempt ${previous.attempt}), whose process stops before its next write`);
    await sleep(TAKEOVER_GRACE_MS);
  }
  if (ctx.shouldStop()) {
    rmSync(runLockFile(dir), { force: true });
    return 'give-back';
  }
  appendFileSync(path.join(dir, 'train.out'), `[fermix worker] ${ctx.workerName}: job ${run.jobId}, attempt ${run.attempt} of ${run.maxAttempts}\n`);
  const { child, resume, outFile } = spawnTrain({
    trainCommand: ctx.trainCommand,
    config,
    dir,
    // The run never needs the queue's password.
    env: workerRunEnv(data.run, ctx.concurrency, run.token, withoutPassword(process.env)),
  });
  ctx.children.add(child);
  ctx.log('info', `${resume ? 'resuming' : 'starting'} ${data.run} (job ${run.jobId}, attempt ${run.attempt} of ${run.maxAttempts})`);
  ctx.refresh(data.out);
  child.on('message', (raw: unknown) => {
    const message = raw as { type?: string; epoch?: number; epochs?: number } | null;
    if (message?.type !== 'fermix-progress' || typeof message.epoch !== 'number') return;
    run.reportProgress({ epoch: message.epoch, epochs: message.epochs ?? 0 });
    ctx.refresh(data.out);
  });
  const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve) => child.once('exit', (c, s) => resolve([c, s])));
  ctx.children.delete(child);
  const holder = readRunLock(dir);
  if (holder?.token !== run.token) {
    throw new Error(`${holder ? `${holder.worker} took the run over (attempt ${holder.attempt})` : 'the run folder lost its lock'}; this attempt stopped without writing`);
  }
  rmSync(runLockFile(dir), { force: true });
  if (code === 0 && existsSync(runPaths(dir).metrics)) {
    const summary = summaryOf(dir);
    ctx.log('info', `finished ${data.run}: accuracy ${pct(summary.accuracy)}, macro F1 ${pct(summary.macroF1)}, average accuracy ${pct(summary.averageAccuracy)}`);
    return summary;
  }
  if (ctx.shouldStop()) return 'give-back';
  throw new Error(`fermix train exited with ${code ?? signal}; the end of its output (${outFile}):\n${tail(outFile)}`);
}

function withoutPassword(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const copy = { ...env };
  delete copy[PASSWORD_ENV];
  return copy;
}

/**
 * `fn(key)` at most once at a time per key, with one more call queued when asked again meanwhile,
 * so a burst of progress events costs one rewrite of sweep.json. `idle()` waits for all of them.
 */
function coalesced(fn: (key: string) => Promise<void>, onError: (err: Error) => void): ((key: string) => void) & { idle(): Promise<void> } {
  const running = new Map<string, Promise<void>>();
  const again = new Set<string>();
  const start = (key: string) => {
    const p = fn(key)
      .catch(onError)
      .finally(() => {
        running.delete(key);
        if (again.delete(key)) start(key);
      });
    running.set(key, p);
  };
  const call = (key: string) => {
    if (running.has(key)) again.add(key);
    else start(key);
  };
  return Object.assign(call, {
    async idle() {
      while (running.size > 0) await Promise.all([...running.values()]);
    },
  });
}
