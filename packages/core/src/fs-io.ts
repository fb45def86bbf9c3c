/**
 * Model files on the local file system: an `IOHandler` for tfjs layers models (plain tfjs in Node has
 * no `file://` IO; that lives in tfjs-node) and the durable-write helpers checkpoints build on.
 * `fsIOHandler(dir)` writes model.json + weights.bin and reads model.json with any number of weight
 * shards, as tensorflowjs_converter writes them.
 */
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';

export function randomTag(): string {
  return randomBytes(4).toString('hex');
}

export const MODEL_JSON = 'model.json';
export const WEIGHTS_BIN = 'weights.bin';

export function errorCode(err: unknown): string | undefined {
  return (err as NodeJS.ErrnoException | null)?.code;
}

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/**
 * Writes a file so that it is either absent/old or complete and on disk: write a side file,
 * fsync it, then rename over the target (rename is atomic within a folder).
 */
export function writeFileDurable(file: string, data: string | Uint8Array): void {
  const partial = `${file}.partial-${process.pid}-${randomTag()}`;
  try {
    const fd = fs.openSync(partial, 'w');
    try {
      fs.writeFileSync(fd, data);
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    fs.renameSync(partial, file);
  } catch (err) {
    fs.rmSync(partial, { force: true });
    throw err;
  }
}

/** Makes renames and new entries in a folder durable. Some platforms (Windows) cannot open folders: best effort. */
export function fsyncDir(dir: string): void {
  let fd: number | undefined;
  try {
    fd = fs.openSync(dir, 'r');
    fs.fsyncSync(fd);
  } catch {
    // Not supported here; the rename itself is still atomic.
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
  }
}

export function readJsonFile(file: string): unknown {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    if (errorCode(err) === 'ENOENT') throw new Error(`${file} does not exist`);
    throw err;
  }
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new Error(`${file} is not valid JSON: ${errorMessage(err)}`);
  }
}

