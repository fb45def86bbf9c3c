import * as tf from '@tensorflow/tfjs-core';
import { createMemoryLogger, selectBackend } from '@fermix/core';
await selectBackend('wasm', createMemoryLogger(), { threads: 2 });
const x = tf.randomUniform([32, 48, 48, 32]) as tf.Tensor4D;
const g = tf.grad((v: tf.Tensor4D) => tf.sum(tf.maxPool(v, 2, 2, 'valid')));
for (let r = 0; r < 4; r++) {
  const info = await tf.profile(() => { tf.tidy(() => { g(x).dataSync(); }); });
  if (r) console.log(info.kernels.map((k) => `${k.name} ${(k.kernelTimeMs as number).toFixed(2)}`).join(', '));
}
process.exit(0);
