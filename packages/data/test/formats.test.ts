import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, createContainer, DataSourceRegistry, loadConfig, silentLogger, TOKENS, validateDataConfig, type DataSource, type FermixConfig } from '@fermix/core';
import { registerDataFormats } from '../src/formats.js';

async function configOf(text: string): Promise<FermixConfig> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'fermix-formats-'));
  writeFileSync(path.join(dir, 'fermix.config.yaml'), text);
  return loadConfig({ file: path.join(dir, 'fermix.config.yaml') });
}

const formats = () => registerDataFormats(new DataSourceRegistry());

function messageOf(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as Error).message;
  }
  throw new Error('expected a ConfigError');
}

describe('the built-in data formats', () => {
  it('registers imagefolder, synthetic, rafdb, fer2013-csv and affectnet', () => {
    expect(formats().names()).toEqual(['affectnet', 'fer2013-csv', 'imagefolder', 'rafdb', 'synthetic']);
  });

  it('fills in the format keys as the config did, so config.yaml in a run folder keeps them', async () => {
    const config = await configOf('data:\n  format: synthetic\n  trainPerClass: 3\n');
    validateDataConfig(config, formats());
    expect(config.data).toMatchObject({ format: 'synthetic', trainPerClass: 3, testPerClass: 50, onMissing: 'error', affectnetClasses: 7, imageSize: 48, cacheMB: 2048, prefetch: 4 });
  });

  it('keeps the errors of the config at their YAML paths, with the same texts', async () => {
    expect(messageOf(() => validateDataConfig(configOfSync('imagefolder'), formats()))).toContain('data.root');
    const folder = await configOf('data:\n  format: imagefolder\n');
    expect(messageOf(() => validateDataConfig(folder, formats()))).toMatch(/data\.root \(fermix\.config\.yaml:\d+:\d+\): expected the folder holding <split>\/<class>\/\* images \(required for format imagefolder\)/);
    const csv = await configOf('data:\n  format: fer2013-csv\n  onMissing: maybe\n');
    const text = messageOf(() => validateDataConfig(csv, formats()));
    expect(text).toContain('data.onMissing (fermix.config.yaml:3:14): expected one of error | skip, found "maybe"');
    expect(text).toContain('data.root');
    expect(text).toContain('the FER2013 CSV file (required for format fer2013-csv)');
    const typo = await configOf('data:\n  format: synthetic\n  trainPerClas: 3\n');
    expect(messageOf(() => validateDataConfig(typo, formats()))).toContain('data.trainPerClas (fermix.config.yaml:3:17): expected no such key (unknown option; check the spelling)');
  });

  it('makes the container\'s source: synthetic from the seed and counts, every format opened as the trainer did before', async () => {
    const config = await configOf('seed: 4\ndata:\n  format: synthetic\n  trainPerClass: 2\n  testPerClass: 1\n');
    const container = createContainer(config, silentLogger);
    validateDataConfig(config, registerDataFormats(container.get<DataSourceRegistry>(TOKENS.DataSourceRegistry)));
    const source = container.get<DataSource>(TOKENS.DataSource);
    expect(source.description).toBe('synthetic faces (seed 4, 2+1 per class)');
    const split = await source.open!('train', { imageSize: 8, logger: silentLogger, prefetch: 2, budgetBytes: 0 });
    expect([split.count, split.streamed]).toEqual([14, false]); // drawn, not read from disk: held whole
    const folder = await configOf('data:\n  format: imagefolder\n  root: faces\n');
    expect(typeof formats().create(folder, silentLogger).open).toBe('function');
  });
});

/** A config object validated without a file, for checks that need no YAML location. */
function configOfSync(format: string): FermixConfig {
  return { data: { format, trainSplit: 'train', testSplit: 'test', imageSize: 48, cacheMB: 2048, prefetch: 4 } } as unknown as FermixConfig;
}
