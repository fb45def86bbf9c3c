/**
 * Training step time of every backbone on the wasm backend (what fermix trains on without
 * tfjs-node): forward + backward + Adam through `createTrainStep`, 100x100 RGB input, 7 classes.
 * Then ResNet50 at batch 32 as micro-batches of 16 (`accumulatedGradients`), which does not fit in
 * the wasm heap (4 GiB) in one pass.
 *
 *   npx tsx --conditions=fermix-source packages/backbones/bench/step-times.ts [--batch 16] [--steps 3]
 *     [--warmup 1] [--size 100] [--only resnet50,vgg16] [--micro 32/16] [--no-micro]
 *
 * Reported per backbone: parameters, median step time over `steps` timed steps after `warmup`
 * untimed ones (the first step also creates Adam's slots), images per second, and the wasm heap
 * size afterwards (the heap only grows, so it is the high-water mark of everything run so far).
 */
import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import { BackboneRegistry, basePlan, buildModel, createTrainStep, initializeKernels, initWasmBackend, Rng, weightedCrossEntropy } from '@fermix/core';
import { registerBackbones } from '../src/index.js';
import { accumulatedGradients } from '@fermix/core';

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : fallback;
}

const BATCH = Number(arg('batch', '16'));
const STEPS = Number(arg('steps', '3'));
const WARMUP = Number(arg('warmup', '1'));
const SIZE = Number(arg('size', '100'));
const CLASSES = 7;
const [MICRO_BATCH_TOTAL, MICRO_BATCH] = arg('micro', '32/16').split('/').map(Number);
const registry = registerBackbones(new BackboneRegistry());
const ONLY = arg('only', registry.names().join(',')).split(',');

interface Row {
  backbone: string;
  batch: string;
  params: number;
  stepMs: number;
  imagesPerSecond: number;
  heapMiB: number;
}

function heapMiB(): number {
  const wasm = (tf.backend() as unknown as { wasm?: { HEAPU8?: Uint8Array } }).wasm;
  return wasm?.HEAPU8 ? Math.round(wasm.HEAPU8.length / 2 ** 20) : NaN;
}

function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

function batchOf(n: number, seed: number): { x: tf.Tensor4D; y: tf.Tensor2D } {
  const rng = new Rng(seed);
  const x = tf.tensor4d(Float32Array.from({ length: n * SIZE * SIZE * 3 }, () => rng.uniform()), [n, SIZE, SIZE, 3]);
  const y = tf.tidy(() => tf.cast(tf.oneHot(tf.tensor1d(Array.from({ length: n }, (_, i) => i % CLASSES), 'int32'), CLASSES), 'float32') as tf.Tensor2D);
  return { x, y };
}

function build(name: string): tfl.LayersModel {
  const model = buildModel(basePlan({ backbone: name, imageSize: SIZE, numClasses: CLASSES }), registry);
  initializeKernels(model, new Rng(1));
  return model;
}

function time(run: () => void): number[] {
  for (let i = 0; i < WARMUP; i++) run();
  const times: number[] = [];
  for (let i = 0; i < STEPS; i++) {
    const t0 = performance.now();
    run();
    times.push(performance.now() - t0);
  }
  return times;
}

function report(row: Row): Row {
  console.log(
    `${row.backbone.padEnd(15)} batch ${row.batch.padEnd(8)} ${row.params.toLocaleString('en-US').padStart(11)} params  ` +
      `${(row.stepMs / 1000).toFixed(2).padStart(6)} s/step  ${row.imagesPerSecond.toFixed(2).padStart(6)} images/s  heap ${row.heapMiB} MiB`,
  );
  return row;
}

/** Plain steps: one forward + backward of the whole batch, then Adam. */
function benchPlain(name: string): Row {
  const model = build(name);
  const optimizer = tf.train.adam(1e-3);
  const step = createTrainStep({ model, optimizer });
  const { x, y } = batchOf(BATCH, 2);
  const times = time(() => {
    const r = step({ x, y });
    if (!Number.isFinite(r.loss)) throw new Error(`${name}: loss ${r.loss}`);
  });
  const row = { backbone: name, batch: String(BATCH), params: model.countParams(), stepMs: median(times), imagesPerSecond: (BATCH * 1000) / median(times), heapMiB: heapMiB() };
  tf.dispose([x, y]);
  optimizer.dispose();
  model.dispose();
  return report(row);
}

/** Micro-batched steps: gradients accumulated over micro-batches, one Adam update per batch. */
function benchMicro(name: string, batch: number, micro: number): Row {
  const model = build(name);
  const optimizer = tf.train.adam(1e-3);
  const { x, y } = batchOf(batch, 3);
  const times = time(() => {
    const loss = tf.tidy(() => {
      const r = accumulatedGradients({
        model,
        views: [{ x, y, weight: 1 }],
        microBatch: micro,
        loss: (probs, views) => weightedCrossEntropy(views[0].y, probs[0], views[0].weight),
      });
      optimizer.applyGradients(r.grads);
      return r.loss;
    });
    if (!Number.isFinite(loss)) throw new Error(`${name}: loss ${loss}`);
  });
  const row = { backbone: name, batch: `${batch}/${micro}`, params: model.countParams(), stepMs: median(times), imagesPerSecond: (batch * 1000) / median(times), heapMiB: heapMiB() };
  tf.dispose([x, y]);
  optimizer.dispose();
  model.dispose();
  return report(row);
}

await initWasmBackend();
console.log(`wasm backend, ${SIZE}x${SIZE}x3, ${CLASSES} classes, Adam; median of ${STEPS} steps after ${WARMUP} warm-up\n`);
const rows: Row[] = [];
for (const name of registry.names().filter((n) => ONLY.includes(n))) rows.push(benchPlain(name));
if (!process.argv.includes('--no-micro') && ONLY.includes('resnet50')) rows.push(benchMicro('resnet50', MICRO_BATCH_TOTAL, MICRO_BATCH));

console.log('\n| backbone | batch | params | s/step | images/s |\n|---|---|---:|---:|---:|');
for (const r of rows) console.log(`| ${r.backbone} | ${r.batch} | ${r.params.toLocaleString('en-US')} | ${(r.stepMs / 1000).toFixed(2)} | ${r.imagesPerSecond.toFixed(2)} |`);
