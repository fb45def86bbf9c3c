import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { readConfigFile, validateConfig } from '@fermix/core';
import { missingWeights, sweepCommand } from '../src/commands/sweep.js';
import { readSweepFile } from '../src/sweep/spec.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const paper = path.resolve(here, '../../../examples/paper');

describe('examples/paper', () => {
  const files = readdirSync(paper).filter((f) => f.endsWith('.sweep.yaml'));

  it('has the sweeps of Tables 2, 3 and 6 on RAF-DB and the CPU sweep on fer2013-mini', () => {
    expect(files.sort()).toEqual(['fer2013-mini-cpu.sweep.yaml', 'table2-mixup.sweep.yaml', 'table3-mixaugment.sweep.yaml', 'table6-summary.sweep.yaml']);
  });

  it.each(files)('%s expands into valid fermix configs at the paper settings', (file) => {
    const sweep = readSweepFile(path.join(paper, file));
    for (const run of sweep.runs) {
      const config = validateConfig(run.config, { baseDir: paper });
      if (file.startsWith('table')) {
        expect(config.model.backbone).toBe('resnet50');
        expect(config.train.batchSize).toBe(32);
        expect(config.train.epochs).toBe(100);
        expect(config.data.format).toBe('rafdb');
        expect(config.data.imageSize).toBe(100);
        expect(config.train.earlyStopping).not.toBe(false);
      }
    }
    const methods = new Set(sweep.runs.map((r) => r.settings.method));
    if (file === 'table2-mixup.sweep.yaml') {
      expect([...methods]).toEqual(['vanilla', 'mixup']);
      expect(new Set(sweep.runs.map((r) => r.config.train && (r.config.train as { optimizer: { lr: number } }).optimizer.lr))).toEqual(new Set([0.001, 0.0001]));
      expect(sweep.runs).toHaveLength(2 * 2 + 4 * 2 * 2);
    }
    if (file === 'table6-summary.sweep.yaml' || file === 'fer2013-mini-cpu.sweep.yaml') {
      expect([...methods]).toEqual(['vanilla', 'mixup', 'mixaugment', 'mixaugment+flip']);
      expect(new Set(sweep.runs.map((r) => r.settings.seed))).toEqual(new Set([1, 2, 3]));
      expect(sweep.runs).toHaveLength(12);
    }
  });
});

describe('examples/chain', () => {
  const chain = path.resolve(here, '../../../examples/chain');

  it('stage 1 trains ResNet50 from ImageNet on AffectNet (8 classes); the sweep fine-tunes its best checkpoint on RAF-DB, and waits for stage 1', async () => {
    const stage1 = validateConfig(readConfigFile(path.join(chain, 'affectnet-resnet50.yaml')).raw, { baseDir: chain });
    expect([stage1.model.backbone, stage1.model.weights, stage1.data.format, (stage1.data as Record<string, unknown>).affectnetClasses]).toEqual(['resnet50', 'imagenet', 'affectnet', 8]);
    const sweep = readSweepFile(path.join(chain, 'rafdb-from-affectnet.sweep.yaml'));
    expect(sweep.runs).toHaveLength(9);
    const checkpoint = path.resolve(chain, '../../runs/chain/affectnet/checkpoints/best');
    for (const run of sweep.runs) {
      const config = validateConfig(run.config, { baseDir: chain });
      expect([config.model.backbone, config.model.weights, config.data.format]).toEqual(['resnet50', checkpoint, 'rafdb']);
    }
    // The sweep cannot start before stage 1 has written that checkpoint.
    expect(missingWeights(sweep.runs.map((r) => r.config))).toEqual([checkpoint]);
    await expect(sweepCommand({ config: path.join(chain, 'rafdb-from-affectnet.sweep.yaml') })).rejects.toThrow(
      new RegExp(`start from model\\.weights ${checkpoint.replace(/[.]/g, '\\.')}: it is not there yet, or the run that writes it has not finished .*nothing was started`),
    );
    expect(missingWeights([{ model: { weights: 'imagenet' } }, { model: { weights: chain } }, {}])).toEqual([]);
    // Stage 1 has written checkpoints/best but is still running: not ready until its metrics.json.
    const run = mkdtempSync(path.join(os.tmpdir(), 'fermix-chain-'));
    try {
      const best = path.join(run, 'checkpoints', 'best');
      mkdirSync(best, { recursive: true });
      writeFileSync(path.join(run, 'config.yaml'), 'seed: 1\n');
      expect(missingWeights([{ model: { weights: best } }])).toEqual([best]);
      writeFileSync(path.join(run, 'metrics.json'), '{}');
      expect(missingWeights([{ model: { weights: best } }])).toEqual([]);
    } finally {
      rmSync(run, { recursive: true, force: true });
    }
  });
});
