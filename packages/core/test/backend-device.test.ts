/**
 * The tensorflow backend's decisions without tfjs-node: packages that stand in for
 * @tensorflow/tfjs-node-gpu and @tensorflow/tfjs-node, laid out as they are installed (package.json,
 * node-pre-gyp answering where the native addon is, an index that registers kernels for the
 * `tensorflow` backend before it looks for that addon, as tfjs-node 4.22's does), and a stand-in
 * backend object whose `isUsingGpuDevice` says whether TensorFlow found a GPU. No training runs on it.
 */
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-layers';
import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { meanGrad, sumGrad } from '../src/backend/gradients.js';
import { BackendUnavailableError, selectBackend } from '../src/backend/select.js';
import { describeDevice, withoutReregistrationWarnings } from '../src/backend/tensorflow.js';
import { createMemoryLogger } from '../src/logger.js';

type Fixture = { addon: 'absent' | 'loads' | 'throws'; index: 'backend' | 'throws-after-kernels'; gpu?: boolean };

/** What the stand-in packages see: tfjs, and a log of which were imported. */
const hook = { tf, imported: [] as string[] };
(globalThis as Record<string, unknown>).__fermixStandIn = hook;

const KERNELS = ['Add', 'Sub', 'Mul'];

/** A folder whose node_modules holds stand-ins of the two packages, as `fixtures` describe them. */
function project(fixtures: Partial<Record<'@tensorflow/tfjs-node-gpu' | '@tensorflow/tfjs-node', Fixture>>): string {
  const root = mkdtempSync(path.join(os.tmpdir(), 'fermix-tfjs-node-'));
  for (const [name, f] of Object.entries(fixtures)) {
    const dir = path.join(root, 'node_modules', name);
    const preGyp = path.join(dir, 'node_modules', '@mapbox', 'node-pre-gyp');
    mkdirSync(path.join(dir, 'lib'), { recursive: true });
    mkdirSync(preGyp, { recursive: true });
    writeFileSync(path.join(dir, 'package.json'), JSON.stringify({ name, version: '4.22.0', main: 'index.js' }));
    writeFileSync(path.join(preGyp, 'package.json'), JSON.stringify({ name: '@mapbox/node-pre-gyp', main: 'index.js' }));
    writeFileSync(path.join(preGyp, 'index.js'), "const path = require('path');\nexports.find = (pkg) => path.join(path.dirname(pkg), 'lib', 'tfjs_binding.js');\n");
    if (f.addon === 'loads') writeFileSync(path.join(dir, 'lib', 'tfjs_binding.js'), `exports.isUsingGpuDevice = () => ${Boolean(f.gpu)};\n`);
    if (f.addon === 'throws') writeFileSync(path.join(dir, 'lib', 'tfjs_binding.js'), "throw new Error('libcudart.so.11.0: cannot open shared object file: No such file or directory');\n");
    const register = `const { tf, imported } = globalThis.__fermixStandIn;\nimported.push(${JSON.stringify(name)});\n` +
      `for (const k of ${JSON.stringify(KERNELS)}) tf.registerKernel({ kernelName: k, backendName: 'tensorflow', kernelFunc: () => { throw new Error('stand-in'); } });\n`;
    const body =
      f.index === 'throws-after-kernels'
        ? "throw new Error('Could not initialize TensorFlow backend.');\n"
        : `const binding = require('./lib/tfjs_binding.js');\n` +
          `if (tf.findBackendFactory('tensorflow')) tf.removeBackend('tensorflow');\n` +
          // The stand-in backend: the cpu backend's object, with the flag tfjs-node sets from TensorFlow's device list.
          `tf.registerBackend('tensorflow', () => { const b = Object.create(tf.findBackend('cpu')); b.isGPUPackage = ${JSON.stringify(name)} === '@tensorflow/tfjs-node-gpu'; b.isUsingGpuDevice = binding.isUsingGpuDevice(); return b; }, 3);\n` +
          "console.warn('a warning of the package itself');\n";
    writeFileSync(path.join(dir, 'index.js'), register + body);
  }
  return root;
}

beforeAll(async () => {
  await tf.setBackend('cpu');
});

