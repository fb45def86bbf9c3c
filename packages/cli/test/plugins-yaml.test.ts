import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { silentLogger, Trainer, type FermixPlugin } from '@fermix/core';
import { describe, expect, it } from 'vitest';
import { openSession } from '../src/setup.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const ferMini = path.resolve(here, '../../../../shared/data/fer2013-mini');
const hasData = existsSync(path.join(ferMini, 'train'));

/** Wraps every hook of a plugin with a call counter. */
function counted(plugin: FermixPlugin): Record<string, number> {
  const calls: Record<string, number> = {};
  for (const key of Object.keys(plugin) as (keyof FermixPlugin)[]) {
    const hook = plugin[key];
    if (typeof hook !== 'function') continue;
    calls[key] = 0;
    (plugin as any)[key] = (...args: unknown[]) => {
      calls[key]++;
      return (hook as (...a: unknown[]) => unknown).apply(plugin, args);
    };
  }
  return calls;
}

describe.skipIf(!hasData)('flip + mixaugment + dropout composed from YAML on fer2013-mini', () => {
  it('trains an epoch of real faces with every plugin hook running, in config order', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'fermix-yaml-'));
    const file = path.join(dir, 'fermix.config.yaml');
    writeFileSync(
      file,
      `seed: 4
backend: wasm
data: { format: imagefolder, root: ${JSON.stringify(ferMini)}, imageSize: 24 }
model: { backbone: small-cnn, options: { widths: [8, 16], convsPerStage: 1 } }
train: { epochs: 1, batchSize: 64, bnRecalibrationBatches: 4 }
plugins:
  - flip: { p: 0.5 }
  - mixaugment: { alpha: 0.2 }
  - dropout: { rate: 0.5 }
`,
    );
    const session = await openSession(file, silentLogger);
    expect(session.plugins.map((p) => p.name)).toEqual(['flip', 'mixaugment', 'dropout']);
    const calls = session.plugins.map(counted);
    const { model, metrics } = await new Trainer({ ...session }).run();
    const steps = Math.ceil(1400 / 64);
    expect(calls[0].transformBatch).toBe(steps);
    expect(calls[1].transformBatch).toBe(steps);
    expect(calls[2].transformModel).toBe(1);
    expect(model.layers.map((l) => l.name)).toContain('head_dropout');
    expect(metrics.history).toHaveLength(1);
    expect(Number.isFinite(metrics.history[0].trainLoss)).toBe(true);
    expect(metrics.count).toBe(350);
  });
});

if (!hasData) {
  it.skip(`fer2013-mini not found at ${ferMini}: the YAML composition test on real faces is skipped`, () => {});
}
