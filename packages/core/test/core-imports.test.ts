import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const SRC = fileURLToPath(new URL('../src', import.meta.url));

/** How a file refers to a module: loaded at runtime (import, export from, dynamic import, require), or for types only. */
export type ImportKind = 'static' | 'type' | 'dynamic' | 'require';

export interface ImportedSpecifier {
  specifier: string;
  kind: ImportKind;
}

/**
 * Every module specifier a TypeScript file imports or re-exports (static at the start of a line, up
 * to its `from` without crossing a statement; `import type`/`export type`; dynamic), or requires (`require('x')`, `nodeRequire('x')`,
 * `require.resolve('x')`, `createRequire(...)('x')`).
 */
export function importsOf(text: string): ImportedSpecifier[] {
  const found: ImportedSpecifier[] = [];
  for (const m of text.matchAll(/(?:^|;)[ \t]*(?:import|export)\s+(type\s)?[^'"`;=()]*?\bfrom\s*['"]([^'"]+)['"]/gm)) found.push({ specifier: m[2], kind: m[1] ? 'type' : 'static' });
  for (const m of text.matchAll(/(?:^|;)[ \t]*import\s*['"]([^'"]+)['"]/gm)) found.push({ specifier: m[1], kind: 'static' });
  for (const m of text.matchAll(/\bimport\(\s*['"]([^'"]+)['"]\s*\)/g)) found.push({ specifier: m[1], kind: 'dynamic' });
  for (const m of text.matchAll(/\b(?:require|\w+Require)(?:\.resolve)?\s*\(\s*['"]([^'"]+)['"]\s*\)/g)) found.push({ specifier: m[1], kind: 'require' });
  for (const m of text.matchAll(/\bcreateRequire\s*\((?:[^()]|\([^()]*\))*\)\s*(?:\.resolve)?\s*\(\s*['"]([^'"]+)['"]\s*\)/g)) found.push({ specifier: m[1], kind: 'require' });
  return found;
}

/** Every module specifier a TypeScript file imports, re-exports or requires. */
export function importedSpecifiers(text: string): string[] {
  return importsOf(text).map((i) => i.specifier);
}

/** @fermix/data, or a module named after a dataset format or the data machinery that moved there. */
const DATASET_MODULE = /^@fermix\/data(\/|$)|(^|\/)(image-folder|rafdb|rafdb-annotations|fer2013-csv|affectnet|synthetic|decode|decode-pool|sharp-decoder|stream|open-split|labels|align|align-files|aligned-source)(\.js|\.ts)?$/;

/**
 * The one exemption: the deprecated re-exports of the names that moved to @fermix/data. It may take
 * @fermix/data's types and require @fermix/data once, on first use (its loader); nothing else.
 */
const SHIM = 'deprecated-data.ts';

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? sourceFiles(path.join(dir, e.name)) : e.name.endsWith('.ts') ? [path.join(dir, e.name)] : []));
}

describe('packages/core/src', () => {
  it('finds the imports a dataset format would come in by', () => {
    const text = [
      "import { a } from './data/rafdb.js';",
      "export { b } from '@fermix/data';",
      "import type { C } from '../x.js';",
      "const m = await import('./data/decode-pool.js');",
      "import './side-effect.js';",
      "export type { D } from '@fermix/data';",
      "const s = require('./stream.js');",
      "const t = createRequire(import.meta.url)('@fermix/data');",
      "const u = nodeRequire.resolve('./labels.js');",
      "const v = createRequire(path.join(dir, 'x.js'))('./align.js');",
      " * `import { alignFace } from '@fermix/data'` (a comment or message, not an import)",
    ].join('\n');
    expect(importsOf(text)).toEqual([
      { specifier: './data/rafdb.js', kind: 'static' },
      { specifier: '@fermix/data', kind: 'static' },
      { specifier: '../x.js', kind: 'type' },
      { specifier: '@fermix/data', kind: 'type' },
      { specifier: './side-effect.js', kind: 'static' },
      { specifier: './data/decode-pool.js', kind: 'dynamic' },
      { specifier: './stream.js', kind: 'require' },
      { specifier: './labels.js', kind: 'require' },
      { specifier: '@fermix/data', kind: 'require' },
      { specifier: './align.js', kind: 'require' },
    ]);
    expect(importedSpecifiers(text).filter((s) => DATASET_MODULE.test(s))).toEqual(['./data/rafdb.js', '@fermix/data', '@fermix/data', './data/decode-pool.js', './stream.js', './labels.js', '@fermix/data', './align.js']);
  });

  it('imports nothing from a dataset format, nor from @fermix/data (the deprecated re-exports aside)', () => {
    const files = sourceFiles(SRC);
    expect(files.length).toBeGreaterThan(30);
    const offending = files
      .filter((file) => path.relative(SRC, file) !== SHIM)
      .flatMap((file) => importedSpecifiers(readFileSync(file, 'utf8')).filter((s) => DATASET_MODULE.test(s)).map((s) => `${path.relative(SRC, file)}: ${s}`));
    expect(offending).toEqual([]);
  });

  it(`${SHIM} takes only @fermix/data's types statically, and requires it in one place, its on-demand loader`, () => {
    const text = readFileSync(path.join(SRC, SHIM), 'utf8');
    const dataset = importsOf(text).filter((i) => DATASET_MODULE.test(i.specifier));
    expect(dataset.filter((i) => i.kind !== 'type')).toEqual([{ specifier: '@fermix/data', kind: 'require' }]);
    expect(dataset.filter((i) => i.kind === 'type').map((i) => i.specifier)).toEqual(['@fermix/data']);
    // That require is in loadData, which the deprecated names call when they are used.
    const loader = text.slice(text.indexOf('function loadData('), text.indexOf('\n}\n', text.indexOf('function loadData(')));
    expect(importsOf(loader).filter((i) => DATASET_MODULE.test(i.specifier))).toEqual([{ specifier: '@fermix/data', kind: 'require' }]);
    // No runtime export from it either (export * / export { } from would load it).
    expect(text).not.toMatch(/^[ \t]*export\s+(?!type\s)[^;]*\bfrom\s*['"]@fermix\/data['"]/m);
    // And index.ts exports the shim.
    expect(readFileSync(path.join(SRC, 'index.ts'), 'utf8')).toMatch(/^export \* from '\.\/deprecated-data\.js';$/m);
  });
});
