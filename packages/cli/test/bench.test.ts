import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { afterAll, describe, expect, it } from 'vitest';
import { BENCH_SCHEMA, benchCommand } from '../src/commands/bench.js';
import { UsageError } from '../src/commands/train.js';

const dir = mkdtempSync(path.join(os.tmpdir(), 'fermix-bench-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function sink(): { stream: PassThrough; text: () => string } {
  const stream = new PassThrough();
  const chunks: Buffer[] = [];
  stream.on('data', (c: Buffer) => chunks.push(c));
  return { stream, text: () => Buffer.concat(chunks).toString('utf8') };
}

// Behaviour only: the figures of such a tiny run mean nothing, and no timing is asserted.
describe('fermix bench', () => {
  it('--quick --json with a tiny override prints the tables and writes the documented keys', async () => {
    const json = path.join(dir, 'bench.json');
    const out = sink();
    const err = sink();
    const code = await benchCommand(
      { quick: true, json, backends: 'wasm', models: 'small-cnn', steps: 1, warmup: 1, batch: 4, data: 'synthetic', parallel: false },
      out.stream,
      err.stream,
    );
    expect(code).toBe(0);
    expect(out.text()).toContain('targets');
    expect(out.text()).toMatch(/backend auto -> wasm/);

    const report = JSON.parse(readFileSync(json, 'utf8'));
    expect(report.schema).toBe(BENCH_SCHEMA);
    expect(Object.keys(report).sort()).toEqual(
      ['autoBackend', 'backends', 'cores', 'dataWait', 'date', 'kernels', 'machine', 'memory', 'profile', 'quick', 'ratioSetup', 'ratios', 'schema', 'seconds', 'steps', 'targets', 'variants'].sort(),
    );
    expect(report.autoBackend.name).toBe('wasm');
    expect(report.steps).toHaveLength(1);
    expect(report.steps[0]).toMatchObject({ backend: 'wasm', model: 'small-cnn', size: 48, batch: 4, warmup: 1, steps: 1 });
    for (const key of ['stepMs', 'imagesPerSecond', 'forwardMs', 'stepOverForward']) expect(report.steps[0][key]).toBeGreaterThan(0);
    expect(Object.keys(report.ratios).sort()).toEqual(['fermixOverHandWritten', 'flip', 'mixaugmentJoint', 'mixaugmentSeparate', 'mixup']);
    expect(report.variants.map((v: { name: string }) => v.name)).toEqual(['vanilla', 'mixup', 'mixaugment-joint', 'mixaugment-separate', 'flip', 'cutmix', 'crop', 'color', 'erasing', 'randaugment', 'mixaugment-cutmix', 'hand-written']);
    expect(report.kernels.layers).toHaveLength(6);
    expect(report.kernels.gflopsMatmul).toBeGreaterThan(0);
    expect(report.memory.tensorGrowth).toBe(0);
    expect(report.dataWait.share).toBeGreaterThan(0);
    expect(report.cores.decode).toBeNull(); // synthetic data: nothing decoded
    expect(report.cores.parallelTraining).toBeNull(); // parallel: false
    expect(report.targets.map((t: { name: string }) => t.name)).toContain('data wait share');
    expect(report.targets.map((t: { name: string }) => t.name)).toEqual(expect.arrayContaining(['cutmix / vanilla', 'crop / vanilla', 'color / vanilla', 'erasing / vanilla', 'randaugment / vanilla', 'mixaugment-cutmix / vanilla']));
  });

  it('rejects unknown backends and models before measuring anything', async () => {
    await expect(benchCommand({ backends: 'webgl' }, sink().stream, sink().stream)).rejects.toThrow(UsageError);
    await expect(benchCommand({ models: 'resnet9000' }, sink().stream, sink().stream)).rejects.toThrow(/--models: unknown resnet9000/);
  });
});
