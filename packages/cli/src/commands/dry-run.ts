import { hasInventory, isFileListSource } from '@fermix/data';
import {
  buildModelForConfig,
  DataError,
  PluginError,
  Rng,
  selectBackend,
  silentLogger,
  TOKENS,
  type BackboneRegistry,
  type DataSource,
  type Logger,
  type SetupContext,
} from '@fermix/core';
import type { Session } from '../setup.js';

/** One split as a run would open it, from its listing or label file alone (nothing decoded). */
export interface DryRunSplit {
  split: string;
  images: number;
  perClass: Record<string, number>;
  /** Listed images not on disk (skipped under data.onMissing: skip; an error otherwise). */
  missing: number;
}

/** What `fermix train --dry-run` found: the run would start with these. */
export interface DryRunReport {
  config: string | null;
  source: string;
  classes: string[];
  splits: DryRunSplit[];
  model: { backbone: string; params: number; input: number[] };
  plugins: string[];
}

export interface DryRunOptions {
  /**
   * The model's parameter count from a way to build it. Default: build it on the cpu backend, count,
   * dispose. `key` names the model completely (backbone, options, size, classes, plugins), so a
   * caller checking many configs may count each model once.
   */
  countParams?: (build: () => { countParams(): number; dispose(): void }, key: string) => number;
}

/**
 * Everything `fermix train` does before its first step, without training or decoding an image: the
 * config (already validated by the session), the plugins' setup, each split's index (listing, label
 * file or CSV, with data.onMissing), every class present, and the model built from its plan with the
 * plugins' transformModel. A problem is the error the run would stop with.
 */
export async function dryRunTrain(session: Session, logger: Logger, options: DryRunOptions = {}): Promise<DryRunReport> {
  const { config, container, plugins } = session;
  const source = container.get<DataSource>(TOKENS.DataSource);
  const splits = await source.splits();
  const report: DryRunSplit[] = [];
  let classes: string[] = [];
  for (const split of [config.data.trainSplit, config.data.testSplit]) {
    if (!splits.includes(split)) {
      throw new DataError(`${source.description}: no split "${split}" (found: ${splits.join(', ') || 'none'}); set data.trainSplit / data.testSplit`);
    }
    const found = await indexSplit(source, split, config.data, logger);
    if (classes.length > 0 && found.classes.join('\n') !== classes.join('\n')) {
      throw new DataError(`${source.description}: train and test have different classes (${classes.join(', ')} vs ${found.classes.join(', ')})`);
    }
    classes = found.classes;
    const empty = classes.filter((_, c) => found.counts[c] === 0);
    const images = found.counts.reduce((a, b) => a + b, 0);
    if (images === 0) throw new DataError(`${source.description}: split "${split}" has no images`);
    if (empty.length > 0) throw new DataError(`${source.description}: split "${split}" has no images of class ${empty.join(', ')} (an empty class is an error before training)`);
    report.push({ split, images, perClass: Object.fromEntries(classes.map((c, i) => [c, found.counts[i]])), missing: found.missing });
  }

  const setupCtx: SetupContext = { logger, container, rng: new Rng(config.seed).fork('plugins') };
  for (const plugin of plugins) {
    try {
      await plugin.setup?.(setupCtx);
    } catch (err) {
      throw new PluginError(plugin.name, 'setup', (err as Error)?.message ?? String(err), { cause: err });
    }
  }
  const registry = container.get<BackboneRegistry>(TOKENS.BackboneRegistry);
  const build = () => buildModelForConfig(config, classes.length, plugins, setupCtx, registry);
  const key = JSON.stringify([config.model.backbone, config.model.options, config.data.imageSize, classes.length, config.plugins]);
  await selectBackend('cpu', silentLogger);
  const params = (options.countParams ?? countOnce)(build, key);
  return {
    config: config.configFile ?? null,
    source: source.description,
    classes,
    splits: report,
    model: { backbone: config.model.backbone, params, input: [config.data.imageSize, config.data.imageSize, 3] },
    plugins: plugins.map((p) => p.name),
  };
}

function countOnce(build: () => { countParams(): number; dispose(): void }): number {
  const model = build();
  try {
    return model.countParams();
  } finally {
    model.dispose();
  }
}

/** Counts per class without decoding: the label file or listing, or the config for synthetic data. */
async function indexSplit(
  source: DataSource,
  split: string,
  data: Session['config']['data'],
  logger: Logger,
): Promise<{ classes: string[]; counts: number[]; missing: number }> {
  // The built-in formats' own keys, defaults filled in when the config was validated (validateDataConfig).
  const own = data as typeof data & { onMissing?: 'error' | 'skip'; trainPerClass?: number; testPerClass?: number };
  if (isFileListSource(source)) {
    // The run's own listing: data.onMissing applies (missing files are an error, or skipped).
    const files = await source.files(split, { imageSize: data.imageSize, logger, maxPixels: data.maxPixels });
    const counts = new Array<number>(files.classes.length).fill(0);
    for (const label of files.labels) counts[label]++;
    return { classes: files.classes, counts, missing: files.skipped.length };
  }
  if (hasInventory(source)) {
    const inventory = await source.inventory(split);
    if (inventory.missing.length > 0 && (own.onMissing ?? 'error') === 'error') {
      throw new DataError(`${source.description}: ${inventory.missing.length} files of split "${split}" are missing, e.g. ${inventory.missing[0].path} (set data.onMissing: skip to use the ones that exist)`, inventory.missing[0].path);
    }
    return { classes: inventory.classes, counts: inventory.counts, missing: inventory.missing.length };
  }
  // Synthetic faces are drawn, not listed: the config says how many of each class.
  const classes = await source.classes();
  const perClass = (split === data.trainSplit ? own.trainPerClass : own.testPerClass) ?? 0;
  return { classes, counts: classes.map(() => perClass), missing: 0 };
}

/** The report as the lines `fermix train --dry-run` prints. */
export function formatDryRun(r: DryRunReport): string {
  const lines = [
    `config: ${r.config ?? 'none found, the defaults (synthetic data)'}`,
    `data: ${r.source}, ${r.classes.length} classes (${r.classes.join(', ')})`,
    ...r.splits.map((s) => `  ${s.split}: ${s.images} images${s.missing ? ` (${s.missing} listed but missing, skipped)` : ''}: ${Object.entries(s.perClass).map(([c, n]) => `${c} ${n}`).join(', ')}`),
    `model: ${r.model.backbone}, ${r.model.params.toLocaleString('en-US')} parameters, input ${r.model.input.join('x')}`,
    `plugins: ${r.plugins.length ? r.plugins.join(', ') : 'none'}`,
    'dry run: nothing was trained or written',
  ];
  return lines.join('\n') + '\n';
}
