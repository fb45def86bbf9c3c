import { appendFileSync, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { stringify } from 'yaml';
import type { FermixConfig } from './config/schema.js';

/** Where a run keeps what it leaves behind. */
export interface RunPaths {
  dir: string;
  config: string;
  log: string;
  metrics: string;
  bestCheckpoint: string;
  lastCheckpoint: string;
}

export function runPaths(dir: string): RunPaths {
  return {
    dir,
    config: path.join(dir, 'config.yaml'),
    log: path.join(dir, 'log.jsonl'),
    metrics: path.join(dir, 'metrics.json'),
    bestCheckpoint: path.join(dir, 'checkpoints', 'best'),
    lastCheckpoint: path.join(dir, 'checkpoints', 'last'),
  };
}

/** A new, unused folder under `root`, named by time: runs/2026-11-27T21-50-02. */
export function newRunDir(root: string): string {
  const stamp = new Date().toISOString().replace(/:/g, '-').replace(/\..+$/, '');
  let dir = path.join(root, stamp);
  for (let n = 2; existsSync(dir); n++) dir = path.join(root, `${stamp}-${n}`);
  return dir;
}

/** A folder holds a run when it has any of a run's files. */
export function isRunDir(dir: string): boolean {
  return existsSync(dir) && readdirSync(dir).some((f) => ['config.yaml', 'log.jsonl', 'metrics.json', 'checkpoints'].includes(f));
}

/** Writes a file whole or not at all: a temp file renamed into place. */
export function writeFileAtomic(file: string, text: string): void {
  mkdirSync(path.dirname(file), { recursive: true });
  const tmp = `${file}.tmp-${process.pid}`;
  writeFileSync(tmp, text);
  renameSync(tmp, file);
}

/** The config as it ran: every default filled in, paths absolute. */
export function writeResolvedConfig(paths: RunPaths, config: FermixConfig): void {
  const { baseDir, configFile, ...rest } = config;
  const header = `# resolved by fermix from ${configFile ?? '(defaults)'}; relative paths were resolved against ${baseDir}\n`;
  writeFileAtomic(paths.config, header + stringify(rest));
}

/**
 * Keeps the lines of log.jsonl for epochs before `epoch` and drops the rest, so that a run resumed
 * from the checkpoint of epoch `epoch - 1` logs each later epoch once: a kill between an epoch's log
 * line and its checkpoint, or in the middle of a line, leaves lines the resumed run writes again.
 */
export function truncateLog(paths: RunPaths, epoch: number): void {
  if (!existsSync(paths.log)) return;
  const text = readFileSync(paths.log, 'utf8');
  const lines = text.split('\n').filter((line) => line !== '');
  const kept = lines.filter((line) => {
    try {
      const e = (JSON.parse(line) as { epoch?: unknown }).epoch;
      return typeof e === 'number' && e < epoch;
    } catch {
      return false; // a line cut short by a kill
    }
  });
  const out = kept.map((line) => `${line}\n`).join('');
  if (out !== text) writeFileAtomic(paths.log, out);
}

export function appendLog(paths: RunPaths, entry: Record<string, unknown>): void {
  mkdirSync(paths.dir, { recursive: true });
  appendFileSync(paths.log, JSON.stringify(entry) + '\n');
}

export function readJson<T>(file: string): T {
  return JSON.parse(readFileSync(file, 'utf8')) as T;
}

/**
 * Who may write a run folder: `<run>/.lock`, written by a `fermix worker` before it starts the run's
 * process. Its token names one attempt of one job (BullMQ's lock token); a process started for an
 * older attempt sees another token and stops without writing (fencing).
 */
export interface RunLock {
  token: string;
  /** The worker that holds the run (`host:pid` unless named). */
  worker: string;
  job: string;
  attempt: number;
  since: string;
}

export function runLockFile(dir: string): string {
  return path.join(dir, '.lock');
}

/** Takes (or takes over) the run folder for `lock.token`; returns the lock it replaced, if any. */
export function writeRunLock(dir: string, lock: RunLock): RunLock | undefined {
  const previous = readRunLock(dir);
  writeFileAtomic(runLockFile(dir), JSON.stringify(lock) + '\n');
  return previous;
}

/** The run folder's lock, or undefined when there is none (or it is unreadable: a lock being replaced). */
export function readRunLock(dir: string): RunLock | undefined {
  try {
    const lock = JSON.parse(readFileSync(runLockFile(dir), 'utf8')) as RunLock;
    return typeof lock?.token === 'string' ? lock : undefined;
  } catch {
    return undefined;
  }
}

/** A run process found that another attempt now holds its run folder: it stopped without writing. */
export class RunFolderLostError extends Error {
  constructor(dir: string, holder: RunLock | undefined) {
    super(
      `the run folder ${dir} is no longer this process's (${holder ? `worker ${holder.worker} holds it for attempt ${holder.attempt} of job ${holder.job}` : 'its lock was removed'}): stopped without writing to it`,
    );
    this.name = 'RunFolderLostError';
  }
}
