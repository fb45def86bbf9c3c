/**
 * The augmentation plugins of issue 13 (cutmix, mixup-cutmix, crop, color, erasing, randaugment, and mixaugment's
 * `mix: cutmix`) as a user meets them: by short name in YAML, with bad options stopped at their YAML
 * line, and through the real `fermix train`: a seeded run repeats itself, a run resumed after epoch 1
 * equals an unbroken one, and samples.json holds what each plugin drew.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ConfigError, loadConfig, PluginRegistry, resolvePlugins } from '@fermix/core';
import { describe, expect, it } from 'vitest';
import { registerBuiltinPlugins } from '../src/builtins.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '../../..');
const bin = path.join(root, 'packages/cli/src/bin.ts');
const tsx = path.join(root, 'node_modules/.bin/tsx');

function fermix(args: string[], cwd: string) {
  const r = spawnSync(tsx, ['--conditions=fermix-source', bin, ...args], { cwd, encoding: 'utf8', env: { ...process.env, CI: 'true' }, timeout: 300_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

const base = `seed: 5
backend: wasm
data:
  format: synthetic
  imageSize: 16
  trainPerClass: 4
  testPerClass: 2
model:
  backbone: small-cnn
  options: { widths: [4], convsPerStage: 1 }
train:
  epochs: 2
  earlyStopping: false
  batchSize: 8
  bnRecalibrationBatches: 2
`;

const PLUGINS = `plugins:
  - flip: { p: 0.5 }
  - crop: { resized: { scale: [0.6, 1] }, affine: { degrees: 10, translate: [0.1, 0.1] } }
  - color: { brightness: 0.3, contrast: 0.3, saturation: 0.3, hue: 0.05, grayscale: 0.2 }
  - erasing: { p: 0.5 }
  - randaugment: { policy: trivialaugment, p: 0.5 }
  - mixaugment: { mix: mixup-cutmix, alpha: 0.4, cutmixAlpha: 1, lambda: sample }
`;

function project(config: string): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'fermix-augment-'));
  writeFileSync(path.join(dir, 'fermix.config.yaml'), config);
  return dir;
}

async function resolveFile(dir: string, plugins: string) {
  const file = path.join(dir, 'fermix.config.yaml');
  writeFileSync(file, base + plugins);
  return resolvePlugins(await loadConfig({ file }), registerBuiltinPlugins(new PluginRegistry()));
}

async function configError(dir: string, plugins: string): Promise<ConfigError> {
  const err = await resolveFile(dir, plugins).then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!(err instanceof ConfigError)) throw new Error(`expected a ConfigError, got ${String(err)}`);
  return err;
}

describe('the new plugins by short name from YAML', () => {
  it('resolve in config order', async () => {
    const dir = project('');
    const plugins = await resolveFile(dir, PLUGINS);
    expect(plugins.map((p) => p.name)).toEqual(['flip', 'crop', 'color', 'erasing', 'randaugment', 'mixaugment']);
    expect((await resolveFile(dir, 'plugins:\n  - cutmix: { alpha: 1 }\n')).map((p) => p.name)).toEqual(['cutmix']);
    expect((await resolveFile(dir, 'plugins:\n  - mixup-cutmix: { switchProb: 0.3 }\n')).map((p) => p.name)).toEqual(['mixup-cutmix']);
    expect((await resolveFile(dir, 'plugins:\n  - randaugment: { policy: trivialaugment }\n  - mixup\n')).map((p) => p.name)).toEqual(['randaugment', 'mixup']);
  });

  it('refuse bad options at their YAML path and line: a crop scale outside (0, 1], mix: cutmix without an alpha, a hue past 0.5, an erasing scale of 1', async () => {
    const dir = project('');
    const line = (n: number) => `fermix.config.yaml:${n}:\\d+`;
    const cases: [string, RegExp][] = [
      ['plugins:\n  - crop: { resized: { scale: [0, 1] } }\n', new RegExp(`plugins\\[0\\]\\.crop\\.resized\\.scale\\[0\\] \\(${line(17)}\\): expected a number > 0, found 0`)],
      ['plugins:\n  - flip\n  - mixaugment: { mix: cutmix }\n', /plugins\[1\]\.mixaugment\.alpha \(fermix\.config\.yaml:\d+:\d+\): expected an alpha with mix: cutmix/],
      ['plugins:\n  - color: { hue: 0.7 }\n', new RegExp(`plugins\\[0\\]\\.color\\.hue \\(${line(17)}\\)`)],
      ['plugins:\n  - erasing: { scale: [0.1, 1] }\n', /plugins\[0\]\.erasing\.scale\[1\] \(fermix\.config\.yaml:17:\d+\): expected a number < 1, found 1/],
      ['plugins:\n  - cutmix: { alpha: 0 }\n', /plugins\[0\]\.cutmix\.alpha \(fermix\.config\.yaml:17:\d+\): expected a number > 0, found 0/],
      ['plugins:\n  - mixup\n  - cutmix\n', /at most one of cutmix and mixup/],
      ['plugins:\n  - randaugment: { magnitude: 31 }\n', /plugins\[0\]\.randaugment\.magnitude \(fermix\.config\.yaml:17:\d+\): expected a magnitude bin from 0 to 30/],
    ];
    for (const [plugins, message] of cases) expect((await configError(dir, plugins)).message).toMatch(message);
  });
});

describe('fermix train with flip, crop, color, erasing, randaugment and mixaugment with the mixup-cutmix switch', () => {
  it('a seeded run repeats itself, a run resumed after epoch 1 equals it, and samples.json records every draw', () => {
    const dir = project(base + PLUGINS);
    const history = (run: string) => JSON.parse(readFileSync(path.join(dir, run, 'metrics.json'), 'utf8')).history.map((h: { trainLoss: number; accuracy: number }) => [h.trainLoss, h.accuracy]);
    const a = fermix(['train', '--out', 'a'], dir);
    expect(a.code, a.stderr).toBe(0);
    expect(fermix(['train', '--out', 'b'], dir).code).toBe(0);
    expect(history('b')).toEqual(history('a'));
    expect(history('a').every(([loss]: number[]) => Number.isFinite(loss))).toBe(true);

    writeFileSync(path.join(dir, 'fermix.config.yaml'), (base + PLUGINS).replace('epochs: 2', 'epochs: 1'));
    expect(fermix(['train', '--out', 'c'], dir).code).toBe(0);
    writeFileSync(path.join(dir, 'fermix.config.yaml'), base + PLUGINS);
    const resumed = fermix(['train', '--out', 'c', '--resume'], dir);
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(history('c')).toEqual(history('a'));

    const samples = JSON.parse(readFileSync(path.join(dir, 'a', 'samples.json'), 'utf8'));
    expect(Object.keys(samples.drawn)).toEqual(['flip', 'crop', 'color', 'erasing', 'randaugment', 'mixaugment']);
    expect(samples.drawn.randaugment.ops[0]).toHaveLength(8);
    expect(samples.drawn.crop.resized).toHaveLength(8);
    expect(samples.drawn.crop.affine).toHaveLength(8);
    expect(samples.drawn.color.order).toHaveLength(4);
    expect(samples.drawn.erasing.boxes).toHaveLength(8);
    expect(samples.drawn.mixaugment.cut).toHaveLength(8);
    expect(samples.drawn.mixaugment.box).toHaveLength(8);
    expect(Object.keys(samples.views)).toEqual(['real', 'virtual']);
  });
});
