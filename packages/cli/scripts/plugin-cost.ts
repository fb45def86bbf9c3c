/**
 * Each augmentation plugin's transformBatch alone (read back), per kernel, on a small-CNN-sized batch
 * [32, 48, 48, 3] on the wasm backend: a development aid to see where a plugin's cost goes.
 *   npx tsx --conditions=fermix-source packages/cli/scripts/plugin-cost.ts [threads] [rounds] [plugin...]
 */
import * as tf from '@tensorflow/tfjs-core';
import { createMemoryLogger, Rng, selectBackend, type FermixPlugin } from '@fermix/core';
import { crop } from '@fermix/plugin-crop';
import { color } from '@fermix/plugin-color';
import { randaugment } from '@fermix/plugin-randaugment';
import { erasing } from '@fermix/plugin-erasing';
import { cutmix } from '@fermix/plugin-cutmix';
import { flip } from '@fermix/plugin-flip';

const threads = Number(process.argv[2] ?? 2);
const rounds = Number(process.argv[3] ?? 15);
const only = process.argv.slice(4);
await selectBackend('wasm', createMemoryLogger(), { threads });
const plugins: Record<string, FermixPlugin> = {
  flip: flip({}),
  cutmix: cutmix({ alpha: 1 }),
  crop: crop({ resized: { scale: [0.8, 1] }, affine: { degrees: 10, translate: [0.05, 0.05] } }),
  color: color({ brightness: 0.4, contrast: 0.4, saturation: 0.4, hue: 0.1, grayscale: 0.1 }),
  erasing: erasing({}),
  randaugment: randaugment({ ops: 2, magnitude: 9 }),
};
const x = tf.randomUniform([32, 48, 48, 3]) as tf.Tensor4D;
const y = tf.cast(tf.oneHot(tf.tensor1d(Array.from({ length: 32 }, (_, i) => i % 7), 'int32'), 7), 'float32');
const rng = new Rng(7);
const ctx = { step: 0, epoch: 0, rng, logger: createMemoryLogger(), container: undefined as never, record() {} };
const run = (p: FermixPlugin) => tf.tidy(() => {
  const out = p.transformBatch!({ views: { real: { x, y, weight: 1 } as never } }, ctx as never);
  return Object.values(out.views).map((v) => (v as { x: tf.Tensor }).x.dataSync()[0]);
});
const names = only.length ? only : Object.keys(plugins);
for (const n of names) for (let i = 0; i < 3; i++) run(plugins[n]);
const walls = new Map<string, number[]>();
const kernels = new Map<string, Map<string, number[]>>();
for (let r = 0; r < rounds; r++) {
  for (const n of names) {
    const t0 = performance.now();
    run(plugins[n]);
    walls.set(n, [...(walls.get(n) ?? []), performance.now() - t0]);
  }
}
for (const n of names) {
  const per = new Map<string, number[]>();
  for (let r = 0; r < 5; r++) {
    const info = await tf.profile(() => { run(plugins[n]); });
    const sums = new Map<string, number>();
    for (const k of info.kernels) if (!k.name.endsWith('__op')) sums.set(k.name, (sums.get(k.name) ?? 0) + (k.kernelTimeMs as number));
    for (const [k, v] of sums) per.set(k, [...(per.get(k) ?? []), v]);
  }
  kernels.set(n, per);
}
const med = (a: number[]) => [...a].sort((p, q) => p - q)[Math.floor(a.length / 2)];
for (const n of names) {
  const total = [...kernels.get(n)!.values()].reduce((a, v) => a + med(v), 0);
  const top = [...kernels.get(n)!.entries()].map(([k, v]) => [k, med(v)] as const).sort((a, b) => b[1] - a[1]).slice(0, 8);
  console.log(`${n.padEnd(12)} ${med(walls.get(n)!).toFixed(1)} ms wall, ${total.toFixed(1)} ms in ${kernels.get(n)!.size} kinds of kernel | ${top.map(([k, v]) => `${k} ${v.toFixed(1)}`).join(', ')}`);
}
process.exit(0);
