/**
 * The plugin as a user meets it: installed in a project (node_modules/fermix-plugin-noise, here a
 * symlink to this folder, as `pnpm add` of a local folder or `npm link` makes), named by its package
 * name in the project's fermix.config.yaml, and found by @fermix/core from the config's folder
 * (node_modules upward), then imported through its ESM entry so it shares the host's @fermix/core.
 *
 * Two runs of that:
 * - in this vitest process, where Node itself resolves with the `fermix-source` condition (vitest
 *   passes `ssr.resolve.externalConditions` to its workers as `--conditions`), so the package
 *   resolves to src/index.ts: the YAML and registry plumbing, with the plugin and core from sources;
 * - in a plain `node` child process without that condition, which is what a user gets: the package's
 *   built dist beside @fermix/core's built dist. This test builds both first.
 */
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, realpathSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import * as tf from '@tensorflow/tfjs-core';
import { ConfigError, createTrainStep, loadConfig, PluginRegistry, resolvePlugins } from '@fermix/core';
import mixup from '@fermix/plugin-mixup';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import noiseFromSources from '../src/index.js';
import { ensureBuilt, lockDist, packagesDir, pluginDir } from './dist.js';
import { randomBatch, tinyModel, useCpu } from './helpers.js';

const PLUGIN_ENTRY = '  - fermix-plugin-noise: { sigma: 0.1, p: 1 }';
const BAD_ENTRY = '  - fermix-plugin-noise: { sigma: 0 }';

/** A project folder whose node_modules links the plugin (and, for plain Node, core and tfjs). */
function makeProject(links: Record<string, string>): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'fermix-noise-project-'));
  for (const [name, target] of Object.entries(links)) {
    const at = path.join(dir, 'node_modules', name);
    mkdirSync(path.dirname(at), { recursive: true });
    symlinkSync(target, at, 'dir');
  }
  return dir;
}

function writeConfig(dir: string, name: string, plugins: string): string {
  const file = path.join(dir, name);
  writeFileSync(file, ['seed: 3', 'data:', '  format: synthetic', '  imageSize: 8', 'plugins:', plugins, ''].join('\n'));
  return file;
}

async function configError(file: string, registry = new PluginRegistry()): Promise<ConfigError> {
  const loaded = await loadConfig({ file });
  const err = await resolvePlugins(loaded, registry).then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!(err instanceof ConfigError)) throw new Error(`expected a ConfigError, got ${String(err)}`);
  return err;
}

describe('fermix-plugin-noise from YAML by package name, in-process (sources)', () => {
  let project: string;
  beforeAll(async () => {
    await useCpu();
    project = makeProject({ 'fermix-plugin-noise': pluginDir });
  });
  afterAll(() => rmSync(project, { recursive: true, force: true }));

  it('resolves from the config folder through the package exports (here the fermix-source entry)', async () => {
    expect(createRequire(path.join(project, 'fermix.config.yaml')).resolve('fermix-plugin-noise')).toBe(path.join(pluginDir, 'src', 'index.ts'));
    const factory = await new PluginRegistry().resolve('fermix-plugin-noise', project);
    expect(typeof factory).toBe('function');
    expect(factory.parseOptions).toBe(noiseFromSources.parseOptions);
  });

  it('`plugins: [{ fermix-plugin-noise: { sigma: 0.1, p: 1 } }]` runs in createTrainStep: finite loss, recorded draws, no tensor leak', async () => {
    const loaded = await loadConfig({ file: writeConfig(project, 'fermix.config.yaml', PLUGIN_ENTRY) });
    const plugins = await resolvePlugins(loaded, new PluginRegistry());
    expect(plugins.map((p) => p.name)).toEqual(['noise']);

    const model = tinyModel(2, 8, 3);
    const { x, y } = randomBatch(4, 6, 8, 3);
    const step = createTrainStep({ model, optimizer: tf.train.adam(1e-2), plugins, seed: loaded.seed });
    const first = step({ x, y });
    const before = tf.memory().numTensors;
    const results = [first, ...Array.from({ length: 5 }, () => step({ x, y }))];
    expect(tf.memory().numTensors).toBe(before);
    for (const r of results) {
      expect(Number.isFinite(r.loss)).toBe(true);
      expect(Object.keys(r.terms)).toEqual(['real']);
      const drawn = r.drawn.noise as { mask: number[]; seed: number };
      expect(drawn.mask).toEqual([1, 1, 1, 1, 1, 1]);
      expect(Number.isInteger(drawn.seed)).toBe(true);
    }
    tf.dispose([x, y]);
    model.dispose();
  });

  it('a bad option is reported at its YAML path, with line and column', async () => {
    const err = await configError(writeConfig(project, 'bad.yaml', BAD_ENTRY));
    expect(err.issues).toHaveLength(1);
    expect(err.issues[0]).toMatchObject({ path: ['plugins', 0, 'fermix-plugin-noise', 'sigma'], expected: 'a number > 0', found: 0 });
    expect(err.message).toMatch(/plugins\[0\]\.fermix-plugin-noise\.sigma \(bad\.yaml:6:\d+\): expected a number > 0, found 0/);
  });

  it('composes with a built-in plugin, in config order', async () => {
    const registry = new PluginRegistry().register('mixup', mixup);
    const loaded = await loadConfig({ file: writeConfig(project, 'both.yaml', '  - fermix-plugin-noise: {}\n  - mixup') });
    expect((await resolvePlugins(loaded, registry)).map((p) => p.name)).toEqual(['noise', 'mixup']);
  });

  it('a package that is not installed is named in the error', async () => {
    const err = await configError(writeConfig(project, 'missing.yaml', '  - fermix-plugin-nope'));
    expect(err.message).toMatch(/unknown plugin "fermix-plugin-nope": package fermix-plugin-nope is not installed where .* can see it/);
  });
});

