/**
 * The deprecated data names of the @fermix/core root as a user meets them: the BUILT packages (dist/,
 * built first when stale), in a plain `node` child process without the `fermix-source` condition,
 * ESM and CJS. Importing @fermix/core loads nothing of @fermix/data; the first call of a deprecated
 * name loads it (in ESM its ESM entry, required synchronously, so the program's later
 * `import('@fermix/data')` is the same instance), and errors are the DataError of the program's
 * @fermix/core. A program that imports @fermix/data itself has its instance used, with no second load.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureBuilt, lockDist, packagesDir, repoRoot } from '../../../examples/custom-plugin/test/dist.js';

const run = promisify(execFile);
const env: NodeJS.ProcessEnv = { ...process.env };
delete env.NODE_OPTIONS;

let work = '';

/** Runs `script` in `node` from the repository root (whose node_modules has @fermix/core and @fermix/data); the last stdout line, parsed. */
async function node(script: string, { esm, args = [] }: { esm: boolean; args?: string[] }): Promise<any> {
  const { stdout } = await run(process.execPath, [...args, ...(esm ? ['--input-type=module'] : []), '-e', script], { cwd: repoRoot, env, timeout: 120_000 });
  return JSON.parse(stdout.trim().split('\n').at(-1)!);
}

/** Paths of @fermix/data's files in `require.cache` (CJS modules, and ES modules loaded by require). */
const DATA_IN_CACHE = `(cache) => Object.keys(cache).filter((k) => k.includes(${JSON.stringify(`${path.sep}packages${path.sep}data${path.sep}`)})).map((k) => k.slice(k.lastIndexOf(${JSON.stringify(path.sep)}) + 1))`;

beforeAll(async () => {
  const release = await lockDist();
  try {
    ensureBuilt(['weights', 'core', 'data'].map((p) => path.join(packagesDir, p)));
  } finally {
    release();
  }
  work = mkdtempSync(path.join(tmpdir(), 'fermix-dep-data-'));
  // Records every URL the ESM loader loads (hooks run off the main thread: a file is the simplest channel).
  writeFileSync(
    path.join(work, 'record.mjs'),
    "import { appendFileSync } from 'node:fs';\nlet log;\nexport function initialize(data) { log = data.log; }\nexport async function load(url, context, next) { appendFileSync(log, url + '\\n'); return next(url, context); }\n",
  );
  // @fermix/data not installed, as far as the child can tell: neither the ESM resolver nor require finds it.
  writeFileSync(
    path.join(work, 'hide-data-hooks.mjs'),
    "export async function resolve(specifier, context, next) {\n  if (specifier === '@fermix/data') { const e = new Error(\"Cannot find package '@fermix/data' imported from \" + context.parentURL); e.code = 'ERR_MODULE_NOT_FOUND'; throw e; }\n  return next(specifier, context);\n}\n",
  );
  writeFileSync(
    path.join(work, 'hide-data.cjs'),
    "const Module = require('node:module');\nconst original = Module._resolveFilename;\nModule._resolveFilename = function (request, ...rest) {\n  if (request === '@fermix/data' || /[\\\\/]packages[\\\\/]data[\\\\/]/.test(request)) { const e = new Error(\"Cannot find module '@fermix/data'\"); e.code = 'MODULE_NOT_FOUND'; throw e; }\n  return original.call(this, request, ...rest);\n};\nif (Module.register) Module.register(require('node:url').pathToFileURL(__dirname + '/hide-data-hooks.mjs'));\n",
  );
}, 600_000);

