/**
 * Loading tfjs-node-gpu or tfjs-node (the `tensorflow` backend), and which device it computes on.
 *
 * Two traps of tfjs-node 4.22 shape this file. Its index registers its 155 kernels before it looks
 * for its native addon, so a package whose addon is missing or broken leaves them registered and
 * the next candidate prints "already registered" 155 times: the addon is found and loaded here
 * first, and a package is imported only when it loaded. And tfjs-node-gpu imports fine without
 * CUDA and falls back to the host CPU without a word: `describeDevice` reads the backend's own
 * `isUsingGpuDevice` (set from TensorFlow's device list in tfjs_backend.cc).
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';

export const GPU_PACKAGE = '@tensorflow/tfjs-node-gpu';
export const CPU_PACKAGE = '@tensorflow/tfjs-node';
export type TensorflowPackage = typeof GPU_PACKAGE | typeof CPU_PACKAGE;

/** Where the kernels of a backend run. */
export type ComputeDevice = 'GPU' | 'CPU';

export interface DeviceDescription {
  device: ComputeDevice;
  /** Set when a GPU package computes on the CPU: why (for the log, metrics.json and the bench). */
  reason?: string;
}

/** What a GPU package that found no device tells the user to check. */
export const NO_CUDA_DEVICE_HINT =
  'TensorFlow found no GPU: the CUDA 11.2 and cuDNN 8.1 libraries are missing or not on LD_LIBRARY_PATH, the NVIDIA driver is absent, or CUDA_VISIBLE_DEVICES hides every device (see TensorFlow\'s own messages above, and docs/gpu.md)';

/**
 * The device an active backend computes on. Only the tensorflow backend of tfjs-node-gpu can be on
 * a GPU, and only when its `isUsingGpuDevice` is true; every other backend runs on the CPU.
 */
export function describeDevice(name: string, provider: string, backend: unknown): DeviceDescription {
  if (name !== 'tensorflow' || provider !== GPU_PACKAGE) return { device: 'CPU' };
  const flag = (backend as { isUsingGpuDevice?: unknown } | null)?.isUsingGpuDevice;
  if (flag === true) return { device: 'GPU' };
  if (flag === false) return { device: 'CPU', reason: `no usable CUDA device: ${NO_CUDA_DEVICE_HINT}` };
  return { device: 'CPU', reason: 'no usable CUDA device: the backend does not say which device it uses (no isUsingGpuDevice), so fermix assumes the CPU' };
}

/** "GPU", "CPU" or "CPU (no usable CUDA device: ...)", as the log line says it. */
export function deviceLabel(d: DeviceDescription): string {
  return d.reason ? `${d.device} (${d.reason})` : d.device;
}

/** The package's package.json, found from each folder in turn (node_modules upward), or null. */
function findPackageJson(pkg: string, from: string[]): string | null {
  for (const base of from) {
    try {
      return createRequire(path.join(base, 'noop.js')).resolve(`${pkg}/package.json`);
    } catch {
      // not installed where this folder looks; try the next
    }
  }
  return null;
}

/**
 * The native addon's path as the package computes it (node-pre-gyp's `find` over its package.json),
 * or null when node-pre-gyp is not there to ask.
 */
function addonPath(packageJson: string): string | null {
  try {
    const preGyp = createRequire(packageJson)('@mapbox/node-pre-gyp') as { find?: (p: string) => string };
    return typeof preGyp.find === 'function' ? preGyp.find(packageJson) : null;
  } catch {
    return null;
  }
}

const ALREADY_REGISTERED = /^The kernel '[^']+' for backend 'tensorflow' is already registered$/;

/**
 * Runs `fn` with exactly tfjs-core's "kernel ... for backend 'tensorflow' is already registered"
 * warnings held back (a second tfjs-node package re-registers the first one's kernels); every other
 * warning passes. Returns how many were held back.
 */
export function withoutReregistrationWarnings(fn: () => void): number {
  const original = console.warn;
  let held = 0;
  console.warn = (...args: unknown[]) => {
    if (args.length === 1 && typeof args[0] === 'string' && ALREADY_REGISTERED.test(args[0])) held++;
    else original(...args);
  };
  try {
    fn();
  } finally {
    console.warn = original;
  }
  return held;
}

/**
 * Loads `pkg` and makes `tensorflow` the active backend. Returns null on success, else one line
 * saying why not (for the log's list of candidates). The native addon is loaded before the package
 * is imported, so a package whose addon is missing or broken registers nothing.
 */
export async function tryTensorflowPackage(pkg: TensorflowPackage, from: string[]): Promise<string | null> {
  const packageJson = findPackageJson(pkg, from);
  if (!packageJson) return `${pkg} is not installed`;
  const addon = addonPath(packageJson);
  if (addon !== null) {
    if (!existsSync(addon)) return `${pkg} is installed but its native addon is missing (${addon}): its install script did not finish (reinstall it; behind a proxy see docs/gpu.md)`;
    try {
      createRequire(packageJson)(addon);
    } catch (err) {
      return `${pkg} is installed but its native addon failed to load: ${(err as Error).message.split('\n')[0]}`;
    }
  }
  try {
    withoutReregistrationWarnings(() => createRequire(packageJson)(path.dirname(packageJson)));
    if (!(await tf.setBackend('tensorflow'))) return `${pkg} loaded but the tensorflow backend did not initialise`;
    return null;
  } catch (err) {
    return `${pkg} is installed but failed to load: ${(err as Error).message.split('\n')[0]}`;
  }
}
