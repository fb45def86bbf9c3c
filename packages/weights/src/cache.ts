import * as os from 'node:os';
import * as path from 'node:path';

type Env = Record<string, string | undefined>;

/** Where downloaded weights are kept: $FERMIX_HOME/weights, else ~/.cache/fermix/weights ($XDG_CACHE_HOME honoured). */
export function weightsCacheDir(env: Env = process.env): string {
  if (env.FERMIX_HOME) return path.join(env.FERMIX_HOME, 'weights');
  return path.join(env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache'), 'fermix', 'weights');
}

/** Where Keras caches its downloads (`get_file(cache_subdir='models')`): $KERAS_HOME/models, else ~/.keras/models. */
export function kerasCacheDir(env: Env = process.env): string {
  return path.join(env.KERAS_HOME || path.join(os.homedir(), '.keras'), 'models');
}

/** The mirror setting: FERMIX_WEIGHTS_BASE_URL (a config's `model.weightsBaseUrl` wins over it). */
export const BASE_URL_ENV = 'FERMIX_WEIGHTS_BASE_URL';