afterEach(async () => {
  vi.restoreAllMocks();
  await tf.setBackend('cpu');
  if (tf.findBackendFactory('tensorflow')) tf.removeBackend('tensorflow');
  for (const k of KERNELS) if (tf.getKernel(k, 'tensorflow')) tf.unregisterKernel(k, 'tensorflow');
  hook.imported = [];
});

describe('describeDevice (a stand-in backend object)', () => {
  it('is the GPU only for tfjs-node-gpu whose backend found a CUDA device', () => {
    expect(describeDevice('tensorflow', '@tensorflow/tfjs-node-gpu', { isUsingGpuDevice: true })).toEqual({ device: 'GPU' });
    const fallback = describeDevice('tensorflow', '@tensorflow/tfjs-node-gpu', { isUsingGpuDevice: false });
    expect(fallback.device).toBe('CPU');
    expect(fallback.reason).toMatch(/^no usable CUDA device: TensorFlow found no GPU: the CUDA 11\.2 and cuDNN 8\.1 libraries/);
    expect(describeDevice('tensorflow', '@tensorflow/tfjs-node-gpu', {}).reason).toMatch(/no usable CUDA device: the backend does not say/);
    expect(describeDevice('tensorflow', '@tensorflow/tfjs-node', { isUsingGpuDevice: true })).toEqual({ device: 'CPU' });
    expect(describeDevice('wasm', '@tensorflow/tfjs-backend-wasm', tf.backend())).toEqual({ device: 'CPU' });
  });
});

