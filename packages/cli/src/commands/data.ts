import { loadConfig, TOKENS, type DataSource, type FermixConfig, type Logger } from '@fermix/core';
import { decodeFiles } from '@fermix/data';
import { createReporter } from '../progress.js';
import { containerWithData } from '../setup.js';

export interface DataCommandOptions {
  config?: string;
  /** Print `{ "splits": { "<split>": { "<class>": n } }, ... }` on stdout instead of a table. */
  json?: boolean;
  /** Decode every image file to find unreadable ones (slow on big datasets). */
  check?: boolean;
}

/**
 * What a split holds according to its labels, as the data sources of @fermix/data describe it with
 * `inventory(split)` (their `SplitInventory`), without decoding anything.
 */
interface Inventory {
  classes: string[];
  counts: number[];
  missing: { path: string; reason: string }[];
  files?: string[];
}

/** A split's counts and problems. `unreadable` is undefined when nothing was decoded. */
export interface SplitReport {
  split: string;
  classes: string[];
  counts: number[];
  missing: { path: string; reason: string }[];
  unreadable?: { path: string; reason: string }[];
}

/** Problems are listed by their first few paths. */
const SHOWN = 5;
/** Images are decoded this small for --check: decoding is the test, the pixels are not kept. */
const CHECK_SIZE = 8;

/**
 * `fermix data`: samples per split and class of the config's data, and the images that are missing
 * or (with --check) unreadable. Returns 0, or 1 when any image is missing or unreadable.
 */
export async function dataCommand(options: DataCommandOptions, out: NodeJS.WritableStream = process.stdout): Promise<number> {
  const { logger } = createReporter();
  const config = await loadConfig({ file: options.config });
  logger.info(`config: ${config.configFile ?? 'none found, using the defaults (synthetic data)'}`);
  const source = (await containerWithData(config, logger)).get<DataSource>(TOKENS.DataSource);
  const reports: SplitReport[] = [];
  for (const split of await source.splits()) reports.push(await reportSplit(source, split, config, options.check ?? false, logger));
  out.write(options.json ? JSON.stringify(toJson(source.description, reports), null, 2) + '\n' : formatReports(source.description, reports));
  if (!options.check && !options.json && reports.some((r) => r.unreadable === undefined)) {
    logger.info('counts come from the labels; run with --check to decode every image and find unreadable files');
  }
  return reports.some((r) => r.missing.length > 0 || (r.unreadable?.length ?? 0) > 0) ? 1 : 0;
}

async function reportSplit(source: DataSource, split: string, config: FermixConfig, check: boolean, logger: Logger): Promise<SplitReport> {
  const inventory = inventoryOf(source);
  if (!inventory) return reportByLoading(source, split, config, logger);
  const { classes, counts, missing, files } = await inventory(split);
  const report: SplitReport = { split, classes, counts, missing };
  if (check && files) report.unreadable = await unreadableFiles(files, split, config.data.maxPixels, logger);
  if (check && !files) report.unreadable = []; // pixels live in the label file and were all validated
  return report;
}

/** The source's `inventory`, when it has one (all of @fermix/core's file formats do). */
function inventoryOf(source: DataSource): ((split: string) => Promise<Inventory>) | undefined {
  const fn = (source as { inventory?: (split: string) => Promise<Inventory> }).inventory;
  return typeof fn === 'function' ? (split) => fn.call(source, split) : undefined;
}

/** A source that cannot count without decoding (synthetic, custom ones): load the split. */
async function reportByLoading(source: DataSource, split: string, config: FermixConfig, logger: Logger): Promise<SplitReport> {
  const set = await source.load(split, { imageSize: config.data.imageSize, logger, maxPixels: config.data.maxPixels });
  const counts = new Array<number>(set.classes.length).fill(0);
  for (const label of set.labels) counts[label]++;
  return { split, classes: set.classes, counts, missing: [], unreadable: set.skipped };
}

async function unreadableFiles(files: string[], split: string, maxPixels: number, logger: Logger): Promise<{ path: string; reason: string }[]> {
  logger.info(`checking split "${split}": decoding ${files.length} images`);
  const results = await decodeFiles(files, CHECK_SIZE, { logger, maxPixels });
  return results.flatMap((r, i) => (r.ok ? [] : [{ path: files[i], reason: r.reason }]));
}

/** The JSON report: `splits` (counts per class), plus `missing` and `unreadable` per split. */
export function toJson(description: string, reports: SplitReport[]) {
  const perSplit = <T>(fn: (r: SplitReport) => T) => Object.fromEntries(reports.map((r) => [r.split, fn(r)]));
  const problems = (list: { path: string; reason: string }[]) => ({ count: list.length, first: list.slice(0, SHOWN) });
  return {
    source: description,
    classes: reports[0]?.classes ?? [],
    splits: perSplit((r) => Object.fromEntries(r.classes.map((c, i) => [c, r.counts[i]]))),
    missing: perSplit((r) => problems(r.missing)),
    unreadable: reports.every((r) => r.unreadable) ? perSplit((r) => problems(r.unreadable!)) : null,
  };
}

/** A table, classes down and splits across, then one line per kind of problem. */
export function formatReports(description: string, reports: SplitReport[]): string {
  const classes = reports[0]?.classes ?? [];
  const total = (r: SplitReport) => r.counts.reduce((a, b) => a + b, 0);
  const rows: string[][] = [
    ['class', ...reports.map((r) => r.split)],
    ...classes.map((c, i) => [c, ...reports.map((r) => String(r.counts[i]))]),
    ['total', ...reports.map((r) => String(total(r)))],
  ];
  const widths = rows[0].map((_, col) => Math.max(...rows.map((row) => row[col].length)));
  const lines = [description, ...rows.map((row) => row.map((cell, col) => (col === 0 ? cell.padEnd(widths[col]) : cell.padStart(widths[col] + 2))).join(''))];
  for (const r of reports) {
    if (r.missing.length > 0) lines.push(`${r.split}: ${r.missing.length} of ${total(r)} images missing: ${listPaths(r.missing)}`);
    if (r.unreadable?.length) lines.push(`${r.split}: ${r.unreadable.length} unreadable images: ${listPaths(r.unreadable, true)}`);
  }
  if (reports.length > 0 && reports.every((r) => r.unreadable) && reports.every((r) => r.missing.length === 0 && r.unreadable!.length === 0)) {
    lines.push('every image is present and readable');
  }
  return lines.join('\n') + '\n';
}

function listPaths(list: { path: string; reason: string }[], withReason = false): string {
  const shown = list.slice(0, SHOWN).map((p) => (withReason ? `${p.path} (${p.reason})` : p.path));
  return shown.join(', ') + (list.length > SHOWN ? ` and ${list.length - SHOWN} more` : '');
}
