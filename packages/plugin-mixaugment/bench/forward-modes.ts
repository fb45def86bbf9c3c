/**
 * Step time of MixAugment's forward modes against vanilla training and a naive three-pass version,
 * side by side in one process on the wasm backend (what fermix trains on without tfjs-node).
 *
 *   npx tsx --conditions=fermix-source packages/plugin-mixaugment/bench/forward-modes.ts [--rounds 15] [--batch 32]
 *     [--only vanilla,joint,separate]   (a subset of the variants; vanilla is always timed, for the ratios)
 *
 * The network: 3 stages of 3x3 conv (no bias) + batch norm + ReLU + 2x2 max pooling, widths 32/64/128,
 * 48x48x3 input, global average pooling, dense softmax over 7 classes; Adam. Each variant has its own
 * copy of the model; the variants run interleaved (one step each per round) so drift in machine load
 * hits all of them alike. Reported: median step time over the rounds after the warm-up, and ratios.
 *
 * Variants:
 *   vanilla          the real batch only (B samples, one pass)
 *   joint            mixaugment, real + virtual in one pass of 2B
 *   separate         mixaugment, real and virtual in two passes of B
 *   naive-3pass      the paper's loss written out: x_i, x_j = x[perm], x~ in three passes of B
 *   naive-3B         the same three views in one pass of 3B
 */
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { createTrainStep, initWasmBackend, initializeKernels, Rng, type FermixPlugin, type TrainStep } from '@fermix/core';
import { drawMix, drawnValues, mixBatch } from '@fermix/plugin-mixup';
import { mixaugment } from '../src/index.js';

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : fallback;
}

const ROUNDS = arg('rounds', 15);
const WARMUP = arg('warmup', 3);
const BATCH = arg('batch', 32);
const SIZE = 48;
const CLASSES = 7;

function buildNet(seed: number): tfl.LayersModel {
  const input = tfl.input({ shape: [SIZE, SIZE, 3] });
  let x: tfl.SymbolicTensor = input;
  for (const filters of [32, 64, 128]) {
    x = tfl.layers.conv2d({ filters, kernelSize: 3, padding: 'same', useBias: false }).apply(x) as tfl.SymbolicTensor;
    x = tfl.layers.batchNormalization({ momentum: 0.9 }).apply(x) as tfl.SymbolicTensor;
    x = tfl.layers.activation({ activation: 'relu' }).apply(x) as tfl.SymbolicTensor;
    x = tfl.layers.maxPooling2d({ poolSize: 2, strides: 2 }).apply(x) as tfl.SymbolicTensor;
  }
  x = tfl.layers.globalAveragePooling2d({}).apply(x) as tfl.SymbolicTensor;
  const out = tfl.layers.dense({ units: CLASSES, activation: 'softmax' }).apply(x) as tfl.SymbolicTensor;
  const model = tfl.model({ inputs: input, outputs: out });
  initializeKernels(model, new Rng(seed));
  return model;
}

/** The paper's three views forwarded as they are written: x_i, x_j = x[perm] and x~, weight 1 each. */
function naiveThreeViews(alpha: number, onePass: boolean): FermixPlugin {
  return {
    name: 'naive',
    apiVersion: 1,
    transformBatch(batch, ctx) {
      const real = batch.views.real;
      const draw = drawMix(real.x.shape[0], { alpha }, ctx.rng);
      ctx.record('lam', drawnValues(draw).lam);
      const perm = tf.tensor1d(draw.perm, 'int32');
      const mixed = mixBatch(real.x, real.y, draw.lam, draw.perm);
      const group = (g: string) => (onePass ? {} : { group: g });
      return {
        views: {
          real: { ...real, ...group('i') },
          pair: { x: tf.gather(real.x, perm), y: tf.gather(real.y, perm), weight: 1, ...group('j') },
          virtual: { x: mixed.x, y: mixed.y, weight: 1, ...group('v') },
        },
      };
    },
  };
}

function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

