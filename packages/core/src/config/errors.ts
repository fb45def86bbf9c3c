import type { ZodError, ZodType } from 'zod';

/** A path into the config, e.g. ['plugins', 1, 'mixaugment', 'alpha']. */
export type ConfigPath = (string | number)[];

export interface ConfigIssue {
  path: ConfigPath;
  /** What was expected, in words: "an integer >= 1", "one of auto | wasm | cpu". */
  expected: string;
  /** The value found, if any (undefined when the key is missing). */
  found?: unknown;
  /** `file:line:col` of the value, when the config came from a file. */
  location?: string;
}

/** `plugins[1].mixaugment.alpha` */
export function formatPath(path: ConfigPath): string {
  let out = '';
  for (const part of path) {
    if (typeof part === 'number') out += `[${part}]`;
    else if (/^[A-Za-z_$][\w$-]*$/.test(part)) out += out ? `.${part}` : part;
    else out += `[${JSON.stringify(part)}]`;
  }
  return out || '(root)';
}

/** The value found, in at most 80 characters; never throws (cycles, BigInt, numbers JSON cannot spell). */
function describeValue(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (typeof value === 'function') return 'a function';
  let text: string;
  if (typeof value === 'number' && !Number.isFinite(value)) text = String(value); // NaN, Infinity: JSON says null
  else if (typeof value === 'number' && Object.is(value, -0)) text = '-0';
  else {
    try {
      text = JSON.stringify(value) ?? String(value);
    } catch {
      text = Array.isArray(value) ? '[...]' : typeof value === 'object' && value !== null ? '{...}' : String(value);
    }
  }
  return text.length > 80 ? text.slice(0, 77) + '...' : text;
}

/**
 * A bad config: every issue names the YAML path, the value found and what was expected.
 * Nothing starts when one is thrown.
 */
export class ConfigError extends Error {
  constructor(
    readonly issues: ConfigIssue[],
    readonly file?: string,
  ) {
    super(ConfigError.format(issues, file));
    this.name = 'ConfigError';
  }

  static format(issues: ConfigIssue[], file?: string): string {
    const head = `invalid fermix config${file ? ` (${file})` : ''}:`;
    const lines = issues.map((i) => {
      const where = i.location ? ` (${i.location})` : '';
      const found = 'found' in i ? `, found ${describeValue(i.found)}` : '';
      return `  - ${formatPath(i.path)}${where}: expected ${i.expected}${found}`;
    });
    return [head, ...lines].join('\n');
  }
}

/**
 * Options of a plugin (or any nested object) failed validation. Paths are relative to the options;
 * the config loader prefixes them with the plugin's place in the config.
 */
export class OptionsError extends Error {
  constructor(readonly issues: ConfigIssue[]) {
    super(ConfigError.format(issues));
    this.name = 'OptionsError';
  }
}

function getAt(root: unknown, path: ConfigPath): unknown {
  let cur: any = root;
  for (const part of path) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = cur[part as any];
  }
  return cur;
}

/** What an unknown key of the config is reported as expecting. */
export const UNKNOWN_KEY = 'no such key (unknown option; check the spelling)';

/** Turns zod's issues into ours, with the value found looked up in the raw input. */
export function issuesFromZod(error: ZodError, raw: unknown, prefix: ConfigPath = []): ConfigIssue[] {
  const out: ConfigIssue[] = [];
  for (const issue of error.issues as any[]) {
    const path: ConfigPath = [...prefix, ...(issue.path as ConfigPath)];
    const found = getAt(raw, issue.path);
    switch (issue.code) {
      case 'unrecognized_keys':
        for (const key of issue.keys as string[]) {
          const parent = getAt(raw, issue.path) as Record<string, unknown> | undefined;
          out.push({ path: [...path, key], expected: UNKNOWN_KEY, found: parent?.[key] });
        }
        break;
      case 'invalid_type':
        out.push({ path, expected: found === undefined ? `a value (required ${issue.expected})` : `${article(issue.expected)}`, found });
        break;
      case 'invalid_value':
        out.push({ path, expected: `one of ${(issue.values as unknown[]).map((v) => String(v)).join(' | ')}`, found });
        break;
      case 'too_small':
        out.push({ path, expected: sizeBound(issue.origin, 'at least', issue.inclusive ? '>=' : '>', issue.minimum), found });
        break;
      case 'too_big':
        out.push({ path, expected: sizeBound(issue.origin, 'at most', issue.inclusive ? '<=' : '<', issue.maximum), found });
        break;
      default:
        out.push({ path, expected: issue.message.replace(/^Invalid input: expected /, ''), found });
    }
  }
  return out;
}

/** `at least 1 entries`... for lists, `a text of at least 1 characters` for strings, `a number >= 1` otherwise. */
function sizeBound(origin: string, words: string, op: string, bound: unknown): string {
  if (origin === 'array' || origin === 'set') return `${words} ${bound} entries`;
  if (origin === 'string') return `a text of ${words} ${bound} character${bound === 1 ? '' : 's'}`;
  return `a number ${op} ${bound}`;
}

function article(type: string): string {
  if (type === 'int') return 'an integer';
  return /^[aeiou]/.test(type) ? `an ${type}` : `a ${type}`;
}

/**
 * Validates `raw` against a zod schema and returns the parsed value, or throws an `OptionsError`
 * whose issues name each bad path. Plugins use this for their own options.
 */
export function parseOptions<T>(schema: ZodType<T>, raw: unknown): T {
  const result = schema.safeParse(raw);
  if (result.success) return result.data;
  throw new OptionsError(issuesFromZod(result.error, raw));
}
