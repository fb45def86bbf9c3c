import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import type { SymbolicTensor } from '@tensorflow/tfjs-layers';
import { ConfigError, OptionsError, UNKNOWN_KEY, type ConfigIssue, type ConfigPath } from './config/errors.js';
import { locateInConfig } from './config/load.js';
import { DATA_KEYS, type FermixConfig } from './config/schema.js';
import type { DataSource } from './data/source.js';
import type { Logger } from './logger.js';
import { checkWeightsSetting } from './pretrained.js';
import { SUPPORTED_PLUGIN_API_VERSIONS, type FermixPlugin, type ModelPlan, type PluginFactory } from './types.js';

/** A backbone: builds the feature extractor for a plan (the core adds pooling and the head). */
export interface BackboneDefinition {
  name: string;
  description: string;
  /** Input sizes the backbone is meant for, for listings; any size >= minInputSize builds. */
  minInputSize: number;
  /** Input [H, W, C] images in [0, 1] to the last feature map, calling plan.afterBlock after each block. */
  build(input: SymbolicTensor, plan: ModelPlan): SymbolicTensor;
  /** Validates `model.options` (throw an `OptionsError`, e.g. with `parseOptions`); called before any data loads. */
  parseOptions?(raw: unknown): unknown;
}

/** Backbones by name. `@fermix/backbones` registers its own; a user's package registers the same way. */
export class BackboneRegistry {
  private readonly byName = new Map<string, BackboneDefinition>();

  register(definition: BackboneDefinition): this {
    this.byName.set(definition.name, definition);
    return this;
  }

  get(name: string): BackboneDefinition {
    const found = this.byName.get(name);
    if (!found) {
      throw new ConfigError([{ path: ['model', 'backbone'], expected: `one of the registered backbones: ${this.names().join(', ') || '(none registered)'}`, found: name }]);
    }
    return found;
  }

  has(name: string): boolean {
    return this.byName.has(name);
  }

  names(): string[] {
    return [...this.byName.keys()].sort();
  }
}

/** What a package listed under `backbonePackages` or `dataPackages` may export, and where it goes. */
interface ListedExports<R> {
  /** `registerBackbones` / `registerDataFormats`: called with the registry. */
  registerName: string;
  /** `backbones` / `dataFormats`: an array of definitions. */
  listName: string;
  /** Whether a default export is one definition. */
  isDefinition(value: any): boolean;
  registry: R & { register(definition: any): unknown };
  /** For the error when a package exports none of these. */
  expected: string;
}

/**
 * Imports each package a config lists under `key` (`backbonePackages`, `dataPackages`), as a plugin
 * package is loaded: found from the config file's folder, imported through its ESM entry. It
 * registers through `registerName(registry)`, or a `listName` array, or a default export that is a
 * definition or an array of them.
 */
async function loadListedPackages<R>(config: Pick<FermixConfig, 'baseDir' | 'configFile'>, key: 'backbonePackages' | 'dataPackages', packages: readonly string[], exports: ListedExports<R>): Promise<void> {
  const { registerName, listName, registry } = exports;
  const register = (mod: any): boolean => {
    const fn = mod[registerName] ?? mod.default?.[registerName];
    const list = mod[listName] ?? mod.default?.[listName] ?? mod.default;
    if (typeof fn === 'function') fn(registry);
    else if (Array.isArray(list) || (list && exports.isDefinition(list))) for (const definition of [list].flat()) registry.register(definition);
    else return false;
    return true;
  };
  const issues: ConstructorParameters<typeof ConfigError>[0] = [];
  for (const [i, pkg] of packages.entries()) {
    const p = [key, i];
    const entry = findPackageEntry(pkg, config.baseDir);
    if (!entry) {
      issues.push({ path: p, expected: `a package installed where ${config.baseDir} can see it (e.g. pnpm add ${pkg})`, found: pkg, location: locateInConfig(config, p) });
      continue;
    }
    // The package's own code runs here (see the README's security section): a failure names it.
    try {
      if (!register(await import(pathToFileURL(entry).href))) issues.push({ path: p, expected: exports.expected, found: pkg, location: locateInConfig(config, p) });
    } catch (err) {
      issues.push({ path: p, expected: `a package that loads and registers (${entry} failed: ${(err as Error)?.message ?? String(err)})`, found: pkg, location: locateInConfig(config, p) });
    }
  }
  if (issues.length) throw new ConfigError(issues, config.configFile);
}

