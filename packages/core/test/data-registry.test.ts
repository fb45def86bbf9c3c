import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, parseOptions } from '../src/config/errors.js';
import { loadConfig } from '../src/config/load.js';
import { createContainer, TOKENS } from '../src/container.js';
import type { DataSource } from '../src/data/source.js';
import { silentLogger } from '../src/logger.js';
import { DataSourceRegistry, loadDataPackages, validateDataConfig, type DataFormatDefinition } from '../src/registry.js';
import { z } from 'zod';

function project(config: string): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'fermix-data-registry-'));
  writeFileSync(path.join(dir, 'fermix.config.yaml'), config);
  return dir;
}

const load = (dir: string) => loadConfig({ file: path.join(dir, 'fermix.config.yaml') });

/** A format with its own schema: `fraction` in (0, 1), default 0.2. */
const fractions: DataFormatDefinition<{ fraction: number }> = {
  format: 'fractions',
  description: 'a test format',
  parseOptions: (raw) => parseOptions(z.strictObject({ fraction: z.number().gt(0).lt(1).default(0.2) }), raw),
  create: (config, { options }) => ({
    description: `fractions ${config.data.root} ${options.fraction}`,
    classes: async () => ['a'],
    splits: async () => ['train', 'test'],
    load: async () => {
      throw new Error('not loaded in these tests');
    },
  }),
};

const issuesOf = (fn: () => unknown): string[] => {
  try {
    fn();
  } catch (err) {
    if (err instanceof ConfigError) return err.issues.map((i) => `${i.path.join('.')} @${i.location}: ${i.expected}`);
    throw err;
  }
  throw new Error('expected a ConfigError');
};

describe('DataSourceRegistry', () => {
  it('names an unknown data.format at its YAML path, listing the registered formats', async () => {
    const config = await load(project('data:\n  format: ckplus\n  root: x\n'));
    const registry = new DataSourceRegistry().register(fractions).register({ ...fractions, format: 'other' });
    expect(issuesOf(() => validateDataConfig(config, registry))).toEqual(['data.format @fermix.config.yaml:2:11: one of the registered data formats: fractions, other']);
    expect(issuesOf(() => validateDataConfig(config, new DataSourceRegistry()))[0]).toContain('(none registered: add @fermix/data, or list a package under dataPackages)');
  });

  it("validates the format's own keys with its schema, errors at data.<key>, and fills in its defaults", async () => {
    const registry = new DataSourceRegistry().register(fractions);
    const bad = await load(project('data:\n  format: fractions\n  root: x\n  fraction: 2\n  fractoin: 0.5\n'));
    expect(issuesOf(() => validateDataConfig(bad, registry))).toEqual([
      'data.fraction @fermix.config.yaml:4:13: a number < 1',
      'data.fractoin @fermix.config.yaml:5:13: no such key (unknown option; check the spelling)',
    ]);
    const good = await load(project('data:\n  format: fractions\n  root: x\n  cacheMB: 10\n'));
    validateDataConfig(good, registry);
    expect(good.data).toMatchObject({ format: 'fractions', fraction: 0.2, cacheMB: 10 });
  });

  it('refuses keys beside the shared ones for a format without a schema', async () => {
    const plain = { ...fractions, format: 'plain', parseOptions: undefined };
    const config = await load(project('data:\n  format: plain\n  onMissing: skip\n'));
    expect(issuesOf(() => validateDataConfig(config, new DataSourceRegistry().register(plain)))).toEqual([
      'data.onMissing @fermix.config.yaml:3:14: no such key (unknown option; check the spelling)',
    ]);
  });

  it("gives the container's DataSource from the format, with its parsed options", async () => {
    const config = await load(project('data:\n  format: fractions\n  root: faces\n  fraction: 0.5\n'));
    const container = createContainer(config, silentLogger);
    container.get<DataSourceRegistry>(TOKENS.DataSourceRegistry).register(fractions);
    expect(container.get<DataSource>(TOKENS.DataSource).description).toBe(`fractions ${path.join(config.baseDir, 'faces')} 0.5`);
  });

  it('loads formats from the packages listed under dataPackages, found from the config folder', async () => {
    const dir = project('dataPackages: [fermix-data-fractions, not-installed]\ndata:\n  format: fractions\n');
    const pkg = path.join(dir, 'node_modules', 'fermix-data-fractions');
    mkdirSync(pkg, { recursive: true });
    writeFileSync(path.join(pkg, 'package.json'), JSON.stringify({ name: 'fermix-data-fractions', type: 'module', exports: './index.js' }));
    writeFileSync(
      path.join(pkg, 'index.js'),
      "export function registerDataFormats(registry) { registry.register({ format: 'fractions', description: 'from a package', create: () => ({ description: 'packaged' }) }); }\n",
    );
    const config = await load(dir);
    const registry = new DataSourceRegistry();
    const err = await loadDataPackages(config, registry).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).issues.map((i) => i.path.join('.'))).toEqual(['dataPackages.1']);
    expect(registry.names()).toEqual(['fractions']);
    expect(registry.create(config, silentLogger).description).toBe('packaged');
  });
});
