/**
 * Plugin trust: a config that names a package runs its code, so a broken plugin must be named, with
 * the hook that failed, and must damage nothing the user has. A plugin that throws in any hook,
 * returns a malformed batch or malformed loss terms, or declares a wrong apiVersion is reported by
 * plugin name and hook; the checkpoints of the run it broke stay complete, byte for byte when it
 * failed before the epoch's save (and then it resumes from them without the plugin).
 */
import { mkdtempSync, readdirSync, readFileSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { CheckpointStore } from '../src/checkpoint.js';
import { ConfigError } from '../src/config/errors.js';
import { PluginError, type PluginHook } from '../src/plugin-hooks.js';
import { PluginRegistry, resolvePlugins } from '../src/registry.js';
import { Trainer } from '../src/train/trainer.js';
import type { Batch, FermixPlugin, LossTerms } from '../src/types.js';
import { tinySetup, useCpu } from './helpers.js';

beforeAll(useCpu);

/** Every file under `dir` with its bytes. */
function snapshot(dir: string): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (d: string) => {
    for (const name of readdirSync(d)) {
      const p = path.join(d, name);
      if (statSync(p).isDirectory()) walk(p);
      else out.set(path.relative(dir, p), readFileSync(p).toString('base64'));
    }
  };
  walk(dir);
  return out;
}

/** A run folder with epoch 1 done: checkpoints/last and best exist. */
async function oneEpochRun(): Promise<string> {
  const runDir = mkdtempSync(path.join(os.tmpdir(), 'fermix-trust-'));
  await new Trainer({ ...tinySetup({ train: { epochs: 1 }, seed: 3 }), runDir }).run();
  return runDir;
}

/**
 * Resumes the run for two more epochs with `plugin`; expects it to fail naming the plugin and the
 * hook; then checks the checkpoints and that the run resumes to its end without the plugin.
 */
async function expectReported(plugin: FermixPlugin, hook: PluginHook, reason: RegExp, checkpointUntouched: boolean): Promise<void> {
  const runDir = await oneEpochRun();
  const checkpoints = path.join(runDir, 'checkpoints');
  const before = snapshot(checkpoints);
  const err = await new Trainer({ ...tinySetup({ train: { epochs: 3 }, seed: 3 }), plugins: [plugin], runDir, resume: true })
    .run()
    .then(() => null, (e: unknown) => e);
  expect(err).toBeInstanceOf(PluginError);
  expect(err).toMatchObject({ plugin: plugin.name, hook });
  expect((err as Error).message).toMatch(new RegExp(`^plugin "${plugin.name}" failed in ${hook}: `));
  expect((err as Error).message).toMatch(reason);
  const store = new CheckpointStore();
  expect(store.exists(path.join(checkpoints, 'last'))).toBe(true);
  expect(store.exists(path.join(checkpoints, 'best'))).toBe(true);
  if (checkpointUntouched) {
    expect(snapshot(checkpoints)).toEqual(before);
    return;
  }
  // Written after the failure's epoch was saved: the run resumes from it and finishes.
  const { metrics } = await new Trainer({ ...tinySetup({ train: { epochs: 3 }, seed: 3 }), runDir, resume: true }).run();
  expect(metrics.history).toHaveLength(3);
}

/** A plugin that throws in `hook` once training is in its second epoch (setup and transformModel: at once). */
function throwingIn(hook: PluginHook): FermixPlugin {
  const boom = (epoch = 1) => {
    if (epoch >= 1) throw new Error(`boom in ${hook}`);
  };
  const plugin: FermixPlugin = { name: `throws-in-${hook}`, apiVersion: 1 };
  switch (hook) {
    case 'setup':
      plugin.setup = () => boom();
      break;
    case 'transformModel':
      plugin.transformModel = (plan) => (boom(), plan);
      break;
    case 'transformBatch':
      plugin.transformBatch = (batch, ctx) => (boom(ctx.epoch), batch);
      break;
    case 'composeLoss':
      plugin.composeLoss = (terms, ctx) => (boom(ctx.epoch), terms);
      break;
    case 'onStepEnd':
      plugin.onStepEnd = async (_, ctx) => boom(ctx.epoch);
      break;
    case 'onEpochEnd':
      plugin.onEpochEnd = (summary) => boom(summary.epoch);
      break;
    case 'onTrainEnd':
      plugin.onTrainEnd = () => boom();
      break;
  }
  return plugin;
}

