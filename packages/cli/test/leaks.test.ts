/**
 * No leaks over a long run: the "tensors alive after step 1000 minus after step 10 is 0;
 * wasm heap flat after warm-up", on wasm, with every plugin at once (mixaugment, flip, dropout).
 */
import * as tf from '@tensorflow/tfjs-core';
import { registerBackbones } from '@fermix/backbones';
import { applyModelTransforms, BackboneRegistry, basePlan, buildModel, Container, createTrainStep, initWasmBackend, Rng, silentLogger } from '@fermix/core';
import { dropout } from '@fermix/plugin-dropout';
import { flip } from '@fermix/plugin-flip';
import { mixaugment } from '@fermix/plugin-mixaugment';
import { beforeAll, describe, expect, it } from 'vitest';

beforeAll(async () => {
  await initWasmBackend();
});

function wasmHeapBytes(): number {
  return (tf.backend() as unknown as { wasm: { HEAPU8: Uint8Array } }).wasm.HEAPU8.length;
}

describe('1000 training steps on wasm', () => {
  it('leave as many tensors alive as 10 steps did, and the wasm heap does not grow after warm-up', () => {
    expect(tf.getBackend()).toBe('wasm');
    const plugins = [mixaugment({ alpha: 0.2 }), flip(), dropout({ rate: 0.5 })];
    const rng = new Rng(4);
    const container = new Container();
    const plan = applyModelTransforms(basePlan({ backbone: 'small-cnn', imageSize: 16, numClasses: 3, backboneOptions: { widths: [4], convsPerStage: 1 } }), plugins, {
      logger: silentLogger,
      container,
      rng,
    });
    const model = buildModel(plan, registerBackbones(new BackboneRegistry()));
    const optimizer = tf.train.adam(1e-3);
    const step = createTrainStep({ model, optimizer, plugins, rng, container });
    const x = tf.randomUniform([8, 16, 16, 3], 0, 1, 'float32', 1) as tf.Tensor4D;
    const y = tf.tidy(() => tf.cast(tf.oneHot(tf.tensor1d([0, 1, 2, 0, 1, 2, 0, 1], 'int32'), 3), 'float32')) as tf.Tensor2D;
    let after10 = 0;
    let heapAfter10 = 0;
    for (let i = 1; i <= 1000; i++) {
      const result = step({ x, y });
      expect(Number.isFinite(result.loss)).toBe(true);
      if (i === 10) {
        after10 = tf.memory().numTensors;
        heapAfter10 = wasmHeapBytes();
      }
    }
    expect(tf.memory().numTensors - after10).toBe(0);
    expect(wasmHeapBytes()).toBe(heapAfter10);
    tf.dispose([x, y]);
    model.dispose();
    optimizer.dispose();
  });
});
