/**
 * Loads @vladmandic/face-api on the host's @tensorflow/tfjs-core, so its tensors live in fermix's
 * tfjs engine and run on fermix's backend.
 *
 * Every face-api build either bundles a second copy of tfjs (face-api.esm.js, face-api.js) or
 * imports the umbrella package `@tensorflow/tfjs` (face-api.node-wasm.js, face-api.esm-nobundle.js,
 * which also wants tfjs-backend-webgl), which fermix does not install. face-api itself uses only
 * tfjs-core's API (ops, tidy, Tensor, io). So this module evaluates the CommonJS build
 * `dist/face-api.node-wasm.js` with a `require` that answers:
 *   - `@tensorflow/tfjs` with the host's `@tensorflow/tfjs-core` module (the same instance fermix uses);
 *   - `@tensorflow/tfjs-backend-wasm` with an empty module: face-api only re-exports it (as
 *     `faceapi.tf.setWasmPaths` etc.); fermix's own `initWasmBackend` registers the backend;
 *   - anything else (`fs`) with Node's require from face-api's folder.
 * The shim is local to this one evaluation: Node's module resolution is not patched. The tensor
 * methods face-api calls that only the umbrella package would add are registered by chained-ops.ts.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import vm from 'node:vm';
import * as tf from '@tensorflow/tfjs-core';
import { registerFaceApiTensorMethods } from './chained-ops.js';

/** The part of face-api's API that @fermix/landmarks uses. */
export interface FaceApi {
  tf: typeof tf;
  version: string;
  SsdMobilenetv1: new () => FaceApiNet;
  FaceLandmark68Net: new () => FaceApiNet;
  SsdMobilenetv1Options: new (options: { minConfidence?: number; maxResults?: number }) => unknown;
  detectSingleFace(input: tf.Tensor3D, options: unknown): {
    withFaceLandmarks(useTiny?: boolean): PromiseLike<FaceApiResult | undefined>;
  };
  nets: { ssdMobilenetv1: FaceApiNet; faceLandmark68Net: FaceApiNet };
}

export interface FaceApiNet {
  loadFromWeightMap(weightMap: tf.NamedTensorMap): void;
  dispose(throwOnRedispose?: boolean): void;
  readonly isLoaded: boolean;
}

export interface FaceApiResult {
  detection: { score: number; box: { x: number; y: number; width: number; height: number } };
  landmarks: { positions: { x: number; y: number }[] };
}

const BUILD = 'dist/face-api.node-wasm.js';

/** Where this module lives: ESM has import.meta.url; the CommonJS bundle has __filename. */
function moduleLocation(): string {
  return import.meta.url ?? pathToFileURL(__filename).href;
}

/** The installed @vladmandic/face-api's folder. */
export function faceApiDir(): string {
  const require = createRequire(moduleLocation());
  try {
    return path.dirname(require.resolve('@vladmandic/face-api/package.json'));
  } catch (err) {
    throw new Error(`@fermix/landmarks: cannot find its dependency @vladmandic/face-api (${(err as Error).message}); reinstall @fermix/landmarks`, { cause: err });
  }
}

let cached: FaceApi | undefined;

/** face-api, evaluated once per process on the host's tfjs-core. */
export function loadFaceApi(): FaceApi {
  if (cached) return cached;
  registerFaceApiTensorMethods();
  const dir = faceApiDir();
  const file = path.join(dir, BUILD);
  const source = readFileSync(file, 'utf8');
  const nodeRequire = createRequire(file);
  const aliases: Record<string, unknown> = {
    '@tensorflow/tfjs': tf,
    '@tensorflow/tfjs-backend-wasm': {},
  };
  const shimRequire = (id: string): unknown => (id in aliases ? aliases[id] : nodeRequire(id));
  const module = { exports: {} as Record<string, unknown> };
  const wrapper = vm.runInThisContext(`(function (exports, require, module, __filename, __dirname) {${source}\n})`, { filename: file });
  wrapper.call(module.exports, module.exports, shimRequire, module, file, path.dirname(file));
  cached = module.exports as unknown as FaceApi;
  return cached;
}
