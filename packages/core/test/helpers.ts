import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import * as tfl from '@tensorflow/tfjs-layers';
import { createContainer, TOKENS } from '../src/container.js';
import { validateConfig } from '../src/config/load.js';
import type { FermixConfigInput } from '../src/config/schema.js';
import type { DataSource, ImageSet } from '../src/data/source.js';
import { silentLogger, type Logger } from '../src/logger.js';
import type { BackboneDefinition, BackboneRegistry } from '../src/registry.js';
import { Rng } from '../src/rng.js';

/** A backbone small enough for the cpu backend in tests: one conv + batch norm + ReLU block. */
export const tinyBackbone: BackboneDefinition = {
  name: 'tiny',
  description: 'one conv block, for tests',
  minInputSize: 4,
  build(input, plan) {
    let x = tfl.layers.conv2d({ filters: 4, kernelSize: 3, strides: 2, padding: 'same', name: 'conv' }).apply(input) as tfl.SymbolicTensor;
    x = tfl.layers.batchNormalization({ name: 'bn' }).apply(x) as tfl.SymbolicTensor;
    x = tfl.layers.activation({ activation: 'relu', name: 'relu' }).apply(x) as tfl.SymbolicTensor;
    return plan.afterBlock.reduce((acc, fn) => fn(acc, { index: 0, name: 'block1' }), x);
  },
};

/** A data source of random images whose class shows in the mean brightness of a channel. */
export function memorySource(options: { perClass?: number; classes?: number; size?: number; seed?: number } = {}): DataSource {
  const perClass = options.perClass ?? 6;
  const k = options.classes ?? 3;
  const classes = Array.from({ length: k }, (_, i) => `c${i}`);
  const make = (split: string, size: number): ImageSet => {
    const rng = new Rng(options.seed ?? 1).fork(split);
    const count = perClass * k;
    const images = new Uint8Array(count * size * size * 3);
    const labels = new Int32Array(count);
    for (let i = 0; i < count; i++) {
      labels[i] = i % k;
      for (let p = 0; p < size * size * 3; p++) {
        const boost = p % 3 === labels[i] ? 120 : 0;
        images[i * size * size * 3 + p] = Math.min(255, Math.floor(rng.uniform() * 120) + boost);
      }
    }
    return { images, labels, count, size, classes, sources: [], skipped: [] };
  };
  return {
    description: 'memory',
    classes: async () => classes,
    splits: async () => ['test', 'train'],
    load: async (split, { imageSize }) => make(split, imageSize),
  };
}

export async function useCpu(): Promise<void> {
  await tf.setBackend('cpu');
  await tf.ready();
}

/** A validated config for the tiny backbone on the memory source, with a container bound to both. */
export function tinySetup(raw: FermixConfigInput = {}, logger: Logger = silentLogger, source: DataSource = memorySource()) {
  const config = validateConfig(
    {
      backend: 'cpu',
      data: { format: 'synthetic', imageSize: 8 },
      model: { backbone: 'tiny' },
      ...raw,
      train: { epochs: 2, batchSize: 6, bnRecalibrationBatches: 2, ...(raw.train ?? {}) },
    },
    { baseDir: process.cwd() },
  );
  const container = createContainer(config, logger);
  container.get<BackboneRegistry>(TOKENS.BackboneRegistry).register(tinyBackbone);
  container.unbind(TOKENS.DataSource);
  container.bind<DataSource>(TOKENS.DataSource).toConstantValue(source);
  return { config, container };
}
