/**
 * Kernel times of the convolutions in ResNet-18's and the small CNN's layers on the wasm backend
 * (batch 32; a development aid): forward with a filter seen before (XNNPACK operator cached) and a
 * new one (packed again, as every training step does), the input gradient and the filter gradient.
 *   npx tsx --conditions=fermix-source packages/cli/scripts/conv-costs.ts <threads>
 */
import * as tf from '@tensorflow/tfjs-core';
import { createMemoryLogger, selectBackend } from '@fermix/core';

await selectBackend('wasm', createMemoryLogger(), { threads: Number(process.argv[2] ?? 1) });
// [input height/width, in channels, out channels, stride, kernel]
const layers: [number, number, number, number, number][] = [
  [16, 64, 64, 1, 3], [16, 64, 128, 2, 3], [8, 128, 128, 1, 3], [8, 128, 256, 2, 3], [4, 256, 256, 1, 3],
  [4, 256, 512, 2, 3], [2, 512, 512, 1, 3], [16, 64, 128, 2, 1], [48, 32, 32, 1, 3], [12, 64, 128, 1, 3],
];
const med = (a: number[]) => [...a].sort((p, q) => p - q)[a.length >> 1];
async function kernelMs(fn: () => void, name: string): Promise<number> {
  const p = await tf.profile(fn);
  return p.kernels.filter((k) => k.name === name).reduce((a, k) => a + (k.kernelTimeMs as number), 0);
}
for (const [hw, ci, co, s, k] of layers) {
  const x = tf.randomUniform([32, hw, hw, ci]);
  const w = tf.randomUniform([k, k, ci, co]);
  const oh = Math.ceil(hw / s);
  const dy = tf.randomUniform([32, oh, oh, co]);
  const t: Record<string, number[]> = { cached: [], fresh: [], input: [], filter: [] };
  for (let i = 0; i < 7; i++) {
    t.cached.push(await kernelMs(() => tf.tidy(() => { tf.conv2d(x, w, s, 'same'); }), 'Conv2D'));
    const w2 = tf.add(w, 0);
    t.fresh.push(await kernelMs(() => tf.tidy(() => { tf.conv2d(x, w2 as tf.Tensor4D, s, 'same'); }), 'Conv2D'));
    t.input.push(await kernelMs(() => tf.tidy(() => { tf.conv2dTranspose(dy as tf.Tensor4D, w2 as tf.Tensor4D, [32, hw, hw, ci], s, 'same'); }), 'Conv2DBackpropInput'));
    w2.dispose();
    const dy2 = tf.add(dy, 0);
    t.filter.push(await kernelMs(() => tf.tidy(() => { tf.grad((ww: tf.Tensor) => tf.conv2d(x as tf.Tensor4D, ww as tf.Tensor4D, s, 'same'))(w, dy2); }), 'Conv2DBackpropFilter'));
    dy2.dispose();
  }
  const gflop = (2 * 32 * oh * oh * ci * co * k * k) / 1e9;
  console.log(`${hw}x${hw} ${ci}->${co} s${s} k${k} ${gflop.toFixed(2)} GFLOP, filter ${((ci * co * k * k * 4) / 1e6).toFixed(2)} MB: conv ${med(t.cached).toFixed(1)} (new filter ${med(t.fresh).toFixed(1)}), input grad ${med(t.input).toFixed(1)}, filter grad ${med(t.filter).toFixed(1)} ms`);
  tf.dispose([x, w, dy]);
}
process.exit(0);