/**
 * Registers the backbones of the packages a config lists under `backbonePackages`. A package
 * exports `registerBackbones(registry)`, or `backbones` (an array), or a default export that is a
 * backbone definition or an array of them.
 */
export async function loadBackbonePackages(config: Pick<FermixConfig, 'backbonePackages' | 'baseDir' | 'configFile'>, registry: BackboneRegistry): Promise<void> {
  await loadListedPackages(config, 'backbonePackages', config.backbonePackages, {
    registerName: 'registerBackbones',
    listName: 'backbones',
    isDefinition: (value) => typeof value.build === 'function',
    registry,
    expected: 'a package exporting registerBackbones(registry), backbones, or a default backbone definition',
  });
}

/** What a data format's `create` gets besides the config. */
export interface DataFormatContext<Options = unknown> {
  logger: Logger;
  /** What the format's `parseOptions` returned (its own `data` keys, defaults filled in), or those keys as they are. */
  options: Options;
}

/**
 * A data format: `data.format: <format>` in a config makes its source. `@fermix/data` registers
 * fermix's own (imagefolder, synthetic, rafdb, fer2013-csv, affectnet); a package listed under
 * `dataPackages` registers more the same way.
 */
export interface DataFormatDefinition<Options = unknown> {
  /** The `data.format` value. */
  format: string;
  description: string;
  /**
   * Validates the format's own `data` keys: `raw` holds every key of `data` besides the shared ones
   * (DATA_KEYS); `data` is the whole validated section (root, align...). Throw an `OptionsError`
   * (e.g. with `parseOptions`) whose paths are relative to `data`: they are reported at
   * `data.<key>`. Without it, a key besides the shared ones is an error.
   */
  parseOptions?(raw: Record<string, unknown>, data: FermixConfig['data']): Options;
  /** The data source for a validated config; `config.data.root` is already resolved against the config's folder. */
  create(config: FermixConfig, ctx: DataFormatContext<Options>): DataSource;
}

type DataConfigOf = Pick<FermixConfig, 'data' | 'configFile'>;

/** Data formats by `data.format`. */
export class DataSourceRegistry {
  private readonly byFormat = new Map<string, DataFormatDefinition<any>>();

  register<Options>(definition: DataFormatDefinition<Options>): this {
    this.byFormat.set(definition.format, definition);
    return this;
  }

  /** The format's definition; an unknown format is a ConfigError at `data.format` listing the registered ones. */
  get(format: string, config?: DataConfigOf): DataFormatDefinition<unknown> {
    const found = this.byFormat.get(format);
    if (!found) {
      const p = ['data', 'format'];
      throw new ConfigError(
        [{ path: p, expected: `one of the registered data formats: ${this.names().join(', ') || '(none registered: add @fermix/data, or list a package under dataPackages)'}`, found: format, location: config && locateInConfig(config, p) }],
        config?.configFile,
      );
    }
    return found;
  }

  has(format: string): boolean {
    return this.byFormat.has(format);
  }

  names(): string[] {
    return [...this.byFormat.keys()].sort();
  }

  /** The format's options from `config.data`, validated by its schema; errors name `data.<key>`. */
  parse(config: DataConfigOf): unknown {
    const definition = this.get(config.data.format, config);
    const shared = new Set<string>(DATA_KEYS);
    const raw = Object.fromEntries(Object.entries(config.data).filter(([key]) => !shared.has(key)));
    if (!definition.parseOptions) {
      const unknown = Object.keys(raw).map((key) => ({ path: [key], expected: UNKNOWN_KEY, found: raw[key] }));
      if (unknown.length) throw new ConfigError(issuesAt(config, ['data'], unknown), config.configFile);
      return raw;
    }
    return withOptionsAt(config, ['data'], () => definition.parseOptions!(raw, config.data));
  }

