/**
 * `fermix prepare -c config --out dir`: aligns every face of the config's data once (data.align) and
 * writes the aligned copy as an image folder, `dir/<split>/<class>/<name>.png`, with `prepare.json`
 * (counts and every image that could not be aligned, by file) and `fermix.config.yaml` (the config
 * with data pointing at the copy), so training reads the aligned faces instead of aligning again.
 */
import { existsSync, mkdirSync, readdirSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { DATA_KEYS, encodeRgbPng, loadConfig, runPaths, TOKENS, writeResolvedConfig, type BackendService, type DataSource, type FermixConfig, type Logger } from '@fermix/core';
import { alignFiles, isAlignable, type AlignableSource, type AlignFailureKind, type LandmarkDetector } from '@fermix/data';
import { createReporter } from '../progress.js';
import { containerWithData } from '../setup.js';
import { UsageError } from './train.js';

export interface PrepareCommandOptions {
  config?: string;
  /** The folder to write; must not exist or be empty (or, with force, hold an earlier prepare output). */
  out: string;
  /** Replace an earlier `fermix prepare` output in --out. */
  force?: boolean;
}

/** What @fermix/landmarks exports that prepare uses. */
export interface LandmarksModule {
  createFaceLandmarker(options?: { backend?: 'wasm' | 'current' }): Promise<LandmarkDetector>;
}

export interface PrepareDependencies {
  /** Where the final summary and the train command go (default stdout). */
  out?: NodeJS.WritableStream;
  logger?: Logger;
  /** Loads the optional @fermix/landmarks (replaceable in tests). */
  importLandmarks?: () => Promise<LandmarksModule>;
}

/** The summary written to `<out>/prepare.json`. */
export interface PrepareSummary {
  format: 'fermix-prepare/1';
  createdAt: string;
  config: string | null;
  source: string;
  align: { landmarks: 'dataset' | 'model'; size: number };
  classes: string[];
  /** Aligned images written, per split and class. */
  splits: Record<string, Record<string, number>>;
  /** Images listed by the dataset, written, failed (unreadable, no face, bad landmarks) and skipped (missing files). */
  counts: { listed: number; written: number; failed: number; skipped: number };
  failures: { split: string; path: string; kind: AlignFailureKind; reason: string }[];
  skipped: { split: string; path: string; reason: string }[];
}

const SUMMARY_FILE = 'prepare.json';
const CONFIG_FILE = 'fermix.config.yaml';
const PROGRESS_EVERY = 500;

export async function prepareCommand(options: PrepareCommandOptions, deps: PrepareDependencies = {}): Promise<number> {
  const logger = deps.logger ?? createReporter().logger;
  const stdout = deps.out ?? process.stdout;
  const config = await loadConfig({ file: options.config });
  const configName = config.configFile ?? 'the default config';
  const align = config.data.align;
  if (!align) {
    throw new UsageError(
      `fermix prepare aligns faces by five landmarks, but ${configName} has no data.align. Add, for example:\n` +
        '  data:\n    align: { landmarks: dataset, size: 100 }   # dataset: RAF-DB\'s Annotation/manual; model: @fermix/landmarks',
    );
  }
  const outDir = path.resolve(options.out);
  checkOutDir(outDir, options.force ?? false);

  const container = await containerWithData(config, logger);
  const source = container.get<DataSource>(TOKENS.DataSource);
  if (!isAlignable(source)) throw new UsageError(`${source.description} cannot list original images to align (data.format: ${config.data.format})`);

  let detector: LandmarkDetector | undefined;
  if (align.landmarks === 'model') {
    const landmarks = await importLandmarks(deps.importLandmarks);
    await container.get<BackendService>(TOKENS.Backend).select();
    detector = await landmarks.createFaceLandmarker({ backend: 'current' });
  }

  const staging = `${outDir}.partial-${process.pid}`;
  rmSync(staging, { recursive: true, force: true });
  mkdirSync(staging, { recursive: true });
  let summary: PrepareSummary;
  try {
    summary = await alignAll(source, config, staging, detector, logger);
    writeFileSync(path.join(staging, SUMMARY_FILE), JSON.stringify(summary, null, 2) + '\n');
    writeTrainingConfig(config, staging, outDir, align.size);
    replaceOutDir(staging, outDir);
  } catch (err) {
    rmSync(staging, { recursive: true, force: true });
    throw err;
  } finally {
    detector?.dispose();
  }

  const { listed, written, failed, skipped } = summary.counts;
  const lines = [`aligned ${written} of ${listed} images (${align.size}x${align.size}, landmarks from the ${align.landmarks}) into ${outDir}`];
  if (failed > 0) lines.push(`${failed} could not be aligned (unreadable, no face found or bad landmarks): listed in ${path.join(outDir, SUMMARY_FILE)}`);
  if (skipped > 0) lines.push(`${skipped} skipped for missing files (data.onMissing: skip): listed in ${path.join(outDir, SUMMARY_FILE)}`);
  const emptyClasses = Object.entries(summary.splits).flatMap(([split, counts]) => Object.entries(counts).filter(([, n]) => n === 0).map(([c]) => `${split}/${c}`));
  if (emptyClasses.length > 0) lines.push(`warning: no aligned images in ${emptyClasses.join(', ')}; training on the copy needs every class in every split`);
  lines.push('train on the aligned copy:', `  fermix train -c ${path.join(outDir, CONFIG_FILE)}`);
  stdout.write(lines.join('\n') + '\n');
  return written > 0 ? 0 : 1;
}

/** Aligns every split into `dir/<split>/<class>/<stem>.png`; failures are collected, never thrown. */
async function alignAll(
  source: AlignableSource,
  config: FermixConfig,
  dir: string,
  detector: LandmarkDetector | undefined,
  logger: Logger,
): Promise<PrepareSummary> {
  const size = source.align.size;
  const summary: PrepareSummary = {
    format: 'fermix-prepare/1',
    createdAt: new Date().toISOString(),
    config: config.configFile ?? null,
    source: source.description,
    align: { landmarks: source.align.landmarks, size },
    classes: await source.classes(),
    splits: {},
    counts: { listed: 0, written: 0, failed: 0, skipped: 0 },
    failures: [],
    skipped: [],
  };
  for (const split of await source.splits()) {
    const plan = await source.alignPlan(split, logger);
    const counts = Object.fromEntries(plan.classes.map((c) => [c, 0]));
    summary.splits[split] = counts;
    summary.counts.listed += plan.items.length + countImages(plan.skipped);
    summary.counts.skipped += countImages(plan.skipped);
    summary.skipped.push(...plan.skipped.map((s) => ({ split, ...s })));
    for (const cls of plan.classes) mkdirSync(path.join(dir, split, cls), { recursive: true });
    logger.info(`aligning split "${split}": ${plan.items.length} images`);
    let done = 0;
    // In order; with the dataset's landmarks, decoded and warped in the decode workers meanwhile.
    for await (const outcome of alignFiles(plan.items, size, { detector, logger, maxPixels: config.data.maxPixels })) {
      const item = plan.items[done];
      if (outcome.ok) {
        const cls = plan.classes[item.label];
        const stem = path.basename(item.path, path.extname(item.path));
        writeFileSync(path.join(dir, split, cls, `${stem}.png`), encodeRgbPng(outcome.data, size, size));
        counts[cls]++;
        summary.counts.written++;
      } else {
        summary.failures.push({ split, path: item.path, kind: outcome.kind, reason: outcome.reason });
        summary.counts.failed++;
        logger.warn(`not aligned: ${item.path}: ${outcome.reason}`, { path: item.path, kind: outcome.kind });
      }
      if (++done % PROGRESS_EVERY === 0) logger.info(`split "${split}": ${done}/${plan.items.length} images`);
    }
  }
  return summary;
}

/** Skipped entries name an image or its annotation; an image with both missing counts once. */
function countImages(skipped: { path: string; reason: string }[]): number {
  return new Set(skipped.map((s) => path.basename(s.path).replace(/_manu_attri\.txt$/, '').replace(/\.[^.]+$/, ''))).size;
}

/** The config for training on the copy: the same, with data an image folder of the aligned faces. */
function writeTrainingConfig(config: FermixConfig, staging: string, outDir: string, size: number): void {
  // The shared data keys only: the source format's own keys (onMissing...) mean nothing to an image folder.
  const data = Object.fromEntries(Object.entries(config.data).filter(([key]) => key !== 'align' && (DATA_KEYS as readonly string[]).includes(key))) as FermixConfig['data'];
  const trained: FermixConfig = { ...config, data: { ...data, format: 'imagefolder', root: outDir, imageSize: size } };
  writeResolvedConfig({ ...runPaths(staging), config: path.join(staging, CONFIG_FILE) }, trained);
}

/**
 * --out must not exist, or be an empty folder. With --force it may also hold an earlier prepare
 * output (it has prepare.json); anything else is never replaced, so nothing the user had is lost.
 */
function checkOutDir(outDir: string, force: boolean): void {
  if (!existsSync(outDir)) return;
  if (!statSync(outDir).isDirectory()) throw new UsageError(`--out ${outDir} is a file, not a folder (nothing was changed)`);
  const entries = readdirSync(outDir);
  if (entries.length === 0) return;
  if (!force) {
    throw new UsageError(`--out ${outDir} is not empty; fermix prepare does not overwrite it. Choose a new --out, or pass --force to replace an earlier fermix prepare output there (nothing was changed)`);
  }
  if (!entries.includes(SUMMARY_FILE)) {
    throw new UsageError(`--out ${outDir} holds files fermix prepare did not write (no ${SUMMARY_FILE}); --force only replaces an earlier prepare output. Choose another --out (nothing was changed)`);
  }
}

/** Moves the finished copy into place; an earlier output (checked by checkOutDir) is removed only after. */
function replaceOutDir(staging: string, outDir: string): void {
  if (!existsSync(outDir)) {
    mkdirSync(path.dirname(outDir), { recursive: true });
    renameSync(staging, outDir);
    return;
  }
  const old = `${outDir}.replaced-${process.pid}`;
  renameSync(outDir, old);
  renameSync(staging, outDir);
  rmSync(old, { recursive: true, force: true });
}

/** The optional peer @fermix/landmarks, with a message that says how to install it when absent. */
async function importLandmarks(importer?: () => Promise<LandmarksModule>): Promise<LandmarksModule> {
  try {
    return await (importer ?? (() => import('@fermix/landmarks') as Promise<LandmarksModule>))();
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    const notInstalled = e?.code === 'ERR_MODULE_NOT_FOUND' || e?.code === 'MODULE_NOT_FOUND' || /Cannot find (package|module) '@fermix\/landmarks'/.test(String(e?.message));
    if (!notInstalled) throw err;
    throw new UsageError(
      'data.align.landmarks: model needs the face-landmark model in the optional package @fermix/landmarks, which is not installed. ' +
        'Install it next to @fermix/cli (pnpm add @fermix/landmarks, or npm install @fermix/landmarks), or use landmarks: dataset where the dataset has its own (RAF-DB).',
    );
  }
}
