import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { availableCores, isRunDir, runPaths, splitCores, writeFileAtomic, type Logger } from '@fermix/core';
import type { SweepRun, SweepSpec } from './spec.js';
import { writeRunConfig } from './spec.js';
import { UsageError } from '../commands/train.js';

export type RunStatus = 'pending' | 'running' | 'finished' | 'failed' | 'interrupted';

/** One run in `sweep.json`. */
export interface SweepRunRecord {
  name: string;
  settings: SweepRun['settings'];
  /** Run folder, relative to the sweep folder. */
  dir: string;
  /** Config file, relative to the sweep folder. */
  config: string;
  status: RunStatus;
  /** How the last attempt started: fresh, or resumed from its folder. */
  started?: 'fresh' | 'resumed';
  /** The GPU the last attempt was pinned to (--gpus), as CUDA_VISIBLE_DEVICES names it. */
  gpu?: string;
  exitCode?: number | null;
  seconds?: number;
  /** CPU seconds the run's process used (user + system), from its metrics.json. */
  cpuSeconds?: number;
  accuracy?: number;
  macroF1?: number;
  averageAccuracy?: number;
  /** The last lines the run printed, when it failed. */
  error?: string;
  /** Queued sweeps: the worker that runs it (running) or ran it (finished, failed). */
  worker?: string;
  /** Queued sweeps, a running run: the epoch it is in (1-based) and the epochs it has. */
  epoch?: number;
  epochs?: number;
  /** Queued sweeps: attempts started so far (retries after a failure count; a job given back does not). */
  attempts?: number;
}

/** `sweep.json`: what the sweep is and where each run stands. Rewritten whole after every change. */
export interface SweepState {
  schema: 'fermix-sweep/1';
  sweepFile: string;
  base: string;
  grid: Record<string, unknown>;
  /** Runs at once (a local sweep); absent for a queued sweep, whose workers choose. */
  parallel?: number;
  /** A queued sweep: where its jobs are (the address without its password) and the sweep's id there. */
  queue?: { where: string; name: string; sweep: string };
  updated: string;
  runs: SweepRunRecord[];
  /** Wall time of the last invocation and the CPU time its runs used: cpu / wall = cores kept busy. */
  lastInvocation?: { wallSeconds: number; cpuSeconds: number; runs: number };
}

export interface SweepRunnerOptions {
  sweep: SweepSpec;
  out: string;
  parallel: number;
  logger: Logger;
  /** The command that runs `fermix train` (argv without the train arguments). Default: this very program. */
  trainCommand?: string[];
  /** Extra environment for the runs. */
  env?: NodeJS.ProcessEnv;
  /** GPUs to pin runs to (`--gpus 0,1`): the run in slot k of `parallel` sees only gpus[k mod n] (CUDA_VISIBLE_DEVICES). */
  gpus?: string[];
}

export interface SweepResult {
  state: SweepState;
  interrupted: boolean;
  failed: SweepRunRecord[];
}

/**
 * The cores split between the runs that train at once: FERMIX_THREADS for each run (its config's
 * `threads: auto` takes it), unless the user set FERMIX_THREADS already.
 */
export function runThreadsEnv(parallel: number, env: NodeJS.ProcessEnv, cores: number = availableCores()): Record<string, string> {
  if (env.FERMIX_THREADS) return {};
  const threads = splitCores(parallel, cores);
  return { FERMIX_THREADS: String(threads), FERMIX_THREADS_WHY: `${cores} core${cores === 1 ? '' : 's'} shared by ${parallel} run${parallel === 1 ? '' : 's'} at a time` };
}

/**
 * The GPU variables of a run's process (fermix sweep's runs; workers call it too). TensorFlow
 * reserves nearly all of a GPU's memory for the first process that touches it, so a second run on
 * the same card fails: TF_FORCE_GPU_ALLOW_GROWTH=true makes each take what it needs, unless the user
 * set it. With `gpus`, the run in slot `slot` (0 to parallel - 1; a finished run's slot goes to the
 * next run) sees only gpus[slot mod gpus.length], round-robin, through CUDA_VISIBLE_DEVICES.
 */
