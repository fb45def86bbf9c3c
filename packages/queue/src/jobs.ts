import { createHash } from 'node:crypto';
import path from 'node:path';

/**
 * What one job carries: which run of which sweep, and the run's settings (for `--status`). Never
 * code, never a config: the worker reads the run's config from `<out>/configs/<run>.yaml` on the
 * shared storage and trains into `<out>/runs/<run>`.
 */
export interface RunJobData {
  schema: 'fermix-run/1';
  /** The sweep's id: see `sweepIdOf`. */
  sweep: string;
  /** The sweep folder, an absolute path every worker sees (shared storage). */
  out: string;
  /** The run's folder name. */
  run: string;
  settings: Record<string, string | number | boolean | null>;
}

const RUN_NAME = /^[A-Za-z0-9.+_-]+$/;

/** A sweep's id: its folder's name and a hash of its absolute path (`paper-table3-3f9c2a61d0`). */
export function sweepIdOf(out: string): string {
  const slug = path.basename(out).replace(/[^A-Za-z0-9_-]+/g, '-').slice(0, 40) || 'sweep';
  return `${slug}-${createHash('sha256').update(path.resolve(out)).digest('hex').slice(0, 10)}`;
}

/** The job id of a run: from the sweep and the run name, so one run is one job however often it is enqueued. */
export function jobIdOf(sweep: string, run: string): string {
  return `${sweep}/${run}`;
}

/** The run's config and folder on the shared storage. */
export function runFiles(data: Pick<RunJobData, 'out' | 'run'>): { config: string; dir: string } {
  return { config: path.join(data.out, 'configs', `${data.run}.yaml`), dir: path.join(data.out, 'runs', data.run) };
}

/**
 * Checks a job's data before a worker acts on it: the shape above, an absolute sweep folder, a run
 * name that is a plain folder name. Returns a description of the first problem, or undefined.
 */
export function runJobProblem(data: unknown): string | undefined {
  const d = data as Partial<RunJobData> | null;
  if (!d || typeof d !== 'object') return 'the job carries no object';
  if (d.schema !== 'fermix-run/1') return `expected schema "fermix-run/1", found ${JSON.stringify(d.schema)}`;
  if (typeof d.sweep !== 'string' || !/^[A-Za-z0-9_-]+$/.test(d.sweep)) return 'expected a sweep id';
  if (typeof d.out !== 'string' || !path.isAbsolute(d.out)) return 'expected the absolute path of the sweep folder in "out"';
  if (typeof d.run !== 'string' || !RUN_NAME.test(d.run) || d.run === '.' || d.run === '..') return 'expected a run folder name in "run" (letters, digits, . + _ -)';
  if (!d.settings || typeof d.settings !== 'object' || Array.isArray(d.settings)) return 'expected the run\'s settings in "settings"';
  for (const [key, value] of Object.entries(d.settings)) {
    if (value !== null && !['string', 'number', 'boolean'].includes(typeof value)) return `settings.${key}: expected a string, number, boolean or null`;
  }
  return undefined;
}
