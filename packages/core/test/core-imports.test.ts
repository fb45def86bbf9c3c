import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const SRC = fileURLToPath(new URL('../src', import.meta.url));

/** Every module specifier a TypeScript file imports or re-exports (static and dynamic). */
export function importedSpecifiers(text: string): string[] {
  const found: string[] = [];
  for (const m of text.matchAll(/(?:^|[;\s])(?:import|export)\s[^'"]*?\bfrom\s*['"]([^'"]+)['"]/g)) found.push(m[1]);
  for (const m of text.matchAll(/(?:^|[;\s])import\s*['"]([^'"]+)['"]/g)) found.push(m[1]);
  for (const m of text.matchAll(/\bimport\(\s*['"]([^'"]+)['"]\s*\)/g)) found.push(m[1]);
  return found;
}

/** @fermix/data, or a module named after a dataset format or the data machinery that moved there. */
const DATASET_MODULE = /^@fermix\/data(\/|$)|(^|\/)(image-folder|rafdb|rafdb-annotations|fer2013-csv|affectnet|synthetic|decode|decode-pool|sharp-decoder|stream|open-split|labels|align|align-files|aligned-source)(\.js|\.ts)?$/;

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? sourceFiles(path.join(dir, e.name)) : e.name.endsWith('.ts') ? [path.join(dir, e.name)] : []));
}

describe('packages/core/src', () => {
  it('finds the imports a dataset format would come in by', () => {
    const text = "import { a } from './data/rafdb.js';\nexport { b } from '@fermix/data';\nimport type { C } from '../x.js';\nconst m = await import('./data/decode-pool.js');\nimport './side-effect.js';";
    expect(importedSpecifiers(text)).toEqual(['./data/rafdb.js', '@fermix/data', '../x.js', './side-effect.js', './data/decode-pool.js']);
    expect(importedSpecifiers(text).filter((s) => DATASET_MODULE.test(s))).toEqual(['./data/rafdb.js', '@fermix/data', './data/decode-pool.js']);
  });

  it('imports nothing from a dataset format, nor from @fermix/data', () => {
    const files = sourceFiles(SRC);
    expect(files.length).toBeGreaterThan(30);
    const offending = files.flatMap((file) => importedSpecifiers(readFileSync(file, 'utf8')).filter((s) => DATASET_MODULE.test(s)).map((s) => `${path.relative(SRC, file)}: ${s}`));
    expect(offending).toEqual([]);
  });
});
