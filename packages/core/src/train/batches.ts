import * as tf from '@tensorflow/tfjs-core';
import type { ImageSet } from '../data/source.js';

/** A batch still on the host: float images in [0, 1] and class indices. */
export interface HostBatch {
  x: Float32Array;
  labels: Int32Array;
  count: number;
}

/**
 * Splits an order into batches of `batchSize`. A last batch of one sample is dropped: batch norm
 * cannot compute statistics over one sample.
 */
export function batchRanges(count: number, batchSize: number): [number, number][] {
  const ranges: [number, number][] = [];
  for (let start = 0; start < count; start += batchSize) {
    const end = Math.min(count, start + batchSize);
    if (end - start >= 2 || count === 1) ranges.push([start, end]);
  }
  return ranges;
}

/** Gathers samples `order[start..end)` into a host batch, scaling bytes to [0, 1]. */
export function gatherBatch(set: ImageSet, order: ArrayLike<number>, start: number, end: number): HostBatch {
  const rows = Int32Array.from({ length: end - start }, (_, b) => order[start + b]);
  return { x: scaleRows(set.images, set.size * set.size * 3, rows), labels: rows.map((i) => set.labels[i]), count: rows.length };
}

/**
 * Rows `rows` of `bytes` (each `pixels` uint8 values, e.g. one size x size x 3 image) as floats in
 * [0, 1], packed in that order: the one byte-to-float conversion of every batch, in memory or streamed.
 */
export function scaleRows(bytes: Uint8Array, pixels: number, rows: ArrayLike<number>): Float32Array {
  const x = new Float32Array(rows.length * pixels);
  const scale = 1 / 255;
  for (let b = 0; b < rows.length; b++) {
    const src = bytes.subarray(rows[b] * pixels, (rows[b] + 1) * pixels);
    const off = b * pixels;
    for (let p = 0; p < pixels; p++) x[off + p] = src[p] * scale;
  }
  return x;
}

/** Tensors for a host batch: x [B, S, S, 3] and one-hot y [B, K]. The caller disposes them. */
export function batchTensors(batch: HostBatch, size: number, numClasses: number): { x: tf.Tensor4D; y: tf.Tensor2D } {
  const x = tf.tensor4d(batch.x, [batch.count, size, size, 3]);
  const y = tf.tidy(() => tf.cast(tf.oneHot(tf.tensor1d(batch.labels, 'int32'), numClasses), 'float32') as tf.Tensor2D);
  return { x, y };
}

/** The identity order 0..n-1, for evaluation and batch-norm recalibration. */
export function identityOrder(n: number): Int32Array {
  const order = new Int32Array(n);
  for (let i = 0; i < n; i++) order[i] = i;
  return order;
}
