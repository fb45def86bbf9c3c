import path from 'node:path';
import { meanStd, plural, reportFolder, ReportError, rowLabel, type PluginDefaults } from '@fermix/report';
import { builtinPlugins } from '../builtins.js';
import { UsageError } from './train.js';

export interface ReportCommandOptions {
  /** Output folder; default `<folder>/report`. */
  out?: string;
  /** Table 5's method; default the best non-vanilla method. */
  compare?: string;
}

/**
 * The built-in plugins' own defaults: each factory's `parseOptions` of nothing gives every option's
 * default (mixup's and mixaugment's alpha, dropout's rate, and the options that name a variant).
 */
function pluginDefaults(): PluginDefaults {
  const options: Record<string, Record<string, unknown>> = {};
  for (const [name, factory] of Object.entries(builtinPlugins)) {
    try {
      if (factory.parseOptions) options[name] = factory.parseOptions({}) as Record<string, unknown>;
    } catch {
      // Options without a default (cutmix's alpha...): every option written names the variant.
    }
  }
  return {
    mixup: { alpha: options.mixup.alpha as number },
    mixaugment: { alpha: options.mixaugment.alpha as number },
    dropout: { rate: options.dropout.rate as number },
    options,
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