export function runGpuEnv(slot: number, gpus: string[] | undefined, env: NodeJS.ProcessEnv): Record<string, string> {
  return {
    ...(env.TF_FORCE_GPU_ALLOW_GROWTH === undefined || env.TF_FORCE_GPU_ALLOW_GROWTH === '' ? { TF_FORCE_GPU_ALLOW_GROWTH: 'true' } : {}),
    ...(gpus && gpus.length > 0 ? { CUDA_VISIBLE_DEVICES: gpus[slot % gpus.length] } : {}),
  };
}

/** `--gpus 0,1`: device indices (or GPU-/MIG- UUIDs, as CUDA_VISIBLE_DEVICES takes them), comma-separated. */
export function parseGpus(value: string): string[] {
  const gpus = value.split(',').map((s) => s.trim());
  const bad = gpus.filter((g) => !/^(\d+|(GPU|MIG)-[\w-]+)$/.test(g));
  if (gpus.length === 0 || bad.length > 0) {
    throw new UsageError(`--gpus expects device indices separated by commas, e.g. --gpus 0,1 (found ${JSON.stringify(value)})`);
  }
  return gpus;
}

/**
 * The environment of one run's `fermix train` process: the caller's, its share of the cores among
 * the `parallel` runs that train at once on this machine (a local sweep's --parallel, a worker's
 * --concurrency), the GPU variables of `runGpuEnv` (for its slot when runs are pinned with --gpus),
 * no terminal, and the run's name. Every run a sweep or a worker starts gets it here.
 */
export function runEnv(run: string, parallel: number, env: NodeJS.ProcessEnv, gpu: { slot: number; gpus?: string[] } = { slot: 0 }): NodeJS.ProcessEnv {
  return { ...env, ...runThreadsEnv(parallel, env), ...runGpuEnv(gpu.slot, gpu.gpus, env), CI: 'true', FERMIX_SWEEP_RUN: run };
}

/** A worker's run: `runEnv` plus the token of the run folder's lock, which the run checks before it writes. */
export function workerRunEnv(run: string, concurrency: number, lockToken: string, env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  return { ...runEnv(run, concurrency, env), FERMIX_RUN_LOCK: lockToken };
}

/**
 * Starts `fermix train` for a run folder: resumed when the folder holds a run, output appended to
 * `<run>/train.out`, an IPC channel (the run stops after its step when this process goes away, and
 * reports its epoch), its own process group (a Ctrl-C in the terminal reaches only this process,
 * which passes one SIGINT on; two would make a run quit at once instead of after its step).
 */
export function spawnTrain(options: { trainCommand?: string[]; config: string; dir: string; env: NodeJS.ProcessEnv }): { child: ChildProcess; resume: boolean; outFile: string } {
  const { dir } = options;
  const resume = isRunDir(dir);
  mkdirSync(dir, { recursive: true });
  const argv = [...(options.trainCommand ?? selfCommand()), '-c', options.config, '--out', dir, ...(resume ? ['--resume'] : [])];
  const outFile = path.join(dir, 'train.out');
  const fd = openSync(outFile, 'a');
  try {
    const child = spawn(argv[0], argv.slice(1), { stdio: ['ignore', fd, fd, 'ipc'], detached: true, env: options.env });
    return { child, resume, outFile };
  } finally {
    closeSync(fd);
  }
}

/** How this process was started, so a run is the same `fermix` (built, or from sources under tsx). */
export function selfCommand(): string[] {
  return [process.execPath, ...process.execArgv, process.argv[1], 'train'];
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** One sweep at a time in a folder: a lock file holding the pid, taken over when that process is gone. */
function takeLock(out: string): () => void {
  const lock = path.join(out, '.sweep.lock');
  if (existsSync(lock)) {
    const pid = Number(readFileSync(lock, 'utf8').trim());
    if (Number.isInteger(pid) && pid !== process.pid && isAlive(pid)) {
      throw new SweepBusyError(`another fermix sweep (pid ${pid}) is running in ${out}; wait for it, or stop it first (nothing was changed)`);
    }
  }
  writeFileSync(lock, String(process.pid));
  return () => rmSync(lock, { force: true });
}

/** Another sweep runs in the folder: a usage mistake, printed without a stack. */
export class SweepBusyError extends UsageError {}

/** The last lines of a run's output (`<run>/train.out`), for a failed run's record. */
export function tail(file: string, lines = 12): string {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '';
  }
}

