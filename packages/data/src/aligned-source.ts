/**
 * A data source that aligns its images on load: each split's original images (listed by an
 * `alignPlan`, with the dataset's own five landmarks when it has them) are warped to the frontal
 * template, then resized to the configured size. RAF-DB (Image/original + Annotation/manual),
 * AffectNet (its CSV's 68 landmarks) and image folders (landmarks from a model) are made alignable
 * with it; `fermix prepare` reads the same plan to write the aligned copy once.
 */
import type { Logger } from '@fermix/core';
import type { LandmarkDetector } from './align.js';
import { alignFiles, type AlignConfig, type AlignPlan, type AlignableSource } from './align-files.js';
import type { DecodeResult } from './decode-pool.js';
import { toRgbResized } from './decode.js';
import { assembleImageSet, requireEveryClass, type InventorySource } from './labels.js';
import { streamable } from './open-split.js';
import { DataError, type DataSource, type ImageSet, type LoadOptions } from './source.js';

export interface AlignedSourceOptions {
  /** The unaligned source: its classes and splits are the aligned source's. */
  base: DataSource;
  /** Names the aligned source in logs and errors. */
  description: string;
  align: AlignConfig & { detector?: LandmarkDetector };
  alignPlan(split: string, logger: Logger): Promise<AlignPlan>;
  inventory?: InventorySource['inventory'];
  /** How a caller passes a detector, for the error when `landmarks: model` has none. */
  detectorHint: string;
}

export function alignedSource(options: AlignedSourceOptions): AlignableSource & Partial<Pick<InventorySource, 'inventory'>> {
  const { base, description, align, alignPlan } = options;
  return streamable({
    description,
    align: { landmarks: align.landmarks, size: align.size },
    classes: () => base.classes(),
    splits: () => base.splits(),
    alignPlan,
    ...(options.inventory ? { inventory: options.inventory } : {}),
    async load(split: string, loadOptions: LoadOptions): Promise<ImageSet> {
      const { imageSize: size, logger } = loadOptions;
      if (!Number.isInteger(size) || size < 1) throw new Error(`imageSize must be a positive integer, got ${size}`);
      if (align.landmarks === 'model' && !align.detector) {
        throw new DataError(
          `${description}: data.align.landmarks: model needs the face-landmark model, which training does not load. ` +
            `Run \`fermix prepare -c <config> --out <dir>\` once (it uses @fermix/landmarks) and train on the aligned folder it writes, or pass a LandmarkDetector as ${options.detectorHint}.`,
        );
      }
      const started = Date.now();
      const plan = await alignPlan(split, logger);
      const results: DecodeResult[] = [];
      // With the dataset's landmarks, decoded and warped in the decode workers.
      for await (const outcome of alignFiles(plan.items, align.size, { detector: align.detector, logger, maxPixels: loadOptions.maxPixels })) {
        if (!outcome.ok) results.push({ ok: false, reason: outcome.reason });
        else if (size === align.size) results.push({ ok: true, data: outcome.data });
        else results.push({ ok: true, data: toRgbResized({ width: align.size, height: align.size, channels: 3, data: outcome.data }, size) });
      }
      const set = assembleImageSet({ files: plan.items, results, size, classes: plan.classes, split, what: description, skipped: plan.skipped, logger });
      requireEveryClass(set, split, description);
      logger.debug(`aligned split "${split}": ${set.count} images, ${plan.classes.length} classes, ${size}x${size}`, { ms: Date.now() - started });
      return set;
    },
  });
}
