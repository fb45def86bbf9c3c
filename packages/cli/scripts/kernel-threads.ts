/**
 * Per-kernel time of one small-CNN training step on the wasm backend at a fixed thread count (a
 * development aid for thread scaling: run once per thread count and compare).
 *   npx tsx --conditions=fermix-source packages/cli/scripts/kernel-threads.ts <threads> [steps] [model] [size]
 */
import * as tf from '@tensorflow/tfjs-core';
import { registerBackbones } from '@fermix/backbones';
import { BackboneRegistry, basePlan, buildModel, createMemoryLogger, createOptimizer, createTrainStep, initializeKernels, Rng, selectBackend } from '@fermix/core';

const threads = Number(process.argv[2] ?? 1);
const steps = Number(process.argv[3] ?? 5);
const modelName = process.argv[4] ?? 'small-cnn';
const size = Number(process.argv[5] ?? 48);
await selectBackend('wasm', createMemoryLogger(), { threads });
const registry = registerBackbones(new BackboneRegistry());
const net = buildModel(basePlan({ backbone: modelName, imageSize: size, numClasses: 7 }), registry);
initializeKernels(net, new Rng(1));
const optimizer = createOptimizer({ name: 'adam', lr: 1e-3 });
const step = createTrainStep({ model: net, optimizer });
const x = tf.randomUniform([32, size, size, 3]);
const y = tf.cast(tf.oneHot(tf.tensor1d(Array.from({ length: 32 }, (_, i) => i % 7), 'int32'), 7), 'float32');
for (let i = 0; i < 3; i++) step({ x, y });
const per = new Map<string, number[]>();
const walls: number[] = [];
for (let i = 0; i < steps; i++) {
  const t0 = performance.now();
  const info = await tf.profile(() => { step({ x, y }); });
  walls.push(performance.now() - t0);
  const sums = new Map<string, number>();
  for (const k of info.kernels) if (!k.name.endsWith('__op')) sums.set(k.name, (sums.get(k.name) ?? 0) + (k.kernelTimeMs as number));
  for (const [k, v] of sums) per.set(k, [...(per.get(k) ?? []), v]);
}
const med = (a: number[]) => [...a].sort((p, q) => p - q)[Math.floor(a.length / 2)];
const out: Record<string, number> = { __wall: med(walls) };
for (const [k, v] of per) out[k] = +med(v).toFixed(2);
console.log(JSON.stringify({ threads, model: modelName, kernels: out }));
process.exit(0);
