/**
 * The tensor methods face-api calls (`t.as3D(...)`, `t.div(255)`, ...) are tfjs "chained ops": the
 * umbrella package `@tensorflow/tfjs` adds them to the Tensor class when it is imported; plain
 * `@tensorflow/tfjs-core`, which fermix uses, does not. This adds the ones face-api's source calls
 * as methods, each the same one-liner as tfjs-core's own `public/chained_ops/<name>.js`, and only where
 * the method is absent (so a host that imports @tensorflow/tfjs keeps tfjs's own). Adding a method
 * changes nothing for code that does not call it.
 */
import * as tf from '@tensorflow/tfjs-core';

type Method = (this: tf.Tensor, ...args: never[]) => tf.Tensor;

const CHAINED_OPS: Record<string, Method> = {
  add(this: tf.Tensor, b: tf.Tensor | number) {
    return tf.add(this, b);
  },
  sub(this: tf.Tensor, b: tf.Tensor | number) {
    return tf.sub(this, b);
  },
  mul(this: tf.Tensor, b: tf.Tensor | number) {
    return tf.mul(this, b);
  },
  div(this: tf.Tensor, b: tf.Tensor | number) {
    return tf.div(this, b);
  },
  mean(this: tf.Tensor, axis?: number | number[], keepDims?: boolean) {
    return tf.mean(this, axis, keepDims);
  },
  reshape(this: tf.Tensor, shape: number[]) {
    return tf.reshape(this, shape);
  },
  expandDims(this: tf.Tensor, axis = 0) {
    return tf.expandDims(this, axis);
  },
  toInt(this: tf.Tensor) {
    return tf.cast(this, 'int32');
  },
  as1D(this: tf.Tensor) {
    return tf.reshape(this, [this.size]);
  },
  as2D(this: tf.Tensor, rows: number, columns: number) {
    return tf.reshape(this, [rows, columns]);
  },
  as3D(this: tf.Tensor, rows: number, columns: number, depth: number) {
    return tf.reshape(this, [rows, columns, depth]);
  },
  as4D(this: tf.Tensor, rows: number, columns: number, depth: number, depth2: number) {
    return tf.reshape(this, [rows, columns, depth, depth2]);
  },
};

/** Names of the methods this module supplies when tfjs has not. */
export const FACE_API_TENSOR_METHODS = Object.keys(CHAINED_OPS);

/** Adds the missing chained-op methods face-api needs to tfjs-core's Tensor class. Idempotent. */
export function registerFaceApiTensorMethods(): void {
  const proto = tf.Tensor.prototype as unknown as Record<string, unknown>;
  for (const [name, op] of Object.entries(CHAINED_OPS)) {
    if (typeof proto[name] === 'function') continue;
    proto[name] = function (this: tf.Tensor, ...args: never[]) {
      (this as unknown as { throwIfDisposed(): void }).throwIfDisposed();
      return op.apply(this, args);
    };
  }
}