  /** The data source for a config: its format's `create`, after its options validate. */
  create(config: FermixConfig, logger: Logger): DataSource {
    const options = this.parse(config);
    return this.get(config.data.format, config).create(config, { logger, options });
  }
}

/**
 * Registers the formats of the packages a config lists under `dataPackages`. A package exports
 * `registerDataFormats(registry)`, or `dataFormats` (an array), or a default export that is a
 * format definition or an array of them.
 */
export async function loadDataPackages(config: Pick<FermixConfig, 'dataPackages' | 'baseDir' | 'configFile'>, registry: DataSourceRegistry): Promise<void> {
  await loadListedPackages(config, 'dataPackages', config.dataPackages, {
    registerName: 'registerDataFormats',
    listName: 'dataFormats',
    isDefinition: (value) => typeof value.create === 'function',
    registry,
    expected: 'a package exporting registerDataFormats(registry), dataFormats, or a default data format definition',
  });
}

/**
 * Checks `data.format` and the format's own `data` keys before anything starts (errors name the
 * YAML path, `data.onMissing`), and puts the validated options, defaults filled in, into
 * `config.data` (so the run folder's config.yaml shows them).
 */
export function validateDataConfig(config: Pick<FermixConfig, 'data' | 'configFile'>, registry: DataSourceRegistry): void {
  const options = registry.parse(config);
  if (options && typeof options === 'object' && !Array.isArray(options)) Object.assign(config.data, options);
}

/**
 * Checks the config's backbone name and `model.options` before anything starts; errors name the
 * YAML path (`model.options.widths`).
 */
export function validateModelConfig(config: Pick<FermixConfig, 'model' | 'data' | 'configFile'>, registry: BackboneRegistry): void {
  const backbone = registry.get(config.model.backbone);
  const size = config.data.imageSize;
  if (size !== undefined && size < backbone.minInputSize) {
    const p = ['data', 'imageSize'];
    throw new ConfigError([{ path: p, expected: `at least ${backbone.minInputSize} for backbone ${backbone.name} (its smallest input)`, found: size, location: locateInConfig(config, p) }], config.configFile);
  }
  checkWeightsSetting(config);
  if (!backbone.parseOptions) return;
  withOptionsAt(config, ['model', 'options'], () => backbone.parseOptions!(config.model.options));
}

/**
 * Runs a backbone's or a data format's option check: an `OptionsError` becomes a ConfigError whose
 * issues sit under `prefix` in the config, with their file locations. By name too: a package may
 * carry its own copy of @fermix/core, whose OptionsError is another class.
 */
function withOptionsAt<T>(config: object & { configFile?: string }, prefix: ConfigPath, parse: () => T): T {
  try {
    return parse();
  } catch (err) {
    if (!(err instanceof OptionsError || (err as Error)?.name === 'OptionsError')) throw err;
    throw new ConfigError(issuesAt(config, prefix, (err as OptionsError).issues), config.configFile);
  }
}

function issuesAt(config: object, prefix: ConfigPath, issues: ConfigIssue[]): ConfigIssue[] {
  return issues.map((i) => {
    const p = [...prefix, ...i.path];
    return { ...i, path: p, location: i.location ?? locateInConfig(config, p) };
  });
}

/** `mixup` -> `@fermix/plugin-mixup`; a scoped or dashed package name stays as it is. */
export function pluginPackageName(name: string): string {
  return name.startsWith('@') || name.includes('/') || name.includes('-') ? name : `@fermix/plugin-${name}`;
}

function factoryFromModule(mod: any): PluginFactory | undefined {
  for (const candidate of [mod?.default, mod?.default?.default, mod?.plugin, mod?.default?.plugin]) {
    if (typeof candidate === 'function') return candidate as PluginFactory;
  }
  return undefined;
}

/**
 * Plugin factories by name. Names registered here win; any other name is imported as a package
 * installed in the project (resolved from the config file's folder).
 */
