/**
 * Host arrays a training step builds in JavaScript and hands to the backend (engine.makeTensor of
 * at least 4096 values: tf.ones and friends; tfjs-node copies each to the GPU), with tfjs-core's
 * gradients and with fermix's, one step each on the wasm backend (docs/gpu.md quotes it):
 *
 *   node_modules/.bin/tsx --conditions=fermix-source packages/cli/scripts/host-arrays.ts [backbone=resnet50] [size=100] [batch=2]
 */
import * as tf from '@tensorflow/tfjs-core';
import { registerBackbones } from '@fermix/backbones';
import { BackboneRegistry, basePlan, buildModel, createMemoryLogger, createTrainStep, initializeKernels, Rng, selectBackend } from '@fermix/core';

const [model = 'resnet50', sizeArg = '100', batchArg = '2'] = process.argv.slice(2);
const size = Number(sizeArg);
const batch = Number(batchArg);
// tfjs-core's own gradients, as tfjs-layers' import registered them (before selectBackend replaces them).
const core = ['Mean', 'Sum', 'Sub', 'FusedBatchNorm'].map((k) => tf.getGradient(k)!);
await selectBackend('wasm', createMemoryLogger());
const fermix = ['Mean', 'Sum', 'Sub', 'FusedBatchNorm'].map((k) => tf.getGradient(k)!);
const net = buildModel(basePlan({ backbone: model, imageSize: size, numClasses: 7 }), registerBackbones(new BackboneRegistry()));
initializeKernels(net, new Rng(1));
const step = createTrainStep({ model: net, optimizer: tf.train.sgd(1e-3) });
const rng = new Rng(2);
const x = tf.tensor4d(Float32Array.from({ length: batch * size * size * 3 }, () => rng.uniform()), [batch, size, size, 3]);
const y = tf.tidy(() => tf.cast(tf.oneHot(tf.tensor1d(Array.from({ length: batch }, (_, i) => i % 7), 'int32'), 7), 'float32')) as tf.Tensor2D;
const measure = (label: string, grads: tf.GradConfig[]) => {
  for (const g of grads) tf.registerGradient(g);
  const engine = tf.engine();
  const original = engine.makeTensor.bind(engine);
  let count = 0;
  let bytes = 0;
  engine.makeTensor = ((values: ArrayLike<number>, shape: number[], dtype: tf.DataType, backend?: tf.KernelBackend) => {
    if (values.length >= 4096) {
      count++;
      bytes += values.length * 4;
    }
    return original(values as never, shape, dtype, backend);
  }) as typeof engine.makeTensor;
  const t0 = performance.now();
  step({ x, y });
  const ms = performance.now() - t0;
  engine.makeTensor = original;
  console.log(`${label}: ${count} host arrays of >= 4096 values, ${(bytes / 2 ** 20).toFixed(1)} MiB, step ${ms.toFixed(0)} ms (${model} ${size}x${size}, batch ${batch})`);
  return bytes;
};
step({ x, y }); // first step: optimizer slots, kernel set-up
const a = measure("tfjs-core's gradients", core);
const b = measure("fermix's gradients", fermix);
console.log(`per step at batch 32 (activations scale with the batch): ${((a / batch) * 32 / 2 ** 20).toFixed(0)} MiB with tfjs-core's gradients, ${((b / batch) * 32 / 2 ** 20).toFixed(0)} MiB with fermix's`);
