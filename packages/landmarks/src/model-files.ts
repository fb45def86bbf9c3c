import { readFileSync } from 'node:fs';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';

/**
 * Reads a tfjs weights manifest (`<name>-weights_manifest.json`) and its binary shards from a local
 * folder, with the file system only (never the network), and decodes them into named tensors.
 */
export function readWeightMap(dir: string, name: string): tf.NamedTensorMap {
  const manifestFile = path.join(dir, `${name}-weights_manifest.json`);
  let manifest: tf.io.WeightsManifestConfig;
  try {
    manifest = JSON.parse(readFileSync(manifestFile, 'utf8')) as tf.io.WeightsManifestConfig;
  } catch (err) {
    throw new Error(`cannot read the face model manifest ${manifestFile}: ${(err as Error).message}`, { cause: err });
  }
  const shards: Uint8Array[] = [];
  const specs: tf.io.WeightsManifestEntry[] = [];
  for (const group of manifest) {
    for (const shard of group.paths) {
      const file = path.join(dir, shard);
      try {
        shards.push(readFileSync(file));
      } catch (err) {
        throw new Error(`cannot read the face model weights ${file} (listed in ${manifestFile}): ${(err as Error).message}`, { cause: err });
      }
    }
    specs.push(...group.weights);
  }
  const total = shards.reduce((n, s) => n + s.byteLength, 0);
  const buffer = new Uint8Array(total);
  shards.reduce((offset, s) => (buffer.set(s, offset), offset + s.byteLength), 0);
  return tf.io.decodeWeights(buffer.buffer, specs);
}
