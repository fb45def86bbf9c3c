/**
 * Calling a plugin's hooks: whatever a hook throws, or a batch or loss it returns that the step
 * cannot use, becomes a `PluginError` naming the plugin and the hook. A config that names a package
 * runs that package's code, so a broken plugin must say which one it is, and it must fail before
 * anything the user has is written: hooks run between checkpoints, never during a save.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { Batch, FermixPlugin, LossTerms } from './types.js';

export type PluginHook = 'setup' | 'transformModel' | 'transformBatch' | 'composeLoss' | 'onStepEnd' | 'onEpochEnd' | 'onTrainEnd';

/** A plugin's hook failed: `plugin` and `hook` say which. The original error is the `cause`. */
export class PluginError extends Error {
  constructor(
    readonly plugin: string,
    readonly hook: PluginHook,
    reason: string,
    options?: { cause?: unknown },
  ) {
    super(`plugin "${plugin}" failed in ${hook}: ${reason}`, options);
    this.name = 'PluginError';
  }
}

function reasonOf(err: unknown): string {
  return err instanceof Error ? err.message : `it threw ${typeof err === 'string' ? JSON.stringify(err) : String(err)}`;
}

/** Runs `fn` (a hook of `plugin`), turning what it throws into a PluginError. */
export function callHook<T>(plugin: FermixPlugin, hook: PluginHook, fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    if (err instanceof PluginError) throw err;
    throw new PluginError(plugin.name, hook, reasonOf(err), { cause: err });
  }
}

/** The same for hooks that may return a promise (setup, onStepEnd, onEpochEnd, onTrainEnd). */
export async function callAsyncHook(plugin: FermixPlugin, hook: PluginHook, fn: () => unknown): Promise<void> {
  try {
    await fn();
  } catch (err) {
    if (err instanceof PluginError) throw err;
    throw new PluginError(plugin.name, hook, reasonOf(err), { cause: err });
  }
}

/**
 * Why `batch` is not a batch the step can train on (views of x [B,H,W,C] and y [B,K] with the same
 * B, K as the model's classes, a weight that is a number or a [B] vector), or null when it is.
 */
export function malformedBatch(batch: unknown, classes?: number): string | null {
  const views = (batch as Batch | null)?.views;
  if (batch === null || typeof batch !== 'object' || views === null || typeof views !== 'object') {
    return `expected a batch { views: { <name>: { x, y, weight } } }, got ${describe(batch)}`;
  }
  const names = Object.keys(views);
  if (names.length === 0) return 'the batch has no views';
  for (const name of names) {
    const v = views[name] as Partial<Batch['views'][string]> | null;
    const where = `view "${name}"`;
    if (v === null || typeof v !== 'object') return `${where} is ${describe(v)}, expected { x, y, weight }`;
    if (!(v.x instanceof tf.Tensor) || !(v.y instanceof tf.Tensor)) return `${where}: x and y must be tensors, got x ${describe(v.x)} and y ${describe(v.y)}`;
    if (v.x.isDisposed || v.y.isDisposed) return `${where}: x or y was disposed`;
    if (v.x.rank !== 4 || v.y.rank !== 2 || v.x.shape[0] !== v.y.shape[0]) {
      return `${where}: expected x [B,H,W,C] and y [B,K] with the same B, got x ${JSON.stringify(v.x.shape)} and y ${JSON.stringify(v.y.shape)}`;
    }
    if (classes !== undefined && v.y.shape[1] !== classes) return `${where}: y has ${v.y.shape[1]} classes, the model ${classes}`;
    const w = v.weight;
    if (typeof w === 'number') {
      if (!Number.isFinite(w)) return `${where}: weight ${w} is not a finite number`;
    } else if (!(w instanceof tf.Tensor) || w.rank !== 1 || w.shape[0] !== v.x.shape[0]) {
      return `${where}: weight must be a number or a [B] tensor (B = ${v.x.shape[0]}), got ${w instanceof tf.Tensor ? JSON.stringify(w.shape) : describe(w)}`;
    }
  }
  return null;
}

/** Why `terms` are not loss terms (scalar tensors by name), or null when they are. */
export function malformedTerms(terms: unknown): string | null {
  if (terms === null || typeof terms !== 'object') return `expected loss terms { <name>: scalar tensor }, got ${describe(terms)}`;
  const names = Object.keys(terms);
  if (names.length === 0) return 'it left no loss terms';
  for (const name of names) {
    const t = (terms as LossTerms)[name] as unknown;
    if (!(t instanceof tf.Tensor) || t.rank !== 0) return `loss term "${name}" must be a scalar tensor, got ${t instanceof tf.Tensor ? `shape ${JSON.stringify(t.shape)}` : describe(t)}`;
  }
  return null;
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (value instanceof tf.Tensor) return `a tensor of shape ${JSON.stringify(value.shape)}`;
  if (Array.isArray(value)) return 'an array';
  return typeof value === 'object' ? 'an object' : typeof value === 'undefined' ? 'nothing' : `${typeof value} ${String(value).slice(0, 40)}`;
}