describe('a plugin that throws', () => {
  // Hooks before the epoch's checkpoint leave it byte for byte; onEpochEnd runs after the save, onTrainEnd after metrics.json.
  const cases: [PluginHook, boolean][] = [
    ['setup', true],
    ['transformModel', true],
    ['transformBatch', true],
    ['composeLoss', true],
    ['onStepEnd', true],
    ['onEpochEnd', false],
    ['onTrainEnd', false],
  ];
  for (const [hook, untouched] of cases) {
    it(`in ${hook}: reported by plugin name and hook; the checkpoints stay complete${untouched ? ' and unchanged' : ''}`, async () => {
      await expectReported(throwingIn(hook), hook, new RegExp(`boom in ${hook}`), untouched);
    });
  }

  it('a hook that throws a non-Error value is still named', async () => {
    const plugin: FermixPlugin = { name: 'throws-a-string', apiVersion: 1, transformBatch: () => { throw 'nope'; } };
    await expectReported(plugin, 'transformBatch', /it threw "nope"/, true);
  });
});

describe('a plugin that returns a malformed batch or loss', () => {
  const batchFrom = (make: (b: Batch) => unknown): FermixPlugin => ({ name: 'malformed', apiVersion: 1, transformBatch: (b) => make(b) as Batch });
  const cases: [string, (b: Batch) => unknown, RegExp][] = [
    ['nothing', () => undefined, /expected a batch \{ views: .* got nothing/],
    ['null', () => null, /got null/],
    ['no views', () => ({ views: {} }), /the batch has no views/],
    ['a view without tensors', () => ({ views: { real: { x: [1, 2], y: 'y', weight: 1 } } }), /view "real": x and y must be tensors/],
    ['x of rank 3', (b) => ({ views: { real: { ...b.views.real, x: tf.squeeze(tf.slice(b.views.real.x, [0, 0, 0, 0], [-1, -1, -1, 1]), [3]) } } }), /expected x \[B,H,W,C\] and y \[B,K\] with the same B/],
    ['y with other classes', (b) => ({ views: { real: { ...b.views.real, y: tf.concat([b.views.real.y, b.views.real.y], 1) } } }), /y has 6 classes, the model 3/],
    ['batch sizes that differ', (b) => ({ views: { real: { ...b.views.real, y: tf.slice(b.views.real.y, [0, 0], [2, -1]) } } }), /with the same B/],
    ['a NaN weight', (b) => ({ views: { real: { ...b.views.real, weight: Number.NaN } } }), /weight NaN is not a finite number/],
    ['a weight of the wrong shape', (b) => ({ views: { real: { ...b.views.real, weight: tf.ones([2, 2]) } } }), /weight must be a number or a \[B\] tensor/],
  ];
  for (const [what, make, reason] of cases) {
    it(`transformBatch returning ${what}: reported by plugin name and hook, checkpoints unchanged`, async () => {
      await expectReported(batchFrom(make), 'transformBatch', reason, true);
    });
  }

  it('composeLoss returning no terms, a number or a non-scalar term: reported by plugin name and hook', async () => {
    const lossFrom = (make: (t: LossTerms) => unknown): FermixPlugin => ({ name: 'bad-loss', apiVersion: 1, composeLoss: (t) => make(t) as LossTerms });
    await expectReported(lossFrom(() => ({})), 'composeLoss', /it left no loss terms/, true);
    await expectReported(lossFrom(() => 3), 'composeLoss', /expected loss terms \{ <name>: scalar tensor \}, got number 3/, true);
    await expectReported(lossFrom((t) => ({ ...t, extra: tf.ones([2]) })), 'composeLoss', /loss term "extra" must be a scalar tensor, got shape \[2\]/, true);
  });
});

describe("a plugin's apiVersion and shape are checked before anything runs", () => {
  const resolve = async (factory: () => unknown) => {
    const registry = new PluginRegistry();
    registry.register('odd', factory as never);
    return resolvePlugins({ plugins: ['odd'], baseDir: process.cwd(), configFile: undefined }, registry).then(
      () => null,
      (e: unknown) => e as Error,
    );
  };
  it('a wrong, missing or non-numeric apiVersion, no name, a hook that is not a function, or no plugin at all: a ConfigError at plugins[i].<name>', async () => {
    const cases: [() => unknown, RegExp][] = [
      [() => ({ name: 'odd', apiVersion: 99 }), /plugins\[0\]\.odd: expected a plugin for apiVersion 1 .*"odd" declares apiVersion 99/],
      [() => ({ name: 'odd' }), /plugins\[0\]\.odd: expected a plugin from the package's factory: "odd" to declare its apiVersion \(a number; .*\), found none/],
      [() => ({ name: 'odd', apiVersion: '1' }), /found "1"/],
      [() => ({ apiVersion: 1 }), /a plugin with a name/],
      [() => ({ name: 'odd', apiVersion: 1, transformBatch: 'flip' }), /"odd"'s hooks to be functions \(transformBatch is not\)/],
      [() => null, /the factory returned null/],
      [() => undefined, /the factory returned undefined/],
      [() => { throw new Error('cannot start'); }, /plugins\[0\]\.odd: expected options the plugin accepts \(cannot start\)/],
    ];
    for (const [factory, expected] of cases) {
      const err = await resolve(factory);
      expect(err).toBeInstanceOf(ConfigError);
      expect(err!.message).toMatch(expected);
    }
  });
});