export class PluginRegistry {
  private readonly byName = new Map<string, PluginFactory>();

  register(name: string, factory: PluginFactory): this {
    this.byName.set(name, factory);
    this.byName.set(pluginPackageName(name), factory);
    return this;
  }

  has(name: string): boolean {
    return this.byName.has(name) || this.byName.has(pluginPackageName(name));
  }

  /** The factory for a config name; throws an Error saying what was tried. */
  async resolve(name: string, fromDir: string): Promise<PluginFactory> {
    const known = this.byName.get(name) ?? this.byName.get(pluginPackageName(name));
    if (known) return known;
    const pkg = pluginPackageName(name);
    const entry = findPackageEntry(pkg, fromDir);
    if (!entry) {
      throw new Error(`unknown plugin "${name}": package ${pkg} is not installed where ${fromDir} can see it (install it, e.g. pnpm add ${pkg}, or check the name)`);
    }
    return this.fromModule(await import(pathToFileURL(entry).href), pkg);
  }

  private fromModule(mod: unknown, pkg: string): PluginFactory {
    const factory = factoryFromModule(mod);
    if (!factory) throw new Error(`package ${pkg} does not export a plugin factory (expected a default export function)`);
    return factory;
  }
}

/** Export conditions given to this process with --conditions / -C (also through NODE_OPTIONS). */
function activeConditions(): string[] {
  const args = [...process.execArgv, ...(process.env.NODE_OPTIONS ?? '').split(/\s+/)];
  const found: string[] = [];
  args.forEach((arg, i) => {
    const m = /^(?:--conditions|-C)=(.+)$/.exec(arg);
    if (m) found.push(m[1]);
    else if ((arg === '--conditions' || arg === '-C') && args[i + 1]) found.push(args[i + 1]);
  });
  return found;
}

/**
 * The file to import for a package installed where `fromDir` can see it. The ESM entry is preferred:
 * the fermix command runs as ESM, and a plugin loaded through its CommonJS build would bring a second
 * copy of @fermix/core into the process.
 */
export function findPackageEntry(pkg: string, fromDir: string): string | null {
  for (let dir = path.resolve(fromDir); ; dir = path.dirname(dir)) {
    const pkgDir = path.join(dir, 'node_modules', ...pkg.split('/'));
    const manifest = path.join(pkgDir, 'package.json');
    if (existsSync(manifest)) {
      const json = JSON.parse(readFileSync(manifest, 'utf8'));
      const root = typeof json.exports === 'object' && json.exports !== null ? (json.exports['.'] ?? json.exports) : json.exports;
      const pick = (v: unknown): string | undefined =>
        typeof v === 'string' ? v : v && typeof v === 'object' ? pick((v as Record<string, unknown>).default) : undefined;
      const conditions = root && typeof root === 'object' ? (root as Record<string, unknown>) : {};
      // Conditions the process runs with (node --conditions=...) come first, as in Node's own resolution.
      const preferred = [...activeConditions(), 'import', 'require'].map((c) => pick(conditions[c])).find(Boolean);
      const candidate = preferred ?? pick(root) ?? json.module ?? json.main ?? 'index.js';
      const file = path.resolve(pkgDir, candidate);
      if (existsSync(file)) return file;
      try {
        return createRequire(manifest).resolve(pkgDir);
      } catch {
        return null;
      }
    }
    if (path.dirname(dir) === dir) return null;
  }
}

const HOOKS = ['setup', 'transformModel', 'transformBatch', 'composeLoss', 'onStepEnd', 'onEpochEnd', 'onTrainEnd'] as const;

