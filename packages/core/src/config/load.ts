import { readFileSync } from 'node:fs';
import path from 'node:path';
import { cosmiconfig } from 'cosmiconfig';
import { LineCounter, parseDocument, isNode, visit, type Document } from 'yaml';
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

/** Deeper than this, a config is refused: no fermix setting nests more than a few levels. */
export const MAX_CONFIG_DEPTH = 32;
/**
 * Alias expansions allowed by yaml's `maxAliasCount` (a "billion laughs" document expands each alias
 * into many nodes and is refused by the yaml package before it builds them).
 */
const MAX_ALIAS_COUNT = 100;

/**
 * Where a parsed value nests deeper than MAX_CONFIG_DEPTH or refers to itself (an anchor used inside
 * its own node), or null when it is plain data.
 */
function badStructure(value: unknown): { path: ConfigPath; why: string } | null {
  const ancestors = new Set<object>();
  const visit = (v: unknown, p: ConfigPath): { path: ConfigPath; why: string } | null => {
    if (v === null || typeof v !== 'object') return null;
    if (ancestors.has(v)) return { path: p, why: 'a value that does not contain itself (an anchor used inside its own node)' };
    const proto = Object.getPrototypeOf(v);
    if (!Array.isArray(v) && proto !== Object.prototype && proto !== null) {
      // !!binary, !!set, !!omap, !!timestamp: YAML types that are not plain data.
      return { path: p, why: `plain data (a mapping, a list, a string, a number, true/false or null), not ${proto?.constructor?.name ?? 'a typed value'} (no !!binary, !!set, !!omap or !!timestamp)` };
    }
    if (p.length >= MAX_CONFIG_DEPTH) return { path: p, why: `nesting at most ${MAX_CONFIG_DEPTH} levels deep` };
    ancestors.add(v);
    const entries: [string | number, unknown][] = Array.isArray(v) ? v.map((item, i) => [i, item]) : Object.entries(v);
    for (const [key, item] of entries) {
      const found = visit(item, [...p, key]);
      if (found) return found;
    }
    ancestors.delete(v);
    return null;
  };
  return visit(value, []);
}

export function readConfigFile(file: string): ParsedConfigFile {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    // The message names the file once, in its head: the reason without Node's ", open '<path>'".
    const reason = (err as Error).message.replace(/, \w+ '.*'$/s, '');
    throw new ConfigError([{ path: [], expected: `a readable YAML file (${reason})` }], file);
  }
  const where = (offset: number) => {
    const { line, col } = counter.linePos(offset);
    return `${path.basename(file)}:${line}:${col}`;
  };
  const counter = new LineCounter();
  let doc: Document | undefined;
  let raw: unknown;
  try {
    doc = parseDocument(text, { lineCounter: counter, prettyErrors: false });
    if (doc.errors.length > 0) {
      const issues: ConfigIssue[] = doc.errors.map((e) => ({ path: [], expected: `valid YAML (${e.message.split('\n')[0]})`, location: where(e.pos[0]) }));
      throw new ConfigError(issues, file);
    }
    // A config is plain data: a tag (`!!js/function`, `!!binary`, `!custom`) the YAML core schema
    // does not know would otherwise come through as a string.
    const tags = doc.warnings.filter((w) => w.code === 'TAG_RESOLVE_FAILED');
    if (tags.length > 0) {
      throw new ConfigError(
        tags.map((w) => ({ path: [], expected: `plain YAML data without tags (${w.message.split('\n')[0]}; fermix configs take no !!js/*, !!binary or custom tags)`, location: where(w.pos[0]) })),
        file,
      );
    }
    raw = doc.toJS({ maxAliasCount: MAX_ALIAS_COUNT }) ?? {};
  } catch (err) {
    if (err instanceof ConfigError) throw err;
    // yaml throws a ReferenceError for an alias bomb (and for an alias to a missing anchor), and
    // deep enough nesting exhausts the stack while composing: both are bad files, not crashes.
    const reason = err instanceof RangeError ? 'nested too deeply to read' : (err as Error).message.split('\n')[0];
    throw new ConfigError([{ path: [], expected: `valid YAML (${reason})`, location: doc ? firstAlias(doc, where) : undefined }], file);
  }
  const parsed = doc!;
  const bad = badStructure(raw);
  if (bad) {
    throw new ConfigError([{ path: bad.path, expected: bad.why, location: safeLocate((p) => locate(parsed, counter, file, p), bad.path) }], file);
  }
  return { raw, file, locate: (p) => safeLocate((q) => locate(parsed, counter, file, q), p) };
}

/** Where the document's first alias is (an alias bomb's error has no position of its own). */
function firstAlias(doc: Document, where: (offset: number) => string): string | undefined {
  let found: string | undefined;
  try {
    visit(doc, {
      Alias(_, node) {
        if (node.range) found = where(node.range[0]);
        return visit.BREAK;
      },
    });
  } catch {
    // nested too deeply to walk: no position
  }
  return found;
}

/** A location lookup that never throws (a path through an alias or a cycle has none to give). */
function safeLocate(fn: (p: ConfigPath) => string | undefined, p: ConfigPath): string | undefined {
  try {
    return fn(p);
  } catch {
    return undefined;
  }
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
  // `imagenet` names a download, anything else a path.
  if (config.model.weights && config.model.weights !== 'imagenet') config.model.weights = path.resolve(options.baseDir, config.model.weights);
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