/**
 * Runs every run of a sweep that has not finished, `parallel` at a time, each `fermix train` in its
 * own process writing its own run folder. A finished run (metrics.json present) is never touched; a
 * run with a folder resumes from its last checkpoint. SIGINT/SIGTERM stop the runs after their
 * current step (checkpoints stay) and the sweep returns with `interrupted`. If this process is killed
 * outright, each run notices its parent is gone (the IPC channel closes) and stops the same way.
 */
export async function runSweep(options: SweepRunnerOptions, shouldStop: () => boolean): Promise<SweepResult> {
  const { sweep, out, logger } = options;
  mkdirSync(out, { recursive: true });
  const release = takeLock(out);
  try {
    return await runLocked(options, shouldStop);
  } finally {
    release();
  }
}

/**
 * The sweep's state before anything runs: each run's config written into `<out>/configs/`, runs
 * with a metrics.json finished (with their figures), the others pending.
 */
export function initialSweepState(sweep: SweepSpec, out: string, parallel?: number): SweepState {
  const configsDir = path.join(out, 'configs');
  const records: SweepRunRecord[] = sweep.runs.map((run) => {
    const dir = path.join(out, 'runs', run.name);
    const record: SweepRunRecord = {
      name: run.name,
      settings: run.settings,
      dir: path.relative(out, dir),
      config: path.relative(out, writeRunConfig(sweep, configsDir, run)),
      status: existsSync(runPaths(dir).metrics) ? 'finished' : 'pending',
    };
    if (record.status === 'finished') Object.assign(record, summaryOf(dir));
    return record;
  });
  return { schema: 'fermix-sweep/1', sweepFile: sweep.file, base: sweep.baseFile, grid: sweep.spec.grid, ...(parallel === undefined ? {} : { parallel }), updated: new Date().toISOString(), runs: records };
}

/** Writes `<out>/sweep.json` whole (temp file renamed into place), stamped with the time. */
export function saveSweepState(out: string, state: SweepState): void {
  state.updated = new Date().toISOString();
  writeFileAtomic(path.join(out, 'sweep.json'), JSON.stringify(state, null, 2) + '\n');
}

