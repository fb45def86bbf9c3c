import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { readConfigFile, type RunMetrics } from '@fermix/core';
import { assertFolder, findRunFolders } from './discover.js';
import { ReportError } from './errors.js';
import { parseSamples, type SamplesFile } from './samples.js';
import { PLUGIN_DEFAULTS, runSettings, type PluginDefaults } from './settings.js';
import type { FinishedRun, RunCollection, RunSettings, UnfinishedRun } from './types.js';

export interface CollectOptions {
  /** Plugin option defaults for entries that leave alpha or rate out. */
  pluginDefaults?: PluginDefaults;
}

/**
 * Reads every run folder in `root` (the folder itself, or its children and grandchildren, as a
 * sweep lays them out). A run without metrics.json, or with an unreadable config.yaml or
 * metrics.json, is listed as unfinished; throws when there is no run folder at all.
 */
export function collectRuns(root: string, options: CollectOptions = {}): RunCollection {
  const absolute = path.resolve(root);
  assertFolder(absolute);
  const dirs = findRunFolders(absolute);
  if (dirs.length === 0) {
    throw new ReportError(`${absolute}: no run folders found (looked for config.yaml in it, its subfolders and their subfolders); give a folder written by fermix train or fermix sweep`);
  }
  const collection: RunCollection = { root: absolute, runs: [], unfinished: [], notes: [] };
  for (const dir of dirs) {
    const run = readRun(dir, absolute, options.pluginDefaults ?? PLUGIN_DEFAULTS, collection.notes);
    if ('metrics' in run) collection.runs.push(run);
    else collection.unfinished.push(run);
  }
  return collection;
}

function readRun(dir: string, root: string, defaults: PluginDefaults, notes: string[]): FinishedRun | UnfinishedRun {
  const name = path.relative(root, dir) || '.';
  let settings: RunSettings;
  try {
    settings = runSettings(readConfigFile(path.join(dir, 'config.yaml')).raw, defaults);
  } catch (err) {
    return { dir, name, reason: `config.yaml unreadable: ${(err as Error).message.split('\n').join(' ')}` };
  }
  const metricsFile = path.join(dir, 'metrics.json');
  if (!existsSync(metricsFile)) return { dir, name, settings, reason: 'no metrics.json (still running, interrupted or failed)' };
  let metrics: RunMetrics;
  try {
    metrics = checkMetrics(JSON.parse(readFileSync(metricsFile, 'utf8')));
  } catch (err) {
    return { dir, name, settings, reason: `metrics.json unreadable: ${(err as Error).message}` };
  }
  const run: FinishedRun = { dir, name, settings, metrics };
  const samplesFile = path.join(dir, 'samples.json');
  if (existsSync(samplesFile)) {
    try {
      run.samples = parseSamples(JSON.parse(readFileSync(samplesFile, 'utf8')));
    } catch (err) {
      notes.push(`${samplesFile}: not shown (${(err as Error).message})`);
    }
  }
  return run;
}

/** The fields a report reads, checked so a damaged file is reported rather than crashing a table. */
function checkMetrics(raw: unknown): RunMetrics {
  const m = raw as Partial<RunMetrics>;
  for (const key of ['accuracy', 'macroF1', 'averageAccuracy'] as const) {
    if (typeof m?.[key] !== 'number') throw new Error(`expected "${key}": a number`);
  }
  if (!Array.isArray(m.classes)) throw new Error('expected "classes": an array');
  if (!m.perClass || typeof m.perClass !== 'object') throw new Error('expected "perClass": an object');
  if (!Array.isArray(m.confusionMatrix)) throw new Error('expected "confusionMatrix": an array of rows');
  return { ...m, history: Array.isArray(m.history) ? m.history : [] } as RunMetrics;
}
