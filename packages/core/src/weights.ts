/**
 * Pretrained weights by layer name.
 *
 * `loadPretrainedWeights` reads a tfjs layers-format model.json with its weight shards (what
 * `tensorflowjs_converter --input_format keras` writes for a Keras model, or a fermix checkpoint's
 * model.json) and copies every weight whose layer name and weight name match a layer of the model,
 * whatever the rest of the two architectures. Names in converted files are `<layer>/<weight>`, e.g.
 * `conv1_conv/kernel`, `conv1_bn/moving_mean`, `conv1/conv/kernel` (DenseNet's Keras 2 names).
 *
 * Matching, per layer (a match only counts when it is unambiguous):
 *  1. the same layer name;
 *  2. the same name with `/` read as `_` (Keras 2's `conv1/conv` is Keras 3's `conv1_conv`);
 *  3. the same name without a trailing `_<n>` that Keras or tfjs add when a name is reused in a
 *     process (`normalization_1` -> `normalization`).
 * Within a matched layer the weights are matched by their own name (`kernel`, `bias`, `gamma`,
 * `moving_mean`...), also without a `_<n>` suffix. Everything is checked before any weight is
 * written: a matched layer whose weights differ in names or shapes is an Error that names the
 * layer, the weight and both shapes, and the model is left untouched.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import { fsIOHandler } from './checkpoint.js';
import { silentLogger, type Logger } from './logger.js';

export interface PretrainedWeightsReport {
  /** Model layers whose weights were loaded. */
  loaded: string[];
  /** Layers of the file that were not loaded, and why. */
  skipped: { layer: string; reason: string }[];
  /** Model layers with weights that the file does not have (they keep their current values). */
  missing: string[];
}

export interface LoadPretrainedWeightsOptions {
  logger?: Logger;
  /** Model layers not to load even when the file has them (e.g. `predictions` when the classes differ). */
  exclude?: string[];
}

const MODEL_JSON = 'model.json';

/** A weight of the file: its position in the manifest, its layer and its own name. */
interface FileWeight {
  index: number;
  spec: tf.io.WeightsManifestEntry;
  layer: string;
  weight: string;
}

interface FileLayer {
  name: string;
  weights: FileWeight[];
}

interface ModelLayer {
  name: string;
  layer: tfl.layers.Layer;
  weights: { variable: tfl.LayerVariable; weight: string }[];
}