/** A Node Buffer may be a view into a shared pool: copy out exactly its bytes. */
function concatToArrayBuffer(chunks: Uint8Array[]): ArrayBuffer {
  const total = chunks.reduce((n, c) => n + c.byteLength, 0);
  const out = new Uint8Array(total);
  let offset = 0;
  for (const chunk of chunks) {
    out.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return out.buffer;
}

// ---------------------------------------------------------------------------------------------
// Weights manifests (tfjs format: groups of shard files, weights laid out back to back)

const BYTES_PER_VALUE: Record<string, number> = {
  float32: 4,
  int32: 4,
  bool: 1,
  complex64: 8,
  uint8: 1,
  uint16: 2,
  float16: 2,
};

/** Expected byte size of the specs, or null when it cannot be known up front (string weights). */
function expectedByteLength(specs: tf.io.WeightsManifestEntry[]): number | null {
  let total = 0;
  for (const spec of specs) {
    const storedAs = spec.quantization?.dtype ?? spec.dtype;
    const bytes = BYTES_PER_VALUE[storedAs];
    if (bytes === undefined) return null;
    total += spec.shape.reduce((n, d) => n * d, 1) * bytes;
  }
  return total;
}

/** Shard paths are relative to the folder of the JSON file; refuse anything that leaves it. */
function resolveShardPath(dir: string, shard: string, source: string): string {
  const file = path.resolve(dir, shard);
  const rel = path.relative(dir, file);
  if (path.isAbsolute(shard) || rel.startsWith('..') || path.isAbsolute(rel)) {
    throw new Error(`${source}: weight file '${shard}' lies outside ${dir}`);
  }
  return file;
}

/**
 * Reads every shard of a manifest, concatenated in manifest order (groups in order, paths within a
 * group in order), which is the layout tensorflowjs_converter and tfjs `encodeWeights` produce.
 */
export function readWeightsManifest(
  dir: string,
  manifest: tf.io.WeightsManifestConfig,
  source: string,
): { specs: tf.io.WeightsManifestEntry[]; data: ArrayBuffer } {
  if (!Array.isArray(manifest)) throw new Error(`${source}: weightsManifest must be an array`);
  const chunks: Uint8Array[] = [];
  const specs: tf.io.WeightsManifestEntry[] = [];
  for (const group of manifest) {
    for (const shard of group.paths) {
      const file = resolveShardPath(dir, shard, source);
      try {
        chunks.push(fs.readFileSync(file));
      } catch (err) {
        throw new Error(`${source}: cannot read weight file '${shard}': ${errorMessage(err)}`);
      }
    }
    specs.push(...group.weights);
  }
  const data = concatToArrayBuffer(chunks);
  const expected = expectedByteLength(specs);
  if (expected !== null && expected !== data.byteLength) {
    throw new Error(
      `${source}: the weight files hold ${data.byteLength} bytes but the manifest describes ${expected} bytes ` +
        `(truncated or mismatched shard files?)`,
    );
  }
  return { specs, data };
}

/**
 * Decodes weights keeping their order. `tf.io.decodeWeights` returns a map keyed by name, which
 * would collapse duplicate names, so the specs are renamed to their positions first.
 */
export function decodeInOrder(specs: tf.io.WeightsManifestEntry[], data: ArrayBuffer): tf.Tensor[] {
  const positional = specs.map((spec, i) => ({ ...spec, name: String(i) }));
  const byPosition = tf.io.decodeWeights(data, positional);
  return positional.map((spec) => byPosition[spec.name]);
}

// ---------------------------------------------------------------------------------------------
// fsIOHandler

function modelJsonFor(artifacts: tf.io.ModelArtifacts): tf.io.ModelJSON {
  const json: tf.io.ModelJSON = {
    modelTopology: artifacts.modelTopology as {},
    format: artifacts.format ?? 'layers-model',
    generatedBy: artifacts.generatedBy,
    convertedBy: artifacts.convertedBy ?? null,
    weightsManifest: [{ paths: [WEIGHTS_BIN], weights: artifacts.weightSpecs ?? [] }],
  };
  // The optional fields tfjs itself carries over (see getModelJSONForModelArtifacts, not exported).
  if (artifacts.trainingConfig != null) json.trainingConfig = artifacts.trainingConfig;
  if (artifacts.signature != null) json.signature = artifacts.signature;
  if (artifacts.userDefinedMetadata != null) json.userDefinedMetadata = artifacts.userDefinedMetadata;
  if (artifacts.modelInitializer != null) json.modelInitializer = artifacts.modelInitializer;
  if (artifacts.initializerSignature != null) json.initializerSignature = artifacts.initializerSignature;
  return json;
}

async function saveModelArtifacts(dir: string, artifacts: tf.io.ModelArtifacts): Promise<tf.io.SaveResult> {
  if (artifacts.modelTopology instanceof ArrayBuffer) {
    throw new Error('fsIOHandler: binary model topologies (GraphDef) are not supported, only JSON topologies');
  }
  fs.mkdirSync(dir, { recursive: true });
  const weights = artifacts.weightData == null ? new ArrayBuffer(0) : tf.io.CompositeArrayBuffer.join(artifacts.weightData);
  // Weights first: a model.json never points at weights that were not written yet.
  writeFileDurable(path.join(dir, WEIGHTS_BIN), new Uint8Array(weights));
  writeFileDurable(path.join(dir, MODEL_JSON), JSON.stringify(modelJsonFor(artifacts)));
  fsyncDir(dir);
  return { modelArtifactsInfo: tf.io.getModelArtifactsInfoForJSON(artifacts) };
}

async function loadModelArtifacts(dir: string): Promise<tf.io.ModelArtifacts> {
  const jsonFile = path.join(dir, MODEL_JSON);
  const modelJSON = readJsonFile(jsonFile) as tf.io.ModelJSON;
  if (modelJSON == null || typeof modelJSON !== 'object' || modelJSON.modelTopology == null) {
    throw new Error(`${jsonFile}: no modelTopology, not a tfjs model.json`);
  }
  return tf.io.getModelArtifactsForJSON(modelJSON, async (manifest) => {
    const { specs, data } = readWeightsManifest(dir, manifest, jsonFile);
    return [specs, data];
  });
}

/**
 * An IOHandler on the local file system: `model.save(fsIOHandler(dir))` writes model.json +
 * weights.bin, `tf.loadLayersModel(fsIOHandler(dir))` reads them back (also multi-shard
 * model.json files as tensorflowjs_converter writes them).
 */
export function fsIOHandler(dir: string): tf.io.IOHandler {
  const root = path.resolve(dir);
  return {
    save: (artifacts) => saveModelArtifacts(root, artifacts),
    load: () => loadModelArtifacts(root),
  };
}

// ---------------------------------------------------------------------------------------------
// Checkpoint folders: completeness, siblings, recovery
