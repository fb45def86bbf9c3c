import { writeFileSync } from 'node:fs';
import path from 'node:path';
import {
  budgetBytesOf,
  buildModelForConfig,
  evaluateSplit,
  openSourceSplit,
  Rng,
  TOKENS,
  type BackboneRegistry,
  type BackendService,
  type CheckpointStore,
  type ClassificationMetrics,
  type DataSource,
  type TtaName,
} from '@fermix/core';
import { createReporter } from '../progress.js';
import { openSession } from '../setup.js';
import { UsageError } from './train.js';

export interface EvalCommandOptions {
  config?: string;
  checkpoint: string;
  split?: string;
  json?: string;
  threads?: string;
  accelerator?: string;
  /** Overrides eval.tta: `flip`, or `none`. */
  tta?: string;
}

/** `--tta flip` / `--tta none`; the config's eval.tta when absent. */
function ttaOf(option: string | undefined, configured: readonly TtaName[]): TtaName[] {
  if (option === undefined) return [...configured];
  const names = option.split(',').map((s) => s.trim()).filter((s) => s !== '' && s !== 'none');
  for (const name of names) if (name !== 'flip') throw new UsageError(`--tta: unknown test-time augmentation "${name}" (flip, or none)`);
  return names as TtaName[];
}

const pct = (v: number) => `${(v * 100).toFixed(2)}%`;

/** A table of the metrics a person reads: overall, per class, confusion matrix. */
export function formatMetrics(m: ClassificationMetrics): string {
  const lines = [
    `accuracy ${pct(m.accuracy)}  macro F1 ${pct(m.macroF1)}  average accuracy ${pct(m.averageAccuracy)}  (${m.count} images)`,
    `confidence: correct mean ${m.confidence.correct.mean?.toFixed(4) ?? '-'} median ${m.confidence.correct.median?.toFixed(4) ?? '-'}; wrong mean ${m.confidence.wrong.mean?.toFixed(4) ?? '-'} median ${m.confidence.wrong.median?.toFixed(4) ?? '-'}`,
    '',
    `${'class'.padEnd(12)} ${'precision'.padStart(9)} ${'recall'.padStart(9)} ${'F1'.padStart(9)} ${'support'.padStart(8)}`,
  ];
  for (const c of m.classes) {
    const p = m.perClass[c];
    lines.push(`${c.padEnd(12)} ${pct(p.precision).padStart(9)} ${pct(p.recall).padStart(9)} ${pct(p.f1).padStart(9)} ${String(p.support).padStart(8)}`);
  }
  lines.push('', 'confusion matrix (rows: true class, columns: predicted)');
  const w = Math.max(6, ...m.confusionMatrix.flat().map((v) => String(v).length + 1));
  lines.push(' '.repeat(12) + m.classes.map((c) => c.slice(0, w - 1).padStart(w)).join(''));
  m.confusionMatrix.forEach((row, i) => lines.push(m.classes[i].padEnd(12) + row.map((v) => String(v).padStart(w)).join('')));
  return lines.join('\n') + '\n';
}

/** `fermix eval`: a checkpoint's metrics on a split of the config's data. */
export async function evalCommand(options: EvalCommandOptions): Promise<number> {
  const { logger } = createReporter();
  const session = await openSession(options.config, logger, { threads: options.threads, accelerator: options.accelerator });
  const { config, container, plugins } = session;
  const store = container.get<CheckpointStore>(TOKENS.CheckpointStore);
  const checkpoint = path.resolve(options.checkpoint);
  if (!store.exists(checkpoint)) {
    throw new UsageError(`no complete checkpoint in ${checkpoint} (expected model.json, weights.bin and COMPLETE, e.g. <run>/checkpoints/best)`);
  }
  await container.get<BackendService>(TOKENS.Backend).select();
  const split = options.split ?? config.data.testSplit;
  const tta = ttaOf(options.tta, config.eval.tta);
  // Held in memory within data.cacheMB, streamed from disk over it, as in training.
  const set = await openSourceSplit(container.get<DataSource>(TOKENS.DataSource), split, {
    imageSize: config.data.imageSize,
    logger,
    prefetch: config.data.prefetch,
    maxPixels: config.data.maxPixels,
    budgetBytes: budgetBytesOf(config.data.cacheMB),
  });
  const model = buildModelForConfig(config, set.classes.length, plugins, { logger, container, rng: new Rng(config.seed) }, container.get<BackboneRegistry>(TOKENS.BackboneRegistry));
  await store.loadWeights(checkpoint, model);
  let metrics: ClassificationMetrics;
  try {
    metrics = await evaluateSplit(model, set, config.train.batchSize, { tta });
  } finally {
    await set.close?.();
  }
  if (tta.length > 0) process.stdout.write(`test-time augmentation: ${tta.join(', ')}\n`);
  process.stdout.write(formatMetrics(metrics));
  if (options.json) {
    writeFileSync(options.json, JSON.stringify({ split, checkpoint, tta, ...metrics }, null, 2) + '\n');
    logger.info(`metrics written to ${path.resolve(options.json)}`);
  }
  return 0;
}
