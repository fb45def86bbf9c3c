import { configSchema } from '@fermix/core';
import type { RunSettings } from './types.js';

/**
 * The options a report reads from plugin entries, for entries that leave them out (`- mixup`).
 * These are the defaults of the plugins' own option schemas; `fermix report` passes the installed
 * plugins' values, so the two cannot drift apart there.
 */
export interface PluginDefaults {
  mixup: { alpha: number };
  mixaugment: { alpha: number };
  dropout: { rate: number };
}

export const PLUGIN_DEFAULTS: PluginDefaults = { mixup: { alpha: 0.2 }, mixaugment: { alpha: 0.1 }, dropout: { rate: 0.5 } };

/** Plugins that mix samples: they name the method first and carry its alpha. */
const MIXING = new Set(['mixup', 'mixaugment']);
const SCOPE_PREFIX = '@fermix/plugin-';

/** A plugin entry's name and options: `flip`, `{ flip: {...} }`, or a full package name. */
export function pluginEntry(entry: unknown): { name: string; options: Record<string, unknown> } {
  if (typeof entry === 'string') return { name: shortPluginName(entry), options: {} };
  if (entry && typeof entry === 'object' && !Array.isArray(entry)) {
    const [name, options] = Object.entries(entry as Record<string, unknown>)[0] ?? ['?', {}];
    const opts = options && typeof options === 'object' && !Array.isArray(options) ? (options as Record<string, unknown>) : {};
    return { name: shortPluginName(name), options: opts };
  }
  return { name: String(entry), options: {} };
}

/** `@fermix/plugin-mixup` -> `mixup`; other names stay as they are. */
export function shortPluginName(name: string): string {
  return name.startsWith(SCOPE_PREFIX) ? name.slice(SCOPE_PREFIX.length) : name;
}

/** The method name of a plugin list: mixing plugins first, the others (but dropout) in config order. */
export function methodName(pluginNames: string[]): string {
  const named = pluginNames.filter((n) => n !== 'dropout');
  const ordered = [...named.filter((n) => MIXING.has(n)), ...named.filter((n) => !MIXING.has(n))];
  return ordered.length > 0 ? ordered.join('+') : 'vanilla';
}

const numberOr = (value: unknown, fallback: number): number => (typeof value === 'number' && Number.isFinite(value) ? value : fallback);

const get = (value: unknown, ...keys: string[]): unknown =>
  keys.reduce<unknown>((v, k) => (v && typeof v === 'object' ? (v as Record<string, unknown>)[k] : undefined), value);

/** The config defaults, for a config.yaml written by an older fermix that left a key out. */
const CONFIG_DEFAULTS = configSchema.parse({});

/** A run's report settings from its parsed config.yaml (the resolved config `fermix train` writes). */
export function runSettings(config: unknown, defaults: PluginDefaults = PLUGIN_DEFAULTS): RunSettings {
  const rawPlugins = get(config, 'plugins');
  const entries = (Array.isArray(rawPlugins) ? rawPlugins : []).map(pluginEntry);
  const mixing = entries.find((e) => MIXING.has(e.name));
  const dropout = entries.find((e) => e.name === 'dropout');
  return {
    method: methodName(entries.map((e) => e.name)),
    plugins: entries.map((e) => e.name),
    alpha: mixing ? numberOr(mixing.options.alpha, defaults[mixing.name as 'mixup' | 'mixaugment'].alpha) : null,
    dropout: dropout ? numberOr(dropout.options.rate, defaults.dropout.rate) : null,
    seed: numberOr(get(config, 'seed'), CONFIG_DEFAULTS.seed),
    backbone: String(get(config, 'model', 'backbone') ?? CONFIG_DEFAULTS.model.backbone),
    lr: numberOr(get(config, 'train', 'optimizer', 'lr'), CONFIG_DEFAULTS.train.optimizer.lr),
    optimizer: String(get(config, 'train', 'optimizer', 'name') ?? CONFIG_DEFAULTS.train.optimizer.name),
    schedule: String(get(config, 'train', 'schedule', 'name') ?? CONFIG_DEFAULTS.train.schedule.name),
  };
}
