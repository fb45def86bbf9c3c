import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { BENCH_SCHEMA, benchCommand } from '../src/commands/bench.js';
import { UsageError } from '../src/commands/train.js';
import { readOne } from '../src/bench/step-server.js';

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../../..');
const fermix = [path.join(root, 'node_modules/.bin/tsx'), '--conditions=fermix-source', path.join(root, 'packages/cli/src/bin.ts')];

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
      { quick: true, json, backends: 'wasm', models: 'small-cnn', steps: 1, warmup: 1, batch: 4, data: 'synthetic', parallel: false, threads: '2', command: fermix },
      out.stream,
      err.stream,
    );
    expect(code).toBe(0);
    expect(out.text()).toContain('targets');
    expect(out.text()).toMatch(/backend auto -> wasm/);

    const report = JSON.parse(readFileSync(json, 'utf8'));
    expect(report.schema).toBe(BENCH_SCHEMA);
    expect(Object.keys(report).sort()).toEqual(
      ['accelerator', 'acceleratorSkipped', 'autoBackend', 'backends', 'cores', 'cpuOverWall', 'dataWait', 'date', 'kernels', 'machine', 'memory', 'profile', 'quick', 'ratioSetup', 'ratios', 'schema', 'seconds', 'steps', 'targets', 'threadScaling', 'threads', 'threadsReason', 'variants'].sort(),
    );
    // --threads 2: the measurements ran on two threads, and the scaling figure compared them with one.
    expect(report.threads).toBe(2);
    expect(report.threadsReason).toMatch(/threads: 2 was asked for/);
    expect(report.cpuOverWall).toBeGreaterThan(0);
    expect(report.cores.wasmMultithread).toBe(true);
    expect(report.threadScaling.rows).toHaveLength(1);
    expect(report.threadScaling.rows[0]).toMatchObject({ model: 'small-cnn', size: 48, batch: 4, threads: 2, sameLosses: true });
    expect(report.threadScaling.rows[0].speedup).toBeGreaterThan(0);
    expect(out.text()).toMatch(/threads \(wasm; each side a step-server process/);
    // @fermix/accel-onnxruntime is installed in the workspace: measured against wasm alone.
    expect(report.acceleratorSkipped).toBeNull();
    expect(report.accelerator.accelerator).toMatchObject({ name: 'onnxruntime', threads: 2 });
    expect(report.accelerator.rows[0]).toMatchObject({ model: 'small-cnn', size: 48, batch: 4 });
    // The kernels agree within 1e-5 per call; over the warm-up and timed steps the difference compounds.
    expect(report.accelerator.rows[0].maxLossDifference).toBeLessThan(1e-2);
    expect(out.text()).toMatch(/accelerator \(onnxruntime 1\./);
    expect(report.autoBackend.name).toBe('wasm');
    expect(report.steps).toHaveLength(1);
    expect(report.steps[0]).toMatchObject({ backend: 'wasm', model: 'small-cnn', size: 48, batch: 4, warmup: 1, steps: 1, tensorGrowth: 0, data: 'synthetic' });
    // Each backend's steps are timed in a step-server process of its own, not in this one.
    expect(report.steps[0].pid).toEqual(expect.any(Number));
    expect(report.steps[0].pid).not.toBe(process.pid);
    expect(report.autoBackend).toMatchObject({ name: 'wasm', device: 'CPU', deviceReason: null });
    expect(report.backends).toEqual([{ name: 'wasm', available: true, reason: null, device: 'CPU', deviceReason: null }]);
    expect(out.text()).toContain('backend wasm: measured, on CPU');
    for (const key of ['stepMs', 'imagesPerSecond', 'forwardMs', 'stepOverForward']) expect(report.steps[0][key]).toBeGreaterThan(0);
    expect(Object.keys(report.ratios).sort()).toEqual(['fermixOverHandWritten', 'flip', 'mixaugmentJoint', 'mixaugmentSeparate', 'mixup']);
    expect(report.variants.map((v: { name: string }) => v.name)).toEqual(['vanilla', 'mixup', 'mixaugment-joint', 'mixaugment-separate', 'flip', 'cutmix', 'crop', 'color', 'erasing', 'randaugment', 'mixaugment-cutmix', 'hand-written']);
    expect(report.kernels.layers).toHaveLength(6);
    expect(report.kernels.gflopsMatmul).toBeGreaterThan(0);
    expect(report.memory.tensorGrowth).toBe(0);
    expect(report.dataWait.share).toBeGreaterThan(0);
    expect(report.cores.decode).toBeNull(); // synthetic data: nothing decoded
    expect(report.cores.parallelTraining).toBeNull(); // parallel: false
    const targets = new Map(report.targets.map((t: { name: string; met: boolean | null }) => [t.name, t]));
    for (const name of ['data wait share', 'training cpu / wall (cores busy)', 'small-cnn all threads / 1 thread (images/s)', 'resnet18 all threads / 1 thread (images/s)']) {
      expect(targets.has(name), name).toBe(true);
    }
    // Every target says whether it was met (null: not measured in this run, as resnet18 here).
    for (const t of report.targets) expect([true, false, null]).toContain(t.met);
    expect((targets.get('resnet18 all threads / 1 thread (images/s)') as { met: unknown }).met).toBeNull();
    expect(report.targets.map((t: { name: string }) => t.name)).toEqual(expect.arrayContaining(['cutmix / vanilla', 'crop / vanilla', 'color / vanilla', 'erasing / vanilla', 'randaugment / vanilla', 'mixaugment-cutmix / vanilla']));
    // Five fermix processes start from the sources here (steps, 2 for threads, 2 for the accelerator):
    // 115 s on 2 cores at load 12, so more than the default 120 s would be too tight on a busy machine.
  }, 300_000);

  it('times kernels through a read-back: readOne reads one element of the result back, leaving no tensor behind', async () => {
    const tf = await import('@tensorflow/tfjs-core');
    await import('@tensorflow/tfjs-backend-cpu');
    await tf.setBackend('cpu');
    const t = tf.fill([4, 5, 6], 2);
    // Reads through the engine (dataSync): on tfjs-node each one waits for the device.
    const reads = vi.spyOn(tf.engine(), 'readSync');
    const before = tf.memory().numTensors;
    try {
      readOne(t);
      expect(reads).toHaveBeenCalledTimes(1);
      expect((reads.mock.results[0].value as ArrayLike<number>).length).toBe(1);
    } finally {
      reads.mockRestore();
    }
    expect(tf.memory().numTensors).toBe(before);
    t.dispose();
  });

  it('rejects unknown backends and models before measuring anything', async () => {
    await expect(benchCommand({ backends: 'webgl' }, sink().stream, sink().stream)).rejects.toThrow(UsageError);
    await expect(benchCommand({ models: 'resnet9000' }, sink().stream, sink().stream)).rejects.toThrow(/--models: unknown resnet9000/);
  });
});
