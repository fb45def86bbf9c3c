import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { stringify } from 'yaml';
import { z } from 'zod';
import { COMMON_OPTIMIZER_KEYS, ConfigError, issuesFromZod, OPTIMIZER_KEYS, readConfigFile, SCHEDULE_KEYS, writeFileAtomic, type ConfigIssue } from '@fermix/core';

/**
 * A sweep file: a base fermix config plus a grid. Every combination of the grid's values is one run.
 *
 *   base: ../fer2013-mini/fermix.config.yaml
 *   grid:
 *     method: [vanilla, mixup, mixaugment, mixaugment+flip]
 *     alpha: [0.1, 0.2, 0.6, 1]
 *     dropout: [none, 0.5]
 *     seed: [1, 2, 3]
 *     train.optimizer.lr: [0.001, 0.0001]    # any config path
 *     train.optimizer.name: [adam, adamw, sgd]
 *     train.schedule.name: [constant, cosine, step]
 *
 * `method`, `alpha` and `dropout` become the `plugins:` list (see `pluginsFor`); `seed` is the
 * config's seed; any other key is a dotted config path whose value is set as is. A run whose
 * `train.optimizer.name` or `train.schedule.name` comes from the grid keeps only the options of the
 * optimizer or schedule it names, so the base (or `set`) may hold the options of all of them
 * (`train.schedule.milestones` for step, `warmupEpochs` for cosine, `momentum` for sgd...).
 */
const gridValue = z.union([z.string(), z.number(), z.boolean(), z.null()]);
export const sweepSchema = z.strictObject({
  /** The fermix config every run starts from, relative to the sweep file. */
  base: z.string().min(1).max(4096),
  /** Sweep folder, relative to the sweep file (default: runs/<sweep file name> under the working folder). */
  out: z.string().min(1).max(4096).optional(),
  /** Runs at once, each its own process. */
  parallel: z.number().int().min(1).optional(),
  /** Dotted config paths set in every run, e.g. `train.epochs: 10`. */
  set: z.record(z.string(), z.unknown()).default({}),
  grid: z.record(z.string(), z.array(gridValue).min(1, { message: 'a non-empty list of values' })),
  /** Options given to a method's plugin besides alpha, e.g. `mixaugment: { forward: joint }`. */
  pluginOptions: z.record(z.string(), z.record(z.string(), z.unknown())).default({}),
});
export type SweepFile = z.output<typeof sweepSchema>;
type GridValue = z.output<typeof gridValue>;

/** More runs than this is a mistake in the grid (each run is a training process), refused before expanding it. */
export const MAX_SWEEP_RUNS = 10_000;

/** The plugins a method is made of; `mixup` and `mixaugment` take the grid's alpha. */
const ALPHA_PLUGINS = new Set(['mixup', 'mixaugment']);
/** Plugins that the method and dropout grid keys own: the base config's entries for them are replaced. */
const METHOD_PLUGINS = new Set(['mixup', 'mixaugment', 'flip', 'dropout']);

/** One run of the sweep: its settings, folder name and config. */
export interface SweepRun {
  /** Folder name under `<sweep>/runs/`, made from the settings: `mixaugment+flip_alpha-0.1_dropout-none_seed-1`. */
  name: string;
  /** Grid key to value, as the report reads them (`alpha` null for a method without one). */
  settings: Record<string, GridValue>;
  /** The raw config of this run (paths absolute). */
  config: Record<string, unknown>;
}

export interface SweepSpec {
  file: string;
  dir: string;
  spec: SweepFile;
  baseFile: string;
  runs: SweepRun[];
}

function sweepError(file: string, issues: ConfigIssue[]): ConfigError {
  return new ConfigError(issues, file);
}

