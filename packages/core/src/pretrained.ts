/**
 * `model.weights` as a config says it: `imagenet` (keras.applications' file for the backbone,
 * downloaded once into the cache), or a path (a Keras .h5 file, a tfjs model.json or its folder, a
 * fermix checkpoint folder such as `runs/affectnet/checkpoints/best`). `checkWeightsSetting` runs
 * before any data loads; `resolvePretrainedWeights` turns the setting into a file to load.
 */
import * as fs from 'node:fs';
import { fetchWeightsFile, IMAGENET_BACKBONES, imagenetWeightsFile, type DownloadProgress } from '@fermix/weights';
import { ConfigError } from './config/errors.js';
import { locateInConfig } from './config/load.js';
import type { FermixConfig } from './config/schema.js';
import type { Logger } from './logger.js';

export const IMAGENET = 'imagenet';

type WeightsConfig = Pick<FermixConfig, 'model' | 'data' | 'configFile'>;

/** The ImageNet file of the config's backbone (throws for a backbone Keras has no weights for). */
const imagenetFileOf = (config: WeightsConfig) => imagenetWeightsFile(config.model.backbone, { options: config.model.options, imageSize: config.data.imageSize });

/** A ConfigError at `model.weights` for a backbone without ImageNet weights or a path that does not exist. */
export function checkWeightsSetting(config: WeightsConfig): void {
  const { weights } = config.model;
  if (!weights) return;
  const p = ['model', 'weights'];
  let expected: string | undefined;
  if (weights === IMAGENET && !IMAGENET_BACKBONES.includes(config.model.backbone)) {
    expected = `a weights file: keras.applications publishes ImageNet weights for ${IMAGENET_BACKBONES.join(', ')}, not for backbone '${config.model.backbone}'`;
  } else if (weights === IMAGENET) {
    try {
      imagenetFileOf(config);
    } catch (err) {
      expected = `a weights file, or a backbone Keras has ImageNet weights for (${(err as Error).message.replace(/^weights: imagenet: /, '')})`;
    }
  } else if (!fs.existsSync(weights)) {
    expected = 'imagenet, or an existing Keras .h5 file, tfjs model.json (or its folder) or fermix checkpoint folder (runs/<run>/checkpoints/best); nothing is at that path';
  }
  if (expected) throw new ConfigError([{ path: p, expected, found: weights, location: locateInConfig(config, p) }], config.configFile);
}

export interface ResolveWeightsOptions {
  logger: Logger;
  /** Download progress of `imagenet` (a progress bar on a terminal). */
  onDownloadProgress?: (progress: DownloadProgress) => void;
}

/** The file `model.weights` names: for `imagenet`, a verified copy in the cache (downloaded when absent). */
export async function resolvePretrainedWeights(config: WeightsConfig, options: ResolveWeightsOptions): Promise<string> {
  const weights = config.model.weights!;
  if (weights !== IMAGENET) return weights;
  return fetchWeightsFile(imagenetFileOf(config), {
    baseUrl: config.model.weightsBaseUrl,
    logger: options.logger,
    onProgress: options.onDownloadProgress,
  });
}
