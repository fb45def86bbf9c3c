/**
 * Plugin trust through the real `fermix train`: a config that names a package runs its code; when
 * that code throws, fermix names the plugin and the hook (no bare stack trace), exits non-zero, and
 * the run's last checkpoint stays complete, so the run resumes once the plugin is fixed or removed.
 * (Every hook, malformed batches, apiVersion and byte-for-byte unchanged checkpoints are covered in
 * packages/core/test/plugin-trust.test.ts.)
 */
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { fermixSync as fermix } from '../../../test-support/fermix-process.js';

const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

const config = (plugins: string) => `seed: 4
backend: wasm
threads: 1
data: { format: synthetic, imageSize: 16, trainPerClass: 4, testPerClass: 2 }
model: { options: { widths: [4], convsPerStage: 1 } }
train: { epochs: 2, batchSize: 8, bnRecalibrationBatches: 2, earlyStopping: false }
plugins: ${plugins}
`;

describe('a third-party plugin package that throws, run by the real fermix train', () => {
  it('is named with its hook, exits 1 without a bare stack trace, and leaves the last checkpoint complete to resume from', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'fermix-trust-cli-'));
    dirs.push(dir);
    // A package installed in the project, as a user would install one from npm.
    const pkg = path.join(dir, 'node_modules', 'fermix-plugin-explodes');
    mkdirSync(pkg, { recursive: true });
    writeFileSync(path.join(pkg, 'package.json'), JSON.stringify({ name: 'fermix-plugin-explodes', version: '1.0.0', type: 'module', exports: './index.js' }));
    writeFileSync(
      path.join(pkg, 'index.js'),
      `export default function explodes() {
  return {
    name: 'explodes',
    apiVersion: 1,
    transformBatch(batch, ctx) {
      if (ctx.epoch >= 1) throw new TypeError('cannot read the batch this way');
      return batch;
    },
  };
}
`,
    );
    // Epoch 1 trains; the plugin breaks epoch 2, after epoch 1's checkpoint was written.
    writeFileSync(path.join(dir, 'fermix.config.yaml'), config('[fermix-plugin-explodes]'));
    const broken = fermix(['train', '--out', 'run'], dir);
    expect(broken.code).toBe(1);
    expect(broken.stderr).toContain('fermix: plugin "explodes" failed in transformBatch: cannot read the batch this way');
    expect(broken.stderr).toContain('fermix-plugin-explodes/index.js'); // where, for the plugin's author
    expect(broken.stderr).toContain("fermix's checkpoints were not touched by it");
    // The last checkpoint is epoch 1's, complete, with no temporary or parked folder beside it.
    const last = path.join(dir, 'run', 'checkpoints', 'last');
    expect(JSON.parse(readFileSync(path.join(last, 'state.json'), 'utf8')).epoch).toBe(0);
    expect(readFileSync(path.join(last, 'COMPLETE'), 'utf8')).toContain('fermix-checkpoint');
    expect(readdirSync(path.join(dir, 'run', 'checkpoints')).sort()).toEqual(['best', 'last']);

    // Without the plugin, the run resumes from that checkpoint and finishes.
    writeFileSync(path.join(dir, 'fermix.config.yaml'), config('[]'));
    const resumed = fermix(['train', '--out', 'run', '--resume'], dir);
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(resumed.stderr).toContain('resuming from');
    expect(JSON.parse(readFileSync(path.join(dir, 'run', 'metrics.json'), 'utf8')).history).toHaveLength(2);
  });
});