/** Reads and checks a sweep file; expands its grid into runs. Nothing is written. */
export function readSweepFile(file: string): SweepSpec {
  const parsed = readConfigFile(file);
  const result = sweepSchema.safeParse(parsed.raw);
  if (!result.success) {
    throw sweepError(file, issuesFromZod(result.error, parsed.raw).map((i) => ({ ...i, location: i.location ?? parsed.locate(i.path) })));
  }
  const spec = result.data;
  const dir = path.dirname(path.resolve(file));
  const baseFile = path.resolve(dir, spec.base);
  const base = readConfigFile(baseFile).raw as Record<string, unknown>;
  const issues: ConfigIssue[] = [];
  for (const [key, values] of Object.entries(spec.grid)) {
    values.forEach((value, i) => {
      const problem = checkGridValue(key, value);
      if (problem) issues.push({ path: ['grid', key, i], expected: problem, found: value, location: parsed.locate(['grid', key, i]) });
    });
  }
  if (issues.length > 0) throw sweepError(file, issues);
  const combinations = Object.values(spec.grid).reduce((n, values) => n * values.length, 1);
  if (combinations > MAX_SWEEP_RUNS) {
    throw sweepError(file, [{ path: ['grid'], expected: `at most ${MAX_SWEEP_RUNS} combinations (a sweep is one process per run)`, found: `${combinations} combinations`, location: parsed.locate(['grid']) }]);
  }
  const runs = expandGrid(spec, base, path.dirname(baseFile));
  const byName = new Map<string, SweepRun>();
  for (const run of runs) {
    const other = byName.get(run.name);
    if (other && JSON.stringify(other.settings) !== JSON.stringify(run.settings)) {
      throw sweepError(file, [{ path: ['grid'], expected: `grid keys whose last path segments differ (two runs would both be named "${run.name}")` }]);
    }
    byName.set(run.name, run);
  }
  return { file: path.resolve(file), dir, spec, baseFile, runs: [...byName.values()] };
}

function checkGridValue(key: string, value: GridValue): string | undefined {
  if (key === 'method') {
    if (typeof value !== 'string' || value.trim() === '') return 'a method: vanilla, or plugin names joined by "+" (mixup, mixaugment+flip, ...)';
    if (value !== 'vanilla' && value.split('+').some((p) => p.trim() === '' || p.trim() === 'vanilla')) return 'plugin names joined by "+", or vanilla alone';
  }
  if (key === 'alpha' && !(typeof value === 'number' && value > 0)) return 'a number > 0 (Beta(alpha, alpha))';
  if (key === 'dropout' && dropoutRate(value) === undefined) return 'none, or a dropout rate in [0, 1)';
  if (key === 'seed' && !(typeof value === 'number' && Number.isInteger(value))) return 'an integer seed';
  if (key === 'train.optimizer.name' && !(typeof value === 'string' && value in OPTIMIZER_KEYS)) return `an optimizer: ${Object.keys(OPTIMIZER_KEYS).join(' | ')}`;
  if (key === 'train.schedule.name' && !(typeof value === 'string' && value in SCHEDULE_KEYS)) return `a schedule: ${Object.keys(SCHEDULE_KEYS).join(' | ')}`;
  return undefined;
}

/** `none`/`no`/`false`/0 → null (no dropout); a number in [0, 1) → that rate; anything else → undefined. */
export function dropoutRate(value: GridValue): number | null | undefined {
  if (value === null || value === false || value === 'none' || value === 'no' || value === 0) return null;
  if (typeof value === 'number' && value > 0 && value < 1) return value;
  return undefined;
}

function methodParts(method: string): string[] {
  return method === 'vanilla' ? [] : method.split('+').map((p) => p.trim());
}

/** The cartesian product of the grid, in the file's key order, duplicates (alpha of vanilla) folded. */
export function expandGrid(spec: SweepFile, base: Record<string, unknown>, baseDir: string): SweepRun[] {
  const keys = Object.keys(spec.grid);
  let combos: Record<string, GridValue>[] = [{}];
  for (const key of keys) combos = combos.flatMap((c) => spec.grid[key].map((v) => ({ ...c, [key]: v })));
  const seen = new Set<string>();
  const runs: SweepRun[] = [];
  for (const combo of combos) {
    const settings = { ...combo };
    if ('alpha' in settings && 'method' in settings && !methodParts(String(settings.method)).some((p) => ALPHA_PLUGINS.has(p))) settings.alpha = null;
    if ('dropout' in settings) settings.dropout = dropoutRate(settings.dropout) ?? 'none';
    const name = runName(settings);
    if (seen.has(name)) continue;
    seen.add(name);
    runs.push({ name, settings, config: runConfig(spec, base, baseDir, settings) });
  }
  return runs;
}

function safe(value: GridValue): string {
  return String(value).replace(/[^A-Za-z0-9.+-]+/g, '-');
}

/** `mixaugment+flip_alpha-0.1_dropout-none_seed-1_lr-0.001`. */
export function runName(settings: Record<string, GridValue>): string {
  const parts: string[] = [];
  for (const [key, value] of Object.entries(settings)) {
    if (key === 'method') parts.push(safe(value));
    else if (key === 'alpha') {
      if (value !== null) parts.push(`alpha-${safe(value)}`);
    } else {
      // train.optimizer.name -> optimizer-adamw: a `name` is named after what it names.
      const segments = key.split('.');
      const label = segments.length > 1 && segments[segments.length - 1] === 'name' ? segments[segments.length - 2] : segments[segments.length - 1];
      parts.push(`${safe(label)}-${safe(value)}`);
    }
  }
  return parts.join('_') || 'run';
}