afterAll(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

describe('deprecated data names from the built @fermix/core root, in plain node', () => {
  it('ESM: importing @fermix/core loads no @fermix/data; createRafdbSource works, warns once, and its DataError is core\'s', async () => {
    const log = path.join(work, 'esm-loaded.txt');
    const script = `
      import { register, createRequire } from 'node:module';
      import { readFileSync, writeFileSync } from 'node:fs';
      writeFileSync(${JSON.stringify(log)}, '');
      register(${JSON.stringify(pathToFileURL(path.join(work, 'record.mjs')).href)}, { data: { log: ${JSON.stringify(log)} } });
      const cache = createRequire(import.meta.url).cache;
      const dataInCache = ${DATA_IN_CACHE};
      const loaded = () => readFileSync(${JSON.stringify(log)}, 'utf8').split('\\n').filter(Boolean);
      const warnings = [];
      process.on('warning', (w) => warnings.push({ name: w.name, code: w.code, message: w.message }));

      const { createRafdbSource, DataError, DecodePool } = await import('@fermix/core');
      const coreLoaded = loaded().some((u) => u.endsWith('/packages/core/dist/index.js'));
      const atImport = { esm: loaded().filter((u) => u.includes('/packages/data/')), required: dataInCache(cache) };

      let error;
      try { await createRafdbSource({ root: '/nonexistent/rafdb' }).splits(); } catch (e) { error = e; }
      try { await createRafdbSource({ root: '/nonexistent/rafdb2' }).splits(); } catch {}
      const afterCall = dataInCache(cache);
      const data = await import('@fermix/data');
      await new Promise((r) => setImmediate(r));
      console.log(JSON.stringify({
        coreLoaded, atImport, afterCall,
        isDataError: error instanceof DataError, message: error?.message,
        sameInstance: data.DecodePool.prototype === DecodePool.prototype,
        warnings: warnings.filter((w) => w.code === 'FERMIX_DEP_CORE_DATA'),
      }));
    `;
    const out = await node(script, { esm: true });
    expect(out.coreLoaded).toBe(true); // the recorder sees what the ESM loader loads
    expect(out.atImport).toEqual({ esm: [], required: [] });
    expect(out.afterCall).toEqual(['index.js']); // the ESM entry, required on first use
    expect(out.isDataError).toBe(true);
    expect(out.message).toMatch(/RAF-DB label file not found/);
    expect(out.sameInstance).toBe(true);
    expect(out.warnings).toHaveLength(1);
    expect(out.warnings[0].name).toBe('DeprecationWarning');
    expect(out.warnings[0].message).toContain("createRafdbSource from @fermix/core is deprecated: it moved to @fermix/data. Use import { createRafdbSource } from '@fermix/data'");
  });

  it('CJS: require(\'@fermix/core\') loads no @fermix/data; createRafdbSource works and its DataError is core\'s', async () => {
    const script = `
      const dataInCache = ${DATA_IN_CACHE};
      const core = require('@fermix/core');
      const atImport = dataInCache(require.cache);
      const warnings = [];
      process.on('warning', (w) => warnings.push({ name: w.name, code: w.code }));
      core.createRafdbSource({ root: '/nonexistent/rafdb' }).splits().catch((error) => {
        const afterCall = dataInCache(require.cache);
        const parsed = core.parseRafdbLabels('train_00001.jpg 4\\n', 'l.txt');
        setImmediate(() => console.log(JSON.stringify({
          atImport, afterCall: afterCall.includes('index.cjs'),
          isDataError: error instanceof core.DataError, message: error.message,
          sameInstance: require('@fermix/data').DecodePool.prototype === core.DecodePool.prototype,
          parsed,
          constants: core.FER2013_LABELS.length + core.ARCFACE_TEMPLATE_112.length,
          warnings: warnings.filter((w) => w.code === 'FERMIX_DEP_CORE_DATA').length,
        })));
      });
    `;
    const out = await node(script, { esm: false });
    expect(out.atImport).toEqual([]);
    expect(out.afterCall).toBe(true);
    expect(out.isDataError).toBe(true);
    expect(out.message).toMatch(/RAF-DB label file not found/);
    expect(out.sameInstance).toBe(true);
    expect(out.parsed).toEqual([{ name: 'train_00001.jpg', split: 'train', code: 4, line: 1 }]);
    expect(out.constants).toBe(12);
    expect(out.warnings).toBe(2);
  });

  it('a program that imports @fermix/data has that instance used: no second load', async () => {
    const script = `
      import { createRequire } from 'node:module';
      import * as data from '@fermix/data';
      import { DecodePool, isFileListSource, createImageFolderSource } from '@fermix/core';
      const cache = createRequire(import.meta.url).cache;
      const source = createImageFolderSource({ root: '/nonexistent' });
      console.log(JSON.stringify({
        required: (${DATA_IN_CACHE})(cache),
        same: DecodePool.prototype === data.DecodePool.prototype,
        fileList: isFileListSource(source) === data.isFileListSource(source),
      }));
    `;
    expect(await node(script, { esm: true })).toEqual({ required: [], same: true, fileList: true });
  });

  it('without @fermix/data installed, a deprecated name says to install it and where to import it from', async () => {
    const script = (esm: boolean) => `
      ${esm ? "const core = await import('@fermix/core');" : "const core = require('@fermix/core');"}
      const out = {};
      try { core.alignFace(); } catch (e) { out.fn = e.message; }
      try { core.DecodePool.open; } catch (e) { out.cls = e.message; }
      console.log(JSON.stringify(out));
    `;
    const args = ['--no-deprecation', '--require', path.join(work, 'hide-data.cjs')];
    const expected = {
      fn: "alignFace moved to @fermix/data: install @fermix/data (it comes with @fermix/cli) and import { alignFace } from '@fermix/data'",
      cls: "DecodePool moved to @fermix/data: install @fermix/data (it comes with @fermix/cli) and import { DecodePool } from '@fermix/data'",
    };
    expect(await node(script(true), { esm: true, args })).toEqual(expected);
    expect(await node(script(false), { esm: false, args })).toEqual(expected);
  });
});
