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
  /**
   * Every option's default, by plugin short name. A plugin's other options (all but a mixing
   * plugin's alpha and dropout's rate, which have columns) name a variant of the method when they
   * differ from these, e.g. `mixaugment(mix=cutmix)`, so runs that differ in them are not averaged
   * into one row. For a plugin not listed, every option its entry writes names the variant.
   */
  options?: Record<string, Record<string, unknown>>;
}

export const PLUGIN_DEFAULTS: PluginDefaults = {
  mixup: { alpha: 0.2 },
  mixaugment: { alpha: 0.1 },
  dropout: { rate: 0.5 },
  options: {
    mixup: { alpha: 0.2, lambda: 'batch', pairing: 'permutation' },
    mixaugment: { mix: 'mixup', lambda: 'batch', pairing: 'permutation', realWeight: 1, virtualWeight: 1, forward: 'separate', alpha: 0.1 },
    flip: { p: 0.5 },
    dropout: { rate: 0.5, placement: 'head' },
  },
};

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

/** A method part's plugin name: `mixaugment(mix=cutmix)` -> `mixaugment`. */
const bareName = (part: string): string => part.replace(/\(.*\)$/, '');

/**
 * The method name of a plugin list: mixing plugins first, the others (but dropout) in config order.
 * Each part is a plugin name, or a name with its variant, `mixaugment(mix=cutmix)`.
 */
export function methodName(pluginNames: string[]): string {
  const named = pluginNames.filter((n) => bareName(n) !== 'dropout');
  const mixing = (n: string) => MIXING.has(bareName(n));
  const ordered = [...named.filter(mixing), ...named.filter((n) => !mixing(n))];
  return ordered.length > 0 ? ordered.join('+') : 'vanilla';
}

/** A value as a variant shows it: strings and numbers as they are, anything else as JSON. */
const shown = (value: unknown): string => (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean' ? String(value) : JSON.stringify(value));

const sameValue = (a: unknown, b: unknown): boolean => a === b || JSON.stringify(a) === JSON.stringify(b);

/**
 * A plugin entry as a method part: its name, with the options that name a variant in parentheses
 * (sorted by key), e.g. `mixaugment(forward=joint, mix=cutmix)`. Left out: a mixing plugin's alpha
 * and dropout's rate (columns of their own) and options equal to their known default.
 */
export function methodPart(entry: { name: string; options: Record<string, unknown> }, defaults: PluginDefaults = PLUGIN_DEFAULTS): string {
  const known = defaults.options?.[entry.name];
  const columns = MIXING.has(entry.name) ? ['alpha'] : entry.name === 'dropout' ? ['rate'] : [];
  const variant = Object.keys(entry.options)
    .filter((k) => !columns.includes(k) && entry.options[k] !== undefined && !(known && k in known && sameValue(known[k], entry.options[k])))
    .sort()
    .map((k) => `${k}=${shown(entry.options[k])}`);
  return variant.length > 0 ? `${entry.name}(${variant.join(', ')})` : entry.name;
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
    method: methodName(entries.map((e) => methodPart(e, defaults))),
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
