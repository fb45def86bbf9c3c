/**
 * The format as a user meets it: installed in a project (node_modules/fermix-data-ckplus, here a
 * symlink to this folder, as `pnpm add` of a local folder makes), listed under `dataPackages` in the
 * project's fermix.config.yaml, found by @fermix/core from the config's folder and trained on by the
 * fermix command's session, with its options checked at their YAML paths.
 */
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { openSession } from '@fermix/cli';
import { ConfigError, createMemoryLogger, silentLogger, TOKENS, Trainer, type DataSource } from '@fermix/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ckplusTree } from './fixture.js';

const exampleDir = fileURLToPath(new URL('..', import.meta.url));

describe('fermix-data-ckplus from YAML by package name', () => {
  let project: string;
  beforeAll(() => {
    project = mkdtempSync(path.join(tmpdir(), 'fermix-ckplus-project-'));
    mkdirSync(path.join(project, 'node_modules'));
    symlinkSync(exampleDir, path.join(project, 'node_modules', 'fermix-data-ckplus'), 'dir');
    const faces = ckplusTree(6);
    symlinkSync(faces, path.join(project, 'CK+'), 'dir');
  });
  afterAll(() => rmSync(project, { recursive: true, force: true }));

  const config = (name: string, data: string[], packages = '[fermix-data-ckplus]') => {
    const file = path.join(project, name);
    writeFileSync(
      file,
      [
        'seed: 2',
        'backend: cpu',
        `dataPackages: ${packages}`,
        'data:',
        ...data.map((line) => `  ${line}`),
        'model:',
        '  backbone: small-cnn',
        '  options: { widths: [4], convsPerStage: 1 }',
        'train:',
        '  epochs: 1',
        '  batchSize: 4',
        '  bnRecalibrationBatches: 1',
        '',
      ].join('\n'),
    );
    return file;
  };

  it('trains on `data.format: ckplus`: train and test by subject, the format named in the log', async () => {
    const logger = createMemoryLogger();
    const session = await openSession(config('fermix.config.yaml', ['format: ckplus', 'root: CK+', 'imageSize: 16', 'testFraction: 0.34']), logger);
    expect(session.config.data).toMatchObject({ format: 'ckplus', testFraction: 0.34 });
    const source = session.container.get<DataSource>(TOKENS.DataSource);
    expect(source.description).toBe(`ckplus ${path.join(project, 'CK+')}`);
    const { metrics } = await new Trainer({ config: session.config, container: session.container }).run();
    expect(metrics.epochsRun).toBe(1);
    expect(metrics.classes).toEqual(['angry', 'happy', 'sad']);
    expect(metrics.count).toBe(6); // 2 of 6 subjects x 3 classes
    expect(logger.lines.map((l) => l.message)).toEqual(expect.arrayContaining([expect.stringMatching(/^data train: 12 images from ckplus /), expect.stringMatching(/^data test: 6 images from ckplus /)]));
  });

  it("reports a bad option of the format at data.<key>, with the file's line", async () => {
    const err = await openSession(config('bad.yaml', ['format: ckplus', 'root: CK+', 'testFraction: 1.5', 'testFracton: 0.2']), silentLogger).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as Error).message).toMatch(/data\.testFraction \(bad\.yaml:7:17\): expected a number < 1, found 1\.5/);
    expect((err as Error).message).toMatch(/data\.testFracton \(bad\.yaml:8:16\): expected no such key/);
    const noRoot = await openSession(config('noroot.yaml', ['format: ckplus']), silentLogger).catch((e: unknown) => e);
    expect((noRoot as Error).message).toContain('data.root');
    expect((noRoot as Error).message).toContain('(required for format ckplus)');
  });

  it('without the package, names the formats there are; a package that is not installed is named', async () => {
    const err = await openSession(config('nopkg.yaml', ['format: ckplus', 'root: CK+'], '[]'), silentLogger).catch((e: unknown) => e);
    expect((err as Error).message).toMatch(/data\.format \(nopkg\.yaml:\d+:\d+\): expected one of the registered data formats: affectnet, fer2013-csv, imagefolder, rafdb, synthetic, found "ckplus"/);
    const missing = await openSession(config('missing.yaml', ['format: ckplus', 'root: CK+'], '[fermix-data-nope]'), silentLogger).catch((e: unknown) => e);
    expect((missing as Error).message).toMatch(/dataPackages\[0\] \(missing\.yaml:\d+:\d+\): expected a package installed where .* can see it \(e\.g\. pnpm add fermix-data-nope\), found "fermix-data-nope"/);
  });
});