/** Run in the project by plain Node: the config's plugins, resolved by the built @fermix/core, for 3 steps. */
const RUN_SCRIPT = `
import { createRequire } from 'node:module';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import * as tfl from '@tensorflow/tfjs-layers';
import { createTrainStep, loadConfig, PluginRegistry, resolvePlugins } from '@fermix/core';

const file = process.argv[2];
const out = { resolved: createRequire(file).resolve('fermix-plugin-noise'), core: createRequire(file).resolve('@fermix/core') };
try {
  const config = await loadConfig({ file });
  const plugins = await resolvePlugins(config, new PluginRegistry());
  await tf.setBackend('cpu');
  const model = tfl.sequential({ layers: [
    tfl.layers.conv2d({ inputShape: [8, 8, 3], filters: 4, kernelSize: 3, padding: 'same', activation: 'relu' }),
    tfl.layers.globalAveragePooling2d({}),
    tfl.layers.dense({ units: 3, activation: 'softmax' }),
  ] });
  const x = tf.randomUniform([6, 8, 8, 3], 0, 1, 'float32', 1);
  const y = tf.cast(tf.oneHot(tf.tensor1d([0, 1, 2, 0, 1, 2], 'int32'), 3), 'float32');
  const step = createTrainStep({ model, optimizer: tf.train.adam(0.01), plugins, seed: config.seed });
  out.names = plugins.map((p) => p.name);
  out.steps = [step({ x, y })];
  const before = tf.memory().numTensors;
  out.steps.push(step({ x, y }), step({ x, y }));
  out.leaked = tf.memory().numTensors - before;
} catch (err) {
  out.error = { name: err.name, message: err.message, issues: err.issues };
}
console.log(JSON.stringify(out));
`;

describe('fermix-plugin-noise from YAML by package name, as installed (plain Node, built packages)', () => {
  let project: string;
  let release: (() => void) | undefined;

  beforeAll(async () => {
    release = await lockDist();
    ensureBuilt([path.join(packagesDir, 'core'), pluginDir]);
    // Links as a package manager makes them; tfjs comes from the workspace's install.
    const fromPlugin = createRequire(path.join(pluginDir, 'package.json'));
    const tfjs = (name: string) => realpathSync(path.dirname(fromPlugin.resolve(`${name}/package.json`)));
    project = makeProject({
      'fermix-plugin-noise': pluginDir,
      '@fermix/core': path.join(packagesDir, 'core'),
      '@tensorflow/tfjs-core': tfjs('@tensorflow/tfjs-core'),
      '@tensorflow/tfjs-layers': tfjs('@tensorflow/tfjs-layers'),
      '@tensorflow/tfjs-backend-cpu': tfjs('@tensorflow/tfjs-backend-cpu'),
    });
    writeFileSync(path.join(project, 'package.json'), JSON.stringify({ name: 'user-project', private: true, type: 'module' }));
    writeFileSync(path.join(project, 'run.mjs'), RUN_SCRIPT);
  }, 600_000);

  afterAll(() => {
    if (project) rmSync(project, { recursive: true, force: true });
    release?.();
  });

  async function run(configFile: string): Promise<any> {
    const env = { ...process.env };
    delete env.NODE_OPTIONS; // no --conditions: resolve as an installed package does
    const { stdout } = await promisify(execFile)(process.execPath, ['run.mjs', configFile], { cwd: project, env, timeout: 120_000 });
    return JSON.parse(stdout.trim().split('\n').at(-1)!);
  }

  it('resolves to the built package and trains 3 steps: finite losses, noise draws, no tensor leak', async () => {
    const out = await run(writeConfig(project, 'fermix.config.yaml', PLUGIN_ENTRY));
    expect(out.error).toBeUndefined();
    expect(out.resolved).toBe(path.join(pluginDir, 'dist', 'index.cjs'));
    expect(out.core).toBe(path.join(packagesDir, 'core', 'dist', 'index.cjs'));
    expect(out.names).toEqual(['noise']);
    expect(out.steps).toHaveLength(3);
    for (const s of out.steps) {
      expect(Number.isFinite(s.loss)).toBe(true);
      expect(s.drawn.noise.mask).toEqual([1, 1, 1, 1, 1, 1]);
    }
    expect(out.leaked).toBe(0);
  });

  it('a bad option stops resolution with the plugin, the option and the value', async () => {
    const out = await run(writeConfig(project, 'bad.yaml', BAD_ENTRY));
    expect(out.error?.name).toBe('ConfigError');
    expect(out.error.message).toContain('bad.yaml');
    expect(out.error.message).toMatch(/plugins\[0\]\.fermix-plugin-noise/);
    expect(out.error.message).toMatch(/fermix-plugin-noise\.sigma \(bad\.yaml:\d+:\d+\): expected a number > 0, found 0/);
  });

  // A plugin loaded by package name is imported through its ESM entry, so it shares the fermix
  // command's @fermix/core; its option errors keep their YAML path.
  it('a bad option is reported at its own YAML path, outside vitest too', async () => {
    const out = await run(writeConfig(project, 'bad-path.yaml', BAD_ENTRY));
    expect(out.error.issues[0].path).toEqual(['plugins', 0, 'fermix-plugin-noise', 'sigma']);
  });
});
