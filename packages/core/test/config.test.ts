import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../src/config/errors.js';
import { findConfigFile, loadConfig } from '../src/config/load.js';
import { PluginRegistry, resolvePlugins } from '../src/registry.js';
import { parseOptions } from '../src/config/errors.js';
import { z } from 'zod';
import type { PluginFactory } from '../src/types.js';

function writeConfig(text: string, name = 'fermix.config.yaml'): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'fermix-config-'));
  const file = path.join(dir, name);
  writeFileSync(file, text);
  return file;
}

async function configError(text: string): Promise<ConfigError> {
  const file = writeConfig(text);
  try {
    await loadConfig({ file });
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return err as ConfigError;
  }
  throw new Error('expected a ConfigError');
}

describe('config', () => {
  it('fills in the defaults and resolves data.root against the config file folder', async () => {
    const file = writeConfig('data:\n  format: imagefolder\n  root: ../faces\n');
    const config = await loadConfig({ file });
    expect(config.data.root).toBe(path.resolve(path.dirname(file), '../faces'));
    expect(config.train).toMatchObject({ epochs: 10, batchSize: 32, optimizer: { name: 'adam', lr: 0.001 }, earlyStopping: { monitor: 'macroF1', patience: 5 } });
    expect(config.backend).toBe('auto');
    expect(config.seed).toBe(1);
  });

  it('accepts the documented contract example', async () => {
    const file = writeConfig(`seed: 1
backend: auto
data:
  format: imagefolder
  root: ../shared/data/fer2013-mini
  imageSize: 48
model:
  backbone: small-cnn
train:
  epochs: 10
  batchSize: 32
  optimizer: { name: adam, lr: 0.001 }
  earlyStopping: { monitor: macroF1, patience: 5 }
plugins: []
`);
    const config = await loadConfig({ file });
    expect(config.model.backbone).toBe('small-cnn');
  });

  it('names the YAML path, the value found and what was expected for a wrong type', async () => {
    const err = await configError('train:\n  batchSize: "thirty-two"\n');
    expect(err.issues[0].path).toEqual(['train', 'batchSize']);
    expect(err.message).toContain('train.batchSize');
    expect(err.message).toContain('"thirty-two"');
    expect(err.message).toMatch(/expected a number/);
    expect(err.message).toContain('fermix.config.yaml:2:');
  });

  it('names an unknown key with its path', async () => {
    const err = await configError('train:\n  epochs: 3\n  epoks: 4\n');
    expect(err.message).toContain('train.epoks');
    expect(err.message).toMatch(/unknown option/);
  });

  it('rejects a value out of range and an unknown enum value', async () => {
    const err = await configError('backend: cuda\ntrain:\n  optimizer: { lr: -1 }\n');
    const text = err.message;
    expect(text).toContain('backend');
    expect(text).toContain('one of auto | gpu | tensorflow | wasm | cpu');
    expect(text).toContain('train.optimizer.lr');
  });

  it('reports YAML syntax errors with a line', async () => {
    const err = await configError('train:\n  epochs: [1,\n');
    expect(err.message).toMatch(/valid YAML/);
    expect(err.message).toMatch(/fermix\.config\.yaml:\d+:\d+/);
  });

  it('finds fermix.config.yaml or .fermixrc.yaml by searching upward', async () => {
    const file = writeConfig('seed: 3\n', '.fermixrc.yaml');
    const nested = path.join(path.dirname(file), 'a', 'b');
    (await import('node:fs')).mkdirSync(nested, { recursive: true });
    expect(await findConfigFile(nested)).toBe(file);
  });
});

describe('plugins in the config', () => {
  const noop: PluginFactory = Object.assign((o: { strength: number }) => ({ name: 'noop', apiVersion: 1, o }), {
    parseOptions: (raw: unknown) => parseOptions(z.strictObject({ strength: z.number().min(0).default(1) }), raw),
  });

  it('names the YAML path of an unknown plugin', async () => {
    const file = writeConfig('plugins:\n  - noop: {}\n  - nosuchthing: { a: 1 }\n');
    const config = await loadConfig({ file });
    const registry = new PluginRegistry().register('noop', noop);
    const err = await resolvePlugins(config, registry).catch((e) => e);
    expect(err).toBeInstanceOf(ConfigError);
    expect(err.message).toContain('plugins[1]');
    expect(err.message).toContain('@fermix/plugin-nosuchthing');
    expect(err.message).toContain('fermix.config.yaml:3:');
  });

  it("names the YAML path inside a plugin's options", async () => {
    const file = writeConfig('plugins:\n  - noop: { strength: -2 }\n');
    const config = await loadConfig({ file });
    const err = await resolvePlugins(config, new PluginRegistry().register('noop', noop)).catch((e) => e);
    expect(err.message).toContain('plugins[0].noop.strength');
    expect(err.message).toContain('-2');
  });

  it('rejects a plugin whose apiVersion the core does not support', async () => {
    const future: PluginFactory = () => ({ name: 'future', apiVersion: 99 });
    const file = writeConfig('plugins:\n  - future\n');
    const err = await resolvePlugins(await loadConfig({ file }), new PluginRegistry().register('future', future)).catch((e) => e);
    expect(err.message).toContain('apiVersion 99');
    expect(err.message).toContain('plugins[0]');
  });

  it('rejects two plugins that declare a conflict, saying why', async () => {
    const a: PluginFactory = () => ({ name: 'a', apiVersion: 1, conflicts: [{ name: 'b', reason: 'both replace the batch' }] });
    const b: PluginFactory = () => ({ name: 'b', apiVersion: 1 });
    const file = writeConfig('plugins:\n  - a\n  - b\n');
    const err = await resolvePlugins(await loadConfig({ file }), new PluginRegistry().register('a', a).register('b', b)).catch((e) => e);
    expect(err.message).toContain('both replace the batch');
  });

  it('builds plugins in config order with parsed options', async () => {
    const file = writeConfig('plugins:\n  - noop: { strength: 2 }\n  - noop\n');
    const plugins = await resolvePlugins(await loadConfig({ file }), new PluginRegistry().register('noop', noop));
    expect(plugins.map((p) => (p as any).o.strength)).toEqual([2, 1]);
  });
});