/** Why what a plugin factory returned is not a plugin (an object with a name, an apiVersion and function hooks), or null. */
function malformedPlugin(plugin: unknown): string | null {
  if (plugin === null || typeof plugin !== 'object') return `an object { name, apiVersion, ...hooks }, but the factory returned ${plugin === null ? 'null' : typeof plugin}`;
  const p = plugin as Record<string, unknown>;
  if (typeof p.name !== 'string' || p.name === '') return 'a plugin with a name (a non-empty string)';
  if (typeof p.apiVersion !== 'number') return `"${p.name}" to declare its apiVersion (a number; this @fermix/core supports ${SUPPORTED_PLUGIN_API_VERSIONS.join(', ')}), found ${JSON.stringify(p.apiVersion) ?? 'none'}`;
  const notFunctions = HOOKS.filter((h) => p[h] !== undefined && typeof p[h] !== 'function');
  if (notFunctions.length > 0) return `"${p.name}"'s hooks to be functions (${notFunctions.join(', ')} ${notFunctions.length === 1 ? 'is' : 'are'} not)`;
  return null;
}

/** Name and raw options of a `plugins:` entry. */
export function pluginEntry(entry: string | Record<string, unknown>): { name: string; options: unknown } {
  if (typeof entry === 'string') return { name: entry, options: {} };
  const [name] = Object.keys(entry);
  return { name, options: entry[name] ?? {} };
}

/**
 * Builds the config's plugins in config order: resolves each, validates its options with its own
 * schema, checks its apiVersion and declared conflicts. Every error names the YAML path.
 */
export async function resolvePlugins(
  config: Pick<FermixConfig, 'plugins' | 'baseDir' | 'configFile'>,
  registry: PluginRegistry,
  locate?: (p: ConfigPath) => string | undefined,
): Promise<FermixPlugin[]> {
  const plugins: FermixPlugin[] = [];
  const issues: ConstructorParameters<typeof ConfigError>[0] = [];
  const at = (p: ConfigPath) => (locate ? locate(p) : locateInConfig(config, p));
  for (const [i, entry] of config.plugins.entries()) {
    const { name, options } = pluginEntry(entry);
    let factory: PluginFactory;
    try {
      factory = await registry.resolve(name, config.baseDir);
    } catch (err) {
      issues.push({ path: ['plugins', i], expected: (err as Error).message, found: name, location: at(['plugins', i]) });
      continue;
    }
    try {
      const parsed = factory.parseOptions ? factory.parseOptions(options) : options;
      const plugin = factory(parsed);
      const malformed = malformedPlugin(plugin);
      if (malformed) {
        issues.push({ path: ['plugins', i, name], expected: `a plugin from the package's factory: ${malformed}`, location: at(['plugins', i]) });
        continue;
      }
      if (!SUPPORTED_PLUGIN_API_VERSIONS.includes(plugin.apiVersion)) {
        issues.push({
          path: ['plugins', i, name],
          expected: `a plugin for apiVersion ${SUPPORTED_PLUGIN_API_VERSIONS.join(' or ')} (this @fermix/core); "${plugin.name}" declares apiVersion ${plugin.apiVersion}: upgrade @fermix/core or use a matching plugin version`,
          location: at(['plugins', i]),
        });
        continue;
      }
      plugins.push(plugin);
    } catch (err) {
      // By name too: a plugin may carry its own copy of @fermix/core, whose OptionsError is another class.
      if (err instanceof OptionsError || (err as Error)?.name === 'OptionsError') {
        for (const issue of (err as OptionsError).issues) {
          const p = ['plugins', i, name, ...issue.path];
          issues.push({ ...issue, path: p, location: at(p) });
        }
      } else {
        issues.push({ path: ['plugins', i, name], expected: `options the plugin accepts (${(err as Error).message})`, found: options, location: at(['plugins', i]) });
      }
    }
  }
  // Declared conflicts: a plugin names others it cannot run with, and why.
  for (const [i, plugin] of plugins.entries()) {
    for (const conflict of plugin.conflicts ?? []) {
      const j = plugins.findIndex((p) => p.name === conflict.name);
      if (j >= 0 && j !== i && !(j < i && plugins[j].conflicts?.some((c) => c.name === plugin.name))) {
        issues.push({ path: ['plugins'], expected: `at most one of ${plugin.name} and ${conflict.name}: ${conflict.reason}`, found: config.plugins.map((e) => pluginEntry(e).name) });
      }
    }
  }
  if (issues.length) throw new ConfigError(issues, config.configFile);
  return plugins;
}
