import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-layers';
import { describe, expect, it } from 'vitest';
import { selectBackend } from '../src/backend/select.js';
import { validateConfig } from '../src/config/load.js';
import { createMemoryLogger } from '../src/logger.js';

describe('accelerator: onnxruntime', () => {
  it('is refused at its YAML path when it is not a known accelerator', () => {
    expect(() => validateConfig({ accelerator: 'cuda' }, { baseDir: '.' })).toThrow(/accelerator/);
    expect(validateConfig({}, { baseDir: '.' }).accelerator).toBe('none');
    expect(validateConfig({ accelerator: 'onnxruntime' }, { baseDir: '.' }).accelerator).toBe('onnxruntime');
  });

  it('hands the wasm backend\'s convolutions to @fermix/accel-onnxruntime, and logs it', async () => {
    const logger = createMemoryLogger();
    // The workspace root has the package in node_modules, as a user's project would.
    const choice = await selectBackend('wasm', logger, { threads: 2, accelerator: 'onnxruntime', searchFrom: path.resolve(__dirname, '../../..') });
    expect(choice.accelerator).toMatchObject({ name: 'onnxruntime', threads: 2 });
    expect(choice.accelerator!.kernels.sort()).toEqual(['Conv2D', 'Conv2DBackpropFilter', 'Conv2DBackpropInput', 'FusedConv2D']);
    expect(logger.lines.find((l) => l.message.startsWith('backend: wasm'))?.fields?.accelerator).toMatch(/^onnxruntime 1\.\d+\.\d+ \(Conv2D, FusedConv2D/);
    // A convolution and its gradients now run there, and still train.
    const x = tf.randomNormal([2, 6, 6, 3]) as tf.Tensor4D;
    const w = tf.variable(tf.randomNormal([3, 3, 3, 4]));
    const { value, grads } = tf.variableGrads(() => tf.sum(tf.square(tf.conv2d(x, w as tf.Tensor4D, 1, 'same'))) as tf.Scalar, [w]);
    expect(Number.isFinite(value.dataSync()[0])).toBe(true);
    expect(grads[w.name].shape).toEqual([3, 3, 3, 4]);
    const { acceleratorStats } = await import('@fermix/accel-onnxruntime');
    expect(acceleratorStats().calls.Conv2D).toBeGreaterThan(0);
    expect(acceleratorStats().calls.Conv2DBackpropFilter).toBeGreaterThan(0);
    tf.dispose([x, w, value, grads[w.name]]);
  });

  it('says how to install the package when it cannot be found', async () => {
    const empty = mkdtempSync(path.join(os.tmpdir(), 'fermix-no-accel-'));
    try {
      // From a folder with no node_modules, and @fermix/core itself does not depend on it.
      await expect(selectBackend('wasm', createMemoryLogger(), { accelerator: 'onnxruntime', searchFrom: empty })).rejects.toThrow(
        /accelerator: onnxruntime needs @fermix\/accel-onnxruntime installed next to fermix \(pnpm add @fermix\/accel-onnxruntime\), or accelerator: none/,
      );
    } finally {
      rmSync(empty, { recursive: true, force: true });
    }
  });

  it('is ignored, with a log line, on the cpu backend', async () => {
    const logger = createMemoryLogger();
    const choice = await selectBackend('cpu', logger, { accelerator: 'onnxruntime' });
    expect(choice.accelerator).toBeUndefined();
    expect(logger.lines.some((l) => /accelerator: onnxruntime is for the wasm backend; cpu runs without it/.test(l.message))).toBe(true);
  });
});
