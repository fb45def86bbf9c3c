import { registerBackbones } from '@fermix/backbones';
import { registerDataFormats } from '@fermix/data';
import { registerBuiltinPlugins } from './builtins.js';
import { UsageError } from './commands/train.js';
import {
  createContainer,
  loadConfig,
  resolvePlugins,
  TOKENS,
  validateModelConfig,
  loadBackbonePackages,
  loadDataPackages,
  validateDataConfig,
  type BackboneRegistry,
  type DataSourceRegistry,
  type Container,
  type FermixConfig,
  type FermixPlugin,
  type Logger,
  type PluginRegistry,
} from '@fermix/core';

export interface Session {
  config: FermixConfig;
  container: Container;
  plugins: FermixPlugin[];
}

/** `--threads <n|auto>`: a positive integer or `auto`; anything else is a usage error. */
export function parseThreadsFlag(value: string): FermixConfig['threads'] {
  if (value === 'auto') return 'auto';
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > 256) throw new UsageError(`--threads expects "auto" or an integer from 1 to 256, got "${value}"`);
  return n;
}

/** `--accelerator <none|onnxruntime>`. */
export function parseAcceleratorFlag(value: string): FermixConfig['accelerator'] {
  if (value === 'none' || value === 'onnxruntime') return value;
  throw new UsageError(`--accelerator expects "none" or "onnxruntime", got "${value}"`);
}

/**
 * The container for a config with fermix's data formats (@fermix/data) and those of the config's
 * `dataPackages` registered, and `data` validated by its format: errors name `data.<key>` before
 * anything is read.
 */
export async function containerWithData(config: FermixConfig, logger: Logger): Promise<Container> {
  const container = createContainer(config, logger);
  const formats = registerDataFormats(container.get<DataSourceRegistry>(TOKENS.DataSourceRegistry));
  await loadDataPackages(config, formats);
  validateDataConfig(config, formats);
  return container;
}

/** Config, container with fermix's data formats, backbones and plugins registered, and the config's plugins, validated. */
export async function openSession(configFile: string | undefined, logger: Logger, overrides: { threads?: string; accelerator?: string } = {}): Promise<Session> {
  const config = await loadConfig({ file: configFile });
  if (overrides.threads !== undefined) config.threads = parseThreadsFlag(overrides.threads);
  if (overrides.accelerator !== undefined) config.accelerator = parseAcceleratorFlag(overrides.accelerator);
  logger.info(`config: ${config.configFile ?? 'none found, using the defaults (synthetic data)'}`);
  const container = await containerWithData(config, logger);
  registerBackbones(container.get<BackboneRegistry>(TOKENS.BackboneRegistry));
  // Validate the backbone and its options now, before any data is decoded.
  await loadBackbonePackages(config, container.get<BackboneRegistry>(TOKENS.BackboneRegistry));
  validateModelConfig(config, container.get<BackboneRegistry>(TOKENS.BackboneRegistry));
  const registry = registerBuiltinPlugins(container.get<PluginRegistry>(TOKENS.PluginRegistry));
  const plugins = await resolvePlugins(config, registry);
  return { config, container, plugins };
}