function setPath(target: Record<string, unknown>, dotted: string, value: unknown): void {
  const parts = dotted.split('.');
  let node = target;
  for (const part of parts.slice(0, -1)) {
    if (typeof node[part] !== 'object' || node[part] === null || Array.isArray(node[part])) node[part] = {};
    node = node[part] as Record<string, unknown>;
  }
  node[parts[parts.length - 1]] = value;
}

function pluginName(entry: unknown): string | undefined {
  if (typeof entry === 'string') return entry;
  if (entry && typeof entry === 'object' && !Array.isArray(entry)) return Object.keys(entry)[0];
  return undefined;
}

/** The `plugins:` list of a run: the base's other plugins, then the method's, then dropout. */
export function pluginsFor(basePlugins: unknown[], settings: Record<string, GridValue>, pluginOptions: SweepFile['pluginOptions']): unknown[] {
  const method = 'method' in settings ? methodParts(String(settings.method)) : null;
  const ownsDropout = 'dropout' in settings;
  const owned = new Set([...(method ? METHOD_PLUGINS : []), ...(ownsDropout ? ['dropout'] : [])]);
  const kept = basePlugins.filter((entry) => !owned.has(pluginName(entry) ?? ''));
  const added: unknown[] = [];
  for (const part of method ?? []) {
    const options: Record<string, unknown> = { ...(pluginOptions[part] ?? {}) };
    if (ALPHA_PLUGINS.has(part) && typeof settings.alpha === 'number') options.alpha = settings.alpha;
    added.push({ [part]: options });
  }
  if (ownsDropout && typeof settings.dropout === 'number') added.push({ dropout: { ...(pluginOptions.dropout ?? {}), rate: settings.dropout } });
  return [...kept, ...added];
}

function runConfig(spec: SweepFile, base: Record<string, unknown>, baseDir: string, settings: Record<string, GridValue>): Record<string, unknown> {
  const config = structuredClone(base);
  // The run's config lives in the sweep folder: paths of the base config are made absolute.
  const data = config.data as Record<string, unknown> | undefined;
  if (data && typeof data.root === 'string' && !path.isAbsolute(data.root)) data.root = path.resolve(baseDir, data.root);
  const model = config.model as Record<string, unknown> | undefined;
  if (model && typeof model.weights === 'string' && model.weights !== 'imagenet' && !path.isAbsolute(model.weights)) model.weights = path.resolve(baseDir, model.weights);
  for (const [key, value] of Object.entries(spec.set)) setPath(config, key, value);
  for (const [key, value] of Object.entries(settings)) {
    if (key === 'method' || key === 'alpha' || key === 'dropout') continue;
    setPath(config, key === 'seed' ? 'seed' : key, value);
  }
  if ('method' in settings || 'dropout' in settings) {
    config.plugins = pluginsFor(Array.isArray(config.plugins) ? config.plugins : [], settings, spec.pluginOptions);
  }
  const train = config.train as Record<string, Record<string, unknown>> | undefined;
  if ('train.optimizer.name' in settings && train?.optimizer) {
    const name = String(settings['train.optimizer.name']) as keyof typeof OPTIMIZER_KEYS;
    keepOnly(train.optimizer, [...COMMON_OPTIMIZER_KEYS, ...(OPTIMIZER_KEYS[name] ?? [])]);
  }
  if ('train.schedule.name' in settings && train?.schedule) {
    const name = String(settings['train.schedule.name']) as keyof typeof SCHEDULE_KEYS;
    keepOnly(train.schedule, ['name', ...(SCHEDULE_KEYS[name] ?? [])]);
  }
  return config;
}

/** Deletes the keys of `target` not in `keys` (the options of another optimizer or schedule). */
function keepOnly(target: Record<string, unknown>, keys: string[]): void {
  for (const key of Object.keys(target)) if (!keys.includes(key)) delete target[key];
}

/** Writes a run's config file into the sweep folder (whole or not at all: a worker may be reading it); returns its path. */
export function writeRunConfig(sweep: SweepSpec, configsDir: string, run: SweepRun): string {
  mkdirSync(configsDir, { recursive: true });
  const file = path.join(configsDir, `${run.name}.yaml`);
  const header = `# run ${run.name} of the sweep ${sweep.file}\n# base: ${sweep.baseFile}; settings: ${JSON.stringify(run.settings)}\n`;
  writeFileAtomic(file, header + stringify(run.config));
  return file;
}
