import { readFileSync } from 'node:fs';
import path from 'node:path';
import { cosmiconfig } from 'cosmiconfig';
import { LineCounter, parseDocument, isNode, type Document } from 'yaml';
import { ConfigError, issuesFromZod, type ConfigIssue, type ConfigPath } from './errors.js';
import { configSchema, type FermixConfig } from './schema.js';

/** File names fermix looks for, from the working folder upward to the project root. */
export const CONFIG_SEARCH_PLACES = ['fermix.config.yaml', 'fermix.config.yml', '.fermixrc.yaml', '.fermixrc.yml', '.fermixrc'];

/** Finds a config file with cosmiconfig's search; null when there is none. */
export async function findConfigFile(cwd: string = process.cwd()): Promise<string | null> {
  const explorer = cosmiconfig('fermix', {
    searchPlaces: CONFIG_SEARCH_PLACES,
    searchStrategy: 'project',
    // We only want the path: parsing is ours, so errors can point at lines.
    loaders: { '.yaml': () => ({}), '.yml': () => ({}), noExt: () => ({}) },
  });
  const found = await explorer.search(cwd);
  return found?.filepath ?? null;
}

/** `file:line:col` of the node at `path` in a parsed YAML document (or of its nearest parent). */
function locate(doc: Document, counter: LineCounter, file: string, p: ConfigPath): string | undefined {
  for (let n = p.length; n >= 0; n--) {
    const node = doc.getIn(p.slice(0, n), true);
    if (isNode(node) && node.range) {
      const { line, col } = counter.linePos(node.range[0]);
      return `${path.basename(file)}:${line}:${col}`;
    }
  }
  return undefined;
}

export interface ParsedConfigFile {
  raw: unknown;
  file: string;
  /** Adds `file:line:col` to issues. */
  locate(p: ConfigPath): string | undefined;
}

export function readConfigFile(file: string): ParsedConfigFile {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError([{ path: [], expected: `a readable YAML file at ${file} (${(err as Error).message})` }], file);
  }
  const counter = new LineCounter();
  const doc = parseDocument(text, { lineCounter: counter, prettyErrors: false });
  if (doc.errors.length > 0) {
    const issues: ConfigIssue[] = doc.errors.map((e) => {
      const { line, col } = counter.linePos(e.pos[0]);
      return { path: [], expected: `valid YAML (${e.message.split('\n')[0]})`, location: `${path.basename(file)}:${line}:${col}` };
    });
    throw new ConfigError(issues, file);
  }
  const raw = doc.toJS() ?? {};
  return { raw, file, locate: (p) => locate(doc, counter, file, p) };
}

/**
 * Validates a raw config object (from YAML or code), fills in defaults and resolves relative paths
 * against `baseDir`. Throws a `ConfigError` naming every bad path.
 */
export function validateConfig(
  raw: unknown,
  options: { baseDir: string; file?: string; locate?: (p: ConfigPath) => string | undefined },
): FermixConfig {
  const withLocation = (issues: ConfigIssue[]) => issues.map((i) => ({ ...i, location: i.location ?? options.locate?.(i.path) }));
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
    throw new ConfigError([{ path: [], expected: 'a mapping (seed, backend, data, model, train, eval, plugins)', found: raw }], options.file);
  }
  const result = configSchema.safeParse(raw);
  if (!result.success) throw new ConfigError(withLocation(issuesFromZod(result.error, raw)), options.file);
  const config: FermixConfig = { ...result.data, baseDir: options.baseDir, configFile: options.file };
  const issues: ConfigIssue[] = [];
  if (config.data.root) config.data.root = path.resolve(options.baseDir, config.data.root);
  if (config.model.weights) config.model.weights = path.resolve(options.baseDir, config.model.weights);
  if (config.data.trainSplit === config.data.testSplit) {
    issues.push({ path: ['data', 'testSplit'], expected: `a split other than the training split "${config.data.trainSplit}"`, found: config.data.testSplit });
  }
  if (issues.length) throw new ConfigError(withLocation(issues), options.file);
  return config;
}

/** Where each config's values sit in its file, for error messages about it later (plugins). */
const locations = new WeakMap<object, (p: ConfigPath) => string | undefined>();

/** `file:line:col` of a path in the file a config was loaded from, when known. */
export function locateInConfig(config: object, p: ConfigPath): string | undefined {
  return locations.get(config)?.(p);
}

export interface LoadConfigOptions {
  /** A config file given with -c; otherwise cosmiconfig searches from `cwd`. */
  file?: string;
  cwd?: string;
}

/** Finds, reads and validates the config. With no file found, the defaults (synthetic data) apply. */
export async function loadConfig(options: LoadConfigOptions = {}): Promise<FermixConfig> {
  const cwd = options.cwd ?? process.cwd();
  const file = options.file ? path.resolve(cwd, options.file) : await findConfigFile(cwd);
  if (!file) return validateConfig({}, { baseDir: cwd });
  const parsed = readConfigFile(file);
  const config = validateConfig(parsed.raw, { baseDir: path.dirname(file), file, locate: parsed.locate });
  locations.set(config, parsed.locate);
  return config;
}
