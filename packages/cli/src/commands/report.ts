import path from 'node:path';
import { parseDropoutOptions } from '@fermix/plugin-dropout';
import { parseMixAugmentOptions } from '@fermix/plugin-mixaugment';
import { parseMixupOptions } from '@fermix/plugin-mixup';
import { meanStd, plural, reportFolder, ReportError, rowLabel, type PluginDefaults } from '@fermix/report';
import { UsageError } from './train.js';

export interface ReportCommandOptions {
  /** Output folder; default `<folder>/report`. */
  out?: string;
  /** Table 5's method; default the best non-vanilla method. */
  compare?: string;
}

/** The installed plugins' own defaults, for plugin entries that leave alpha or rate out. */
function pluginDefaults(): PluginDefaults {
  return {
    mixup: { alpha: parseMixupOptions().alpha },
    mixaugment: { alpha: parseMixAugmentOptions().alpha },
    dropout: { rate: parseDropoutOptions().rate },
  };
}

/**
 * `fermix report <folder> [--out dir] [--compare method]`: Tables 2-6 of the paper from the run
 * folders in a run or sweep folder, as report.md, report.html and CSV files. Prints where they went.
 */
export async function reportCommand(folder: string, options: ReportCommandOptions = {}, out: NodeJS.WritableStream = process.stdout): Promise<number> {
  let written;
  try {
    written = reportFolder(folder, {
      outDir: options.out ? path.resolve(options.out) : undefined,
      compare: options.compare,
      pluginDefaults: pluginDefaults(),
    });
  } catch (err) {
    if (err instanceof ReportError) throw new UsageError(err.message);
    throw err;
  }
  const { report, outDir, files } = written;
  const { runs, unfinished } = report.collection;
  const lines = [`${plural(runs.length, 'finished run')} in ${plural(report.rows.length, 'configuration')} from ${report.collection.root}`];
  for (const u of unfinished) lines.push(`unfinished, left out: ${u.name} (${u.reason})`);
  for (const note of report.notes) lines.push(`note: ${note}`);
  const best = report.ablation.best!;
  lines.push(`best (by mean accuracy): ${rowLabel(best, report.extraKeys)}: accuracy ${meanStd(best.accuracy)}, macro F1 ${meanStd(best.macroF1)} (n=${best.runs.length})`);
  lines.push(`report written to ${outDir}:`);
  for (const file of files) lines.push(`  ${path.relative(outDir, file)}`);
  lines.push(`open ${path.join(outDir, 'report.html')} in a browser`);
  out.write(lines.join('\n') + '\n');
  return 0;
}