const formatShape = (shape: readonly (number | null)[]) => `[${shape.join(',')}]`;
const sameShape = (a: readonly (number | null)[], b: readonly number[]) => a.length === b.length && a.every((d, i) => d === b[i]);
/** Drops the `_<n>` Keras and tfjs append to reused names. */
const withoutCounter = (name: string) => name.replace(/_\d+$/, '');
/** Keras 2 `conv1/conv` and Keras 3 `conv1_conv` are the same layer. */
const slashAsUnderscore = (name: string) => name.replace(/\//g, '_');

/** The folder to give fsIOHandler: a folder, or the folder of a `model.json` path. */
function resolveModelDir(modelJsonPath: string): string {
  const target = path.resolve(modelJsonPath);
  let stat: fs.Stats;
  try {
    stat = fs.statSync(target);
  } catch {
    throw new Error(`pretrained weights: ${target} does not exist (expected a tfjs model.json or the folder holding it)`);
  }
  if (stat.isDirectory()) return target;
  if (path.basename(target) !== MODEL_JSON) {
    throw new Error(`pretrained weights: ${target}: expected a file named ${MODEL_JSON} (as tensorflowjs_converter writes it) or its folder`);
  }
  return path.dirname(target);
}

/** Splits `conv1_conv/kernel:0` into layer `conv1_conv` and weight `kernel`. */
function parseFileWeights(specs: tf.io.WeightsManifestEntry[]): { layers: FileLayer[]; unnamed: string[] } {
  const byLayer = new Map<string, FileLayer>();
  const unnamed: string[] = [];
  specs.forEach((spec, index) => {
    if (spec.group === 'optimizer') return;
    const name = spec.name.replace(/:\d+$/, '');
    const cut = name.lastIndexOf('/');
    if (cut <= 0) {
      unnamed.push(spec.name);
      return;
    }
    const layer = name.slice(0, cut);
    const entry = byLayer.get(layer) ?? { name: layer, weights: [] };
    entry.weights.push({ index, spec, layer, weight: name.slice(cut + 1) });
    byLayer.set(layer, entry);
  });
  return { layers: [...byLayer.values()], unnamed };
}

/** Every layer of the model that owns weights (looking inside nested models), with each weight's own name. */
function modelLayers(model: tfl.LayersModel): ModelLayer[] {
  const out: ModelLayer[] = [];
  const visit = (layer: tfl.layers.Layer) => {
    const nested = (layer as unknown as { layers?: tfl.layers.Layer[] }).layers;
    if (Array.isArray(nested)) {
      nested.forEach(visit);
      return;
    }
    if (layer.weights.length === 0) return;
    out.push({
      name: layer.name,
      layer,
      weights: layer.weights.map((variable) => {
        const full = variable.originalName ?? variable.name;
        const weight = full.startsWith(`${layer.name}/`) ? full.slice(layer.name.length + 1) : full.slice(full.lastIndexOf('/') + 1);
        return { variable, weight };
      }),
    });
  };
  model.layers.forEach(visit);
  return out;
}

/**
 * Pairs model layers with file layers, tier by tier; a key shared by exactly one unmatched model
 * layer and one unmatched file layer is a match, anything else stays for the next tier.
 */
function matchLayers(model: ModelLayer[], file: FileLayer[]): { pairs: [ModelLayer, FileLayer][]; ambiguous: Map<FileLayer, string[]> } {
  const tiers: ((name: string) => string)[] = [(n) => n, slashAsUnderscore, (n) => withoutCounter(slashAsUnderscore(n))];
  const pairs: [ModelLayer, FileLayer][] = [];
  const ambiguous = new Map<FileLayer, string[]>();
  let modelLeft = [...model];
  let fileLeft = [...file];
  for (const key of tiers) {
    const modelByKey = groupBy(modelLeft, (l) => key(l.name));
    const fileByKey = groupBy(fileLeft, (l) => key(l.name));
    const matchedModel = new Set<ModelLayer>();
    const matchedFile = new Set<FileLayer>();
    for (const [k, files] of fileByKey) {
      const models = modelByKey.get(k);
      if (!models) continue;
      if (files.length === 1 && models.length === 1) {
        pairs.push([models[0], files[0]]);
        matchedModel.add(models[0]);
        matchedFile.add(files[0]);
        ambiguous.delete(files[0]);
      } else {
        for (const f of files) ambiguous.set(f, models.map((m) => m.name));
      }
    }
    modelLeft = modelLeft.filter((l) => !matchedModel.has(l));
    fileLeft = fileLeft.filter((l) => !matchedFile.has(l));
  }
  return { pairs, ambiguous };
}

function groupBy<T>(items: T[], key: (item: T) => string): Map<string, T[]> {
  const map = new Map<string, T[]>();
  for (const item of items) map.set(key(item), [...(map.get(key(item)) ?? []), item]);
  return map;
}

/** For each weight of the model layer, the file weight that goes into it; throws on any difference. */
function matchWeights(modelLayer: ModelLayer, fileLayer: FileLayer, source: string): FileWeight[] {
  const label = fileLayer.name === modelLayer.name ? `layer '${modelLayer.name}'` : `layer '${modelLayer.name}' (in the file: '${fileLayer.name}')`;
  const modelNames = modelLayer.weights.map((w) => w.weight);
  const fileNames = fileLayer.weights.map((w) => w.weight);
  const pick = (name: string): FileWeight | undefined =>
    fileLayer.weights.find((f) => f.weight === name) ??
    (() => {
      const candidates = fileLayer.weights.filter((f) => withoutCounter(f.weight) === withoutCounter(name));
      return candidates.length === 1 ? candidates[0] : undefined;
    })();
  const chosen = modelLayer.weights.map((w) => pick(w.weight));
  if (chosen.some((c) => c === undefined) || new Set(chosen).size !== fileLayer.weights.length) {
    throw new Error(
      `${source}: ${label} does not have the same weights in the model (${modelNames.join(', ')}) and in the file ` +
        `(${fileNames.join(', ')}): the architectures differ (e.g. a bias or batch-norm option)`,
    );
  }
  return modelLayer.weights.map((w, i) => {
    const f = chosen[i]!;
    if (!sameShape(w.variable.shape, f.spec.shape)) {
      throw new Error(
        `${source}: shape mismatch in ${label}, weight '${w.weight}': the model has ${formatShape(w.variable.shape)}, ` +
          `the file has ${formatShape(f.spec.shape)} (saved as '${f.spec.name}'). Nothing was loaded; build the model ` +
          `with the same architecture and input channels, convert Keras models with include_top=False, or exclude the layer`,
      );
    }
    if (f.spec.dtype === 'string' || w.variable.dtype === 'string') {
      throw new Error(`${source}: ${label}, weight '${w.weight}': cannot load a ${f.spec.dtype} weight into a ${w.variable.dtype} one`);
    }
    return f;
  });
}

/** Decodes the weights keeping their order (`tf.io.decodeWeights` keys by name, which could collapse duplicates). */
function decodeInOrder(specs: tf.io.WeightsManifestEntry[], data: ArrayBuffer): tf.Tensor[] {
  const positional = specs.map((spec, i) => ({ ...spec, name: String(i) }));
  const byPosition = tf.io.decodeWeights(data, positional);
  return positional.map((spec) => byPosition[spec.name]);
}

async function readArtifacts(dir: string): Promise<{ specs: tf.io.WeightsManifestEntry[]; data: ArrayBuffer }> {
  let artifacts: tf.io.ModelArtifacts;
  try {
    artifacts = await fsIOHandler(dir).load!();
  } catch (err) {
    const message = (err as Error).message;
    const hint = /modelTopology/.test(message)
      ? ' (a weights-only conversion has no topology: convert a whole model saved with model.save("model.h5"), not save_weights)'
      : '';
    throw new Error(`pretrained weights: ${message}${hint}`, { cause: err });
  }
  const specs = artifacts.weightSpecs ?? [];
  const data = artifacts.weightData == null ? new ArrayBuffer(0) : tf.io.CompositeArrayBuffer.join(artifacts.weightData);
  return { specs, data };
}

/**
 * Loads weights into `model` by layer name from a tfjs layers model.json (a path to the file, or
 * its folder) and its weight shards. Layers only in the model keep their weights (`missing`),
 * layers only in the file are reported (`skipped`). Shape or weight-name differences in a matched
 * layer throw before anything is written. Logs how many layers were loaded and which were skipped.
 */
export async function loadPretrainedWeights(
  model: tfl.LayersModel,
  modelJsonPath: string,
  options: LoadPretrainedWeightsOptions = {},
): Promise<PretrainedWeightsReport> {
  const logger = options.logger ?? silentLogger;
  const exclude = new Set(options.exclude ?? []);
  const dir = resolveModelDir(modelJsonPath);
  const source = path.join(dir, MODEL_JSON);
  const { specs, data } = await readArtifacts(dir);

  const file = parseFileWeights(specs);
  const layers = modelLayers(model);
  const unknownExcluded = [...exclude].filter((name) => !layers.some((l) => l.name === name));
  if (unknownExcluded.length) {
    logger.warn('pretrained weights: exclude names layers the model does not have (or that have no weights)', { layers: unknownExcluded });
  }
  const candidates = layers.filter((l) => !exclude.has(l.name));
  const { pairs, ambiguous } = matchLayers(candidates, file.layers);

  // Plan every assignment (and fail) before decoding or writing anything.
  const plan = pairs.map(([modelLayer, fileLayer]) => ({ modelLayer, fileLayer, sources: matchWeights(modelLayer, fileLayer, source) }));

  const matchedFile = new Set(pairs.map(([, f]) => f));
  const matchedModel = new Set(pairs.map(([m]) => m));
  const skipped: PretrainedWeightsReport['skipped'] = [];
  for (const f of file.layers) {
    if (matchedFile.has(f)) continue;
    let reason: string;
    if (exclude.has(f.name) || exclude.has(slashAsUnderscore(f.name))) reason = 'excluded by options';
    else if (ambiguous.has(f)) reason = `ambiguous: it could be any of the model layers ${ambiguous.get(f)!.join(', ')}`;
    else reason = 'no layer of that name in the model';
    skipped.push({ layer: f.name, reason });
  }
  for (const name of file.unnamed) skipped.push({ layer: name, reason: 'the weight name has no layer part (<layer>/<weight>)' });
  const missing = layers.filter((l) => !matchedModel.has(l)).map((l) => l.name);

  const tensors = decodeInOrder(specs, data);
  try {
    for (const { modelLayer, sources } of plan) {
      modelLayer.weights.forEach((w, i) => {
        const value = tensors[sources[i].index];
        const variable = w.variable.read() as tf.Variable;
        // Assign the variable directly: LayerVariable.write() would apply weight constraints.
        if (value.dtype === variable.dtype) variable.assign(value);
        else tf.tidy(() => variable.assign(tf.cast(value, variable.dtype)));
      });
    }
  } finally {
    tf.dispose(tensors);
  }

  const loaded = plan.map((p) => p.modelLayer.name);
  logger.info(`pretrained weights: loaded ${loaded.length} of ${layers.length} layers with weights from ${source}`, {
    skipped: skipped.length,
    missing: missing.length,
  });
  if (skipped.length) {
    logger.warn(`pretrained weights: skipped ${skipped.length} layers of the file`, {
      layers: skipped.map((s) => `${s.layer} (${s.reason})`),
    });
  }
  if (missing.length) logger.info(`pretrained weights: ${missing.length} layers of the model are not in the file and keep their weights`, { layers: missing });
  return { loaded, skipped, missing };
}
