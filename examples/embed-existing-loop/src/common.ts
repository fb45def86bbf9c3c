/**
 * What the three scripts share and what is not the point of the example: picking a backend, loading
 * images, a small conv net, shuffled batches, test accuracy and command-line options. The training
 * loops themselves are in plain-loop.ts, with-mixaugment.ts and fit-with-mixup.ts.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { batchTensors, gatherBatch, identityOrder, initWasmBackend, silentLogger, type ImageSet, type Rng } from '@fermix/core';
import { createImageFolderSource, createSyntheticSource } from '@fermix/data';

/** The FER2013 sample beside the repository: /work/shared/data/fer2013-mini for /work/main. */
export const DEFAULT_DATA_ROOT = fileURLToPath(new URL('../../../../shared/data/fer2013-mini', import.meta.url));

export interface MainOptions {
  /** Optimisation steps (batches) to run. */
  steps?: number;
  batchSize?: number;
  seed?: number;
  backend?: 'wasm' | 'cpu';
  /** An image folder `<root>/{train,test}/<class>/*.png`; `synthetic` (or a missing folder) draws synthetic faces. */
  data?: string;
  imageSize?: number;
  /** Synthetic data only: images per class in each split. */
  trainPerClass?: number;
  testPerClass?: number;
  /** Where progress lines go (default console.log); pass `() => {}` to silence. */
  log?: (line: string) => void;
  /** Log every this many steps (default: about ten lines per run). */
  logEvery?: number;
}

export type Resolved = Required<Omit<MainOptions, 'logEvery'>> & { logEvery: number };

export function withDefaults(options: MainOptions): Resolved {
  const steps = options.steps ?? 300;
  return {
    steps,
    batchSize: options.batchSize ?? 32,
    seed: options.seed ?? 1,
    backend: options.backend ?? 'wasm',
    data: options.data ?? DEFAULT_DATA_ROOT,
    imageSize: options.imageSize ?? 48,
    trainPerClass: options.trainPerClass ?? 100,
    testPerClass: options.testPerClass ?? 20,
    log: options.log ?? ((line: string) => console.log(line)),
    logEvery: options.logEvery ?? Math.max(1, Math.round(steps / 10)),
  };
}

/** wasm (with fermix's training kernels, which tfjs-backend-wasm lacks) or the pure-JS cpu backend. */
export async function useBackend(name: 'wasm' | 'cpu'): Promise<void> {
  if (name === 'wasm') {
    await initWasmBackend();
  } else {
    await import('@tensorflow/tfjs-backend-cpu');
    await tf.setBackend('cpu');
  }
  await tf.ready();
}

export interface Data {
  train: ImageSet;
  test: ImageSet;
  description: string;
}

/** The image folder if it exists, else fermix's synthetic faces (7 classes, deterministic per seed). */
export async function loadData(o: Pick<Resolved, 'data' | 'imageSize' | 'seed' | 'trainPerClass' | 'testPerClass'>): Promise<Data> {
  const useFolder = o.data !== 'synthetic' && existsSync(o.data);
  const source = useFolder
    ? createImageFolderSource({ root: o.data })
    : createSyntheticSource({ seed: o.seed, trainPerClass: o.trainPerClass, testPerClass: o.testPerClass });
  const load = { imageSize: o.imageSize, logger: silentLogger };
  const [train, test] = [await source.load('train', load), await source.load('test', load)];
  const note = !useFolder && o.data !== 'synthetic' ? ` (${o.data} not found)` : '';
  return { train, test, description: `${source.description}${note}: ${train.count} train, ${test.count} test images` };
}

/** A small conv net ending in a softmax, as you would write it in tfjs-layers. */
export function buildModel(imageSize: number, numClasses: number): tfl.LayersModel {
  const model = tfl.sequential();
  model.add(tfl.layers.conv2d({ inputShape: [imageSize, imageSize, 3], filters: 16, kernelSize: 3, padding: 'same', activation: 'relu' }));
  model.add(tfl.layers.maxPooling2d({ poolSize: 2 }));
  model.add(tfl.layers.conv2d({ filters: 32, kernelSize: 3, padding: 'same', activation: 'relu' }));
  model.add(tfl.layers.maxPooling2d({ poolSize: 2 }));
  model.add(tfl.layers.conv2d({ filters: 64, kernelSize: 3, padding: 'same', activation: 'relu' }));
  model.add(tfl.layers.globalAveragePooling2d({}));
  model.add(tfl.layers.dense({ units: numClasses, activation: 'softmax' }));
  return model;
}

/**
 * Endless shuffled batches: x [B, S, S, 3] in [0, 1] and one-hot y [B, K], a new order every pass over
 * the set. The caller disposes each batch's tensors.
 */
export function* batches(set: ImageSet, batchSize: number, rng: Rng): Generator<{ x: tf.Tensor4D; y: tf.Tensor2D }> {
  if (set.count < batchSize) throw new Error(`batch size ${batchSize} is larger than the training set (${set.count} images)`);
  for (;;) {
    const order = rng.permutation(set.count);
    // A last partial batch is dropped: every batch has batchSize samples.
    for (let start = 0; start + batchSize <= set.count; start += batchSize) {
      yield batchTensors(gatherBatch(set, order, start, start + batchSize), set.size, set.classes.length);
    }
  }
}

/** Share of the set the model classifies right (inference mode). */
export function accuracy(model: tfl.LayersModel, set: ImageSet, batchSize = 128): number {
  const order = identityOrder(set.count);
  let correct = 0;
  for (let start = 0; start < set.count; start += batchSize) {
    const batch = gatherBatch(set, order, start, Math.min(set.count, start + batchSize));
    const hits = tf.tidy(() => {
      const { x, y } = batchTensors(batch, set.size, set.classes.length);
      const predicted = tf.argMax(model.predict(x) as tf.Tensor2D, 1);
      return tf.sum(tf.cast(tf.equal(predicted, tf.argMax(y, 1)), 'int32'));
    });
    correct += hits.dataSync()[0];
    hits.dispose();
  }
  return correct / set.count;
}

/** `--steps 100 --backend cpu --data synthetic --image-size 32 --batch-size 16 --seed 2`. */
export function cliOptions(argv = process.argv.slice(2)): MainOptions {
  const { values } = parseArgs({
    // `pnpm run <script> -- --steps 10` passes the `--` on.
    args: argv[0] === '--' ? argv.slice(1) : argv,
    options: {
      steps: { type: 'string' },
      'batch-size': { type: 'string' },
      seed: { type: 'string' },
      backend: { type: 'string' },
      data: { type: 'string' },
      'image-size': { type: 'string' },
    },
  });
  const int = (v: string | undefined) => (v === undefined ? undefined : Number.parseInt(v, 10));
  if (values.backend !== undefined && values.backend !== 'wasm' && values.backend !== 'cpu') {
    throw new Error(`--backend must be wasm or cpu, got ${values.backend}`);
  }
  return {
    steps: int(values.steps),
    batchSize: int(values['batch-size']),
    seed: int(values.seed),
    backend: values.backend as 'wasm' | 'cpu' | undefined,
    data: values.data === undefined || values.data === 'synthetic' ? values.data : path.resolve(values.data),
    imageSize: int(values['image-size']),
  };
}

/** True when the module at `url` is the script node/tsx was started with. */
export function isMain(url: string): boolean {
  return process.argv[1] !== undefined && url === pathToFileURL(path.resolve(process.argv[1])).href;
}