async function runLocked(options: SweepRunnerOptions, shouldStop: () => boolean): Promise<SweepResult> {
  const { sweep, out, logger } = options;
  const parallel = Math.max(1, options.parallel);
  const state = initialSweepState(sweep, out, parallel);
  const records = state.runs;
  const save = () => saveSweepState(out, state);
  save();

  const done = records.filter((r) => r.status === 'finished').length;
  logger.info(`sweep: ${records.length} runs, ${done} already finished, ${records.length - done} to run, ${parallel} at a time`, { out });
  const queue = records.filter((r) => r.status !== 'finished');
  const threadsEnv = runThreadsEnv(parallel, { ...process.env, ...options.env });
  if (threadsEnv.FERMIX_THREADS) logger.info(`each run's wasm backend gets ${threadsEnv.FERMIX_THREADS} thread(s): ${threadsEnv.FERMIX_THREADS_WHY}`);
  const running = new Map<ChildProcess, SweepRunRecord>();
  /** Which run holds each of the `parallel` slots (a slot picks the run's GPU with --gpus). */
  const slots: (SweepRunRecord | null)[] = new Array(parallel).fill(null);
  if (options.gpus) logger.info(`runs pinned to GPUs ${options.gpus.join(', ')} (CUDA_VISIBLE_DEVICES), round-robin over ${parallel} slot(s)`);
  const started = Date.now();
  let cpuSeconds = 0;
  let ran = 0;
  let stopSent = false;

  const launch = async (record: SweepRunRecord): Promise<void> => {
    const dir = path.join(out, record.dir);
    await waitForEarlierProcess(dir, logger);
    const slot = slots.indexOf(null);
    slots[slot] = record;
    const { child, resume, outFile } = spawnTrain({
      trainCommand: options.trainCommand,
      config: path.join(out, record.config),
      dir,
      env: runEnv(record.name, parallel, { ...process.env, ...options.env }, { slot, gpus: options.gpus }),
    });
    writeFileSync(path.join(dir, '.pid'), String(child.pid ?? ''));
    record.status = 'running';
    record.started = resume ? 'resumed' : 'fresh';
    if (options.gpus) record.gpu = options.gpus[slot % options.gpus.length];
    delete record.error;
    running.set(child, record);
    save();
    logger.info(`${resume ? 'resuming' : 'starting'} ${record.name} (${records.indexOf(record) + 1}/${records.length})`, { pid: child.pid, ...(options.gpus ? { gpu: options.gpus[slot % options.gpus.length] } : {}) });
    const t0 = Date.now();
    let settled = false;
    /** Frees the run's slot once, whichever of 'error' and 'exit' comes first; false after that. */
    const settle = (exitCode: number | null): boolean => {
      if (settled) return false;
      settled = true;
      running.delete(child);
      slots[slot] = null;
      rmSync(path.join(dir, '.pid'), { force: true });
      record.exitCode = exitCode;
      return true;
    };
    // A process that could not start (the command missing, no memory for it...) emits 'error'
    // and never 'exit': the run is recorded as failed with the reason, and its slot is freed.
    child.on('error', (err) => {
      if (child.pid !== undefined) {
        logger.warn(`${record.name}: ${err.message}`);
        return;
      }
      if (!settle(null)) return;
      record.status = 'failed';
      record.error = `could not start ${JSON.stringify(child.spawnargs[0])}: ${err.message}`;
      logger.error(`failed ${record.name}: ${record.error}`);
      save();
    });
    child.once('exit', (code, signal) => {
      if (!settle(code)) return;
      const finished = code === 0 && existsSync(runPaths(dir).metrics);
      if (finished) {
        Object.assign(record, summaryOf(dir));
        record.status = 'finished';
        cpuSeconds += record.cpuSeconds ?? 0;
        ran++;
        logger.info(
          `finished ${record.name}: accuracy ${pct(record.accuracy)}, macro F1 ${pct(record.macroF1)}, average accuracy ${pct(record.averageAccuracy)} (${((Date.now() - t0) / 1000).toFixed(0)} s)`,
        );
      } else if (code === 130 || stopSent || signal === 'SIGINT' || signal === 'SIGTERM') {
        record.status = 'interrupted';
        logger.warn(`interrupted ${record.name}; its last checkpoint stays and the next \`fermix sweep\` resumes it`);
      } else {
        record.status = 'failed';
        record.error = tail(outFile);
        logger.error(`failed ${record.name} (exit ${code ?? signal}); its output: ${outFile}\n${record.error}`);
      }
      save();
    });
  };

  while (queue.length > 0 || running.size > 0) {
    if (shouldStop() && !stopSent) {
      stopSent = true;
      for (const child of running.keys()) child.kill('SIGINT');
      for (const record of queue) record.status = 'pending';
      queue.length = 0;
      save();
    }
    while (!stopSent && queue.length > 0 && running.size < parallel) await launch(queue.shift()!);
    await sleep(200);
  }
  const wallSeconds = (Date.now() - started) / 1000;
  state.lastInvocation = { wallSeconds, cpuSeconds, runs: ran };
  save();
  const failed = records.filter((r) => r.status === 'failed');
  return { state, interrupted: stopSent || records.some((r) => r.status === 'interrupted'), failed };
}

/** A run started by an earlier sweep that was killed may still be stopping: wait for it. */
async function waitForEarlierProcess(dir: string, logger: Logger): Promise<void> {
  const pidFile = path.join(dir, '.pid');
  if (!existsSync(pidFile)) return;
  const pid = Number(readFileSync(pidFile, 'utf8').trim());
  if (!Number.isInteger(pid) || pid <= 0) return;
  let warned = false;
  while (isAlive(pid)) {
    if (!warned) logger.warn(`waiting for the process of an earlier sweep (pid ${pid}) to stop writing ${dir}`);
    warned = true;
    await sleep(250);
  }
}

export function pct(v: number | undefined): string {
  return v === undefined ? '?' : `${(v * 100).toFixed(2)}%`;
}

/** A finished run's figures and times, from its metrics.json (nothing when unreadable). */
export function summaryOf(dir: string): Partial<SweepRunRecord> {
  try {
    const m = JSON.parse(readFileSync(runPaths(dir).metrics, 'utf8'));
    return { accuracy: m.accuracy, macroF1: m.macroF1, averageAccuracy: m.averageAccuracy, seconds: m.seconds, cpuSeconds: m.cpuSeconds };
  } catch {
    return {};
  }
}