describe('selectBackend with stand-ins for tfjs-node-gpu and tfjs-node', () => {
  it('logs "CPU (no usable CUDA device: ...)" when tfjs-node-gpu falls back to the host CPU, and warns', async () => {
    const logger = createMemoryLogger();
    const choice = await selectBackend('auto', logger, { searchFrom: project({ '@tensorflow/tfjs-node-gpu': { addon: 'loads', index: 'backend', gpu: false } }) });
    expect(choice).toMatchObject({ name: 'tensorflow', provider: '@tensorflow/tfjs-node-gpu', device: 'CPU' });
    expect(choice.deviceReason).toMatch(/^no usable CUDA device/);
    const line = logger.lines.find((l) => l.message.startsWith('backend: '));
    expect(line?.message).toMatch(/^backend: tensorflow \(@tensorflow\/tfjs-node-gpu\) on CPU \(no usable CUDA device: /);
    expect(logger.lines.some((l) => l.level === 'warn' && /computes on the CPU, not a GPU/.test(l.message))).toBe(true);
  });

  it('logs GPU when the device is there; backend: gpu starts only then', async () => {
    const logger = createMemoryLogger();
    const choice = await selectBackend('gpu', logger, { searchFrom: project({ '@tensorflow/tfjs-node-gpu': { addon: 'loads', index: 'backend', gpu: true } }) });
    expect(choice).toMatchObject({ name: 'tensorflow', provider: '@tensorflow/tfjs-node-gpu', device: 'GPU' });
    expect(choice.deviceReason).toBeUndefined();
    expect(logger.lines.find((l) => l.message.startsWith('backend: '))?.message).toBe('backend: tensorflow (@tensorflow/tfjs-node-gpu) on GPU');
  });

  it('backend: gpu refuses to start on the CPU fallback, and when tfjs-node-gpu is absent, without trying anything else', async () => {
    const cpuOnly = project({ '@tensorflow/tfjs-node-gpu': { addon: 'loads', index: 'backend', gpu: false } });
    const err = await selectBackend('gpu', createMemoryLogger(), { searchFrom: cpuOnly }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BackendUnavailableError);
    expect((err as Error).message).toMatch(/^backend "gpu" was requested but @tensorflow\/tfjs-node-gpu found no usable CUDA device/);
    expect((err as Error).message).toContain('does not train on the CPU in its place');
    hook.imported = [];
    const onlyCpuPackage = project({ '@tensorflow/tfjs-node': { addon: 'loads', index: 'backend' } });
    await expect(selectBackend('gpu', createMemoryLogger(), { searchFrom: onlyCpuPackage })).rejects.toThrow(/^backend "gpu" was requested but @tensorflow\/tfjs-node-gpu is not installed/);
    expect(hook.imported).toEqual([]); // tfjs-node was not tried in its place
  });

  it('a tfjs-node-gpu whose native addon is missing is never imported, so tfjs-node starts without one "already registered" warning', async () => {
    const warn = vi.spyOn(console, 'warn');
    const logger = createMemoryLogger();
    const searchFrom = project({
      '@tensorflow/tfjs-node-gpu': { addon: 'absent', index: 'throws-after-kernels' },
      '@tensorflow/tfjs-node': { addon: 'loads', index: 'backend' },
    });
    const choice = await selectBackend('auto', logger, { searchFrom });
    expect(choice).toMatchObject({ name: 'tensorflow', provider: '@tensorflow/tfjs-node', device: 'CPU' });
    expect(choice.deviceReason).toBeUndefined();
    expect(hook.imported).toEqual(['@tensorflow/tfjs-node']);
    expect(choice.reasons[0]).toMatch(/^@tensorflow\/tfjs-node-gpu is installed but its native addon is missing \(.*tfjs_binding\.js\)/);
    expect(warn.mock.calls.map((c) => String(c[0])).filter((m) => m.includes('already registered'))).toEqual([]);
    expect(logger.lines.find((l) => l.message.startsWith('backend: '))?.message).toBe('backend: tensorflow (@tensorflow/tfjs-node) on CPU');
  });

  it('an addon that fails to load is named with its error, and the package is not imported', async () => {
    const searchFrom = project({
      '@tensorflow/tfjs-node-gpu': { addon: 'throws', index: 'throws-after-kernels' },
      '@tensorflow/tfjs-node': { addon: 'loads', index: 'backend' },
    });
    const choice = await selectBackend('auto', createMemoryLogger(), { searchFrom });
    expect(choice.reasons[0]).toBe('@tensorflow/tfjs-node-gpu is installed but its native addon failed to load: libcudart.so.11.0: cannot open shared object file: No such file or directory');
    expect(hook.imported).toEqual(['@tensorflow/tfjs-node']);
  });

  it('a package that registers its kernels and then fails: the next one\'s re-registrations are held back, other warnings pass', async () => {
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => {});
    const searchFrom = project({
      '@tensorflow/tfjs-node-gpu': { addon: 'loads', index: 'throws-after-kernels' },
      '@tensorflow/tfjs-node': { addon: 'loads', index: 'backend' },
    });
    const choice = await selectBackend('auto', createMemoryLogger(), { searchFrom });
    expect(choice.provider).toBe('@tensorflow/tfjs-node');
    expect(hook.imported).toEqual(['@tensorflow/tfjs-node-gpu', '@tensorflow/tfjs-node']);
    expect(choice.reasons[0]).toBe('@tensorflow/tfjs-node-gpu is installed but failed to load: Could not initialize TensorFlow backend.');
    const messages = warn.mock.calls.map((c) => String(c[0]));
    expect(messages.filter((m) => m.includes('already registered'))).toEqual([]);
    expect(messages).toContain('a warning of the package itself');
  });

  it('withoutReregistrationWarnings holds back exactly tfjs-core\'s "already registered" lines for the tensorflow backend', () => {
    const seen: unknown[][] = [];
    vi.spyOn(console, 'warn').mockImplementation((...args: unknown[]) => void seen.push(args));
    const held = withoutReregistrationWarnings(() => {
      console.warn("The kernel 'Conv2D' for backend 'tensorflow' is already registered");
      console.warn("The kernel 'Conv2D' for backend 'wasm' is already registered");
      console.warn('something else', 1);
    });
    expect(held).toBe(1);
    expect(seen).toEqual([["The kernel 'Conv2D' for backend 'wasm' is already registered"], ['something else', 1]]);
  });

  it('registers fermix\'s gradients for whichever backend it selects (here the stand-in tensorflow backend)', async () => {
    tf.registerGradient({ ...meanGrad, gradFunc: () => ({}) });
    await selectBackend('tensorflow', createMemoryLogger(), { searchFrom: project({ '@tensorflow/tfjs-node': { addon: 'loads', index: 'backend' } }) });
    expect(tf.getGradient('Mean')?.gradFunc).toBe(meanGrad.gradFunc);
    expect(tf.getGradient('Sum')?.gradFunc).toBe(sumGrad.gradFunc);
  });
});