async function main(): Promise<void> {
  await initWasmBackend();
  const alpha = 0.1;
  const variants: { name: string; samples: string; step: TrainStep }[] = [
    { name: 'vanilla', samples: '1 x B', step: createTrainStep({ model: buildNet(1), optimizer: tf.train.adam(1e-3), seed: 1 }) },
    { name: 'joint', samples: '1 x 2B', step: createTrainStep({ model: buildNet(1), optimizer: tf.train.adam(1e-3), plugins: [mixaugment({ alpha, forward: 'joint' })], seed: 1 }) },
    { name: 'separate', samples: '2 x B', step: createTrainStep({ model: buildNet(1), optimizer: tf.train.adam(1e-3), plugins: [mixaugment({ alpha, forward: 'separate' })], seed: 1 }) },
    { name: 'naive-3pass', samples: '3 x B', step: createTrainStep({ model: buildNet(1), optimizer: tf.train.adam(1e-3), plugins: [naiveThreeViews(alpha, false)], seed: 1 }) },
    { name: 'naive-3B', samples: '1 x 3B', step: createTrainStep({ model: buildNet(1), optimizer: tf.train.adam(1e-3), plugins: [naiveThreeViews(alpha, true)], seed: 1 }) },
  ];
  const only = process.argv.includes('--only') ? new Set(['vanilla', ...process.argv[process.argv.indexOf('--only') + 1].split(',')]) : undefined;
  if (only) variants.splice(0, variants.length, ...variants.filter((v) => only.has(v.name)));
  const rng = new Rng(7);
  const x = tf.tensor4d(Float32Array.from({ length: BATCH * SIZE * SIZE * 3 }, () => rng.uniform()), [BATCH, SIZE, SIZE, 3]);
  const y = tf.tidy(() => tf.cast(tf.oneHot(tf.tensor1d(Array.from({ length: BATCH }, (_, i) => i % CLASSES), 'int32'), CLASSES), 'float32') as tf.Tensor2D);

  console.log(`backend ${tf.getBackend()}, batch ${BATCH}, ${SIZE}x${SIZE}x3, widths 32/64/128 with batch norm, ${WARMUP} warm-up + ${ROUNDS} timed rounds, node ${process.version}`);
  const times = new Map<string, number[]>(variants.map((v) => [v.name, []]));
  const tensorsAfterWarmup = new Map<string, number>();
  for (let round = 0; round < WARMUP + ROUNDS; round++) {
    // Rotate the order each round so no variant always runs first.
    for (let k = 0; k < variants.length; k++) {
      const v = variants[(round + k) % variants.length];
      const t0 = performance.now();
      v.step({ x, y });
      const ms = performance.now() - t0;
      if (round >= WARMUP) times.get(v.name)!.push(ms);
    }
    if (round === WARMUP - 1) tensorsAfterWarmup.set('all', tf.memory().numTensors);
    process.stderr.write(`round ${round + 1}/${WARMUP + ROUNDS}\r`);
  }
  process.stderr.write('\n');
  const leaked = tf.memory().numTensors - tensorsAfterWarmup.get('all')!;

  const med = new Map(variants.map((v) => [v.name, median(times.get(v.name)!)]));
  const vanilla = med.get('vanilla')!;
  const rows = variants.map((v) => {
    const t = times.get(v.name)!;
    return {
      variant: v.name,
      forward: v.samples,
      'median ms': Math.round(med.get(v.name)!),
      'min ms': Math.round(Math.min(...t)),
      'max ms': Math.round(Math.max(...t)),
      'x vanilla': +(med.get(v.name)! / vanilla).toFixed(2),
    };
  });
  console.table(rows);
  const joint = med.get('joint')!;
  const separate = med.get('separate')!;
  // Paired per round: the two steps ran seconds apart, so a load spike on the machine hits both.
  const paired = (a: string, b: string) => {
    const ta = times.get(a)!;
    const tb = times.get(b)!;
    const ratios = ta.map((t, i) => t / tb[i]);
    return { median: median(ratios), faster: ratios.filter((r) => r < 1).length, rounds: ratios.length };
  };
  if (med.has('joint') && med.has('separate')) {
    const sj = paired('separate', 'joint');
    console.log(`separate / joint: ratio of medians ${(separate / joint).toFixed(3)}, median of per-round ratios ${sj.median.toFixed(3)}, separate faster in ${sj.faster}/${sj.rounds} rounds`);
  }
  for (const [a, b] of [['joint', 'vanilla'], ['separate', 'vanilla'], ['naive-3pass', 'separate'], ['naive-3pass', 'joint'], ['naive-3B', 'joint']]) {
    if (!med.has(a) || !med.has(b)) continue;
    console.log(`${a} / ${b}: ratio of medians ${(med.get(a)! / med.get(b)!).toFixed(3)}, median of per-round ratios ${paired(a, b).median.toFixed(3)}`);
  }
  console.log(`tensors leaked over the timed rounds: ${leaked}`);
  tf.dispose([x, y]);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
