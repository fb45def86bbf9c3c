/**
 * Pretrained weights by layer name.
 *
 * `loadPretrainedWeights` reads weights from
 * - a tfjs layers-format model.json with its weight shards (what `tensorflowjs_converter
 *   --input_format keras` writes, or a fermix checkpoint folder such as `runs/x/checkpoints/best`),
 * - a Keras `.h5` file: Keras 2 `save_weights`/`model.save` (the keras.applications files) or
 *   Keras 3 `.weights.h5`, read by @fermix/weights,
 * and copies every weight whose layer matches a layer of the model, whatever the rest of the two
 * architectures. Names in converted files are `<layer>/<weight>`, e.g. `conv1_conv/kernel`,
 * `conv1/conv/kernel` (DenseNet's Keras 2 names).
 *
 * Matching, per layer (a match only counts when it is unambiguous):
 *  1. the same layer name;
 *  2. the same name with `/` read as `_` (Keras 2's `conv1/conv` is Keras 3's `conv1_conv`);
 *  3. the same name without a trailing `_<n>` that Keras or tfjs add when a name is reused in a
 *     process (`normalization_1` -> `normalization`).
 * Within a matched layer the weights are matched by their own name (`kernel`, `bias`, `gamma`,
 * `moving_mean`...), also without a `_<n>` suffix; a Keras 3 file names no weights, so there they
 * are taken in the layer's order, as Keras 3 itself loads them. Everything is checked before any
 * weight is written: a matched layer whose weights differ in names or shapes is an Error that names
 * the layer, the weight and both shapes, and the model is left untouched. The one exception is the
 * classifier head (`head`): when only its shapes differ (another class count), it is skipped with
 * a log line. A file none of whose layers match is an Error, not a run from random weights.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import { readKerasWeights } from '@fermix/weights';
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
  /**
   * The classifier head (fermix's is `predictions`): when the file's layer of that name differs
   * only in shape (another class count, as when fine-tuning another run's checkpoint), it is
   * skipped with a log line instead of being an error.
   */
  head?: string;
}

const MODEL_JSON = 'model.json';
const HDF5_SIGNATURE = Buffer.from([0x89, 0x48, 0x44, 0x46, 0x0d, 0x0a, 0x1a, 0x0a]);

/** A weight of the file: its position among the file's weights, its layer and its own name. */
interface FileWeight {
  index: number;
  layer: string;
  weight: string;
  /** As saved (`conv1/conv/kernel:0`), for messages. */
  saved: string;
  shape: number[];
  dtype: string;
}

interface FileLayer {
  name: string;
  weights: FileWeight[];
}

/** What a weights file holds, whatever its format; `read` decodes the values in `index` order. */
interface WeightsSource {
  source: string;
  layers: FileLayer[];
  /** Weights the file has without a `<layer>/<weight>` name. */
  unnamed: string[];
  /** Weights carry no names (Keras 3): matched by position within the layer. */
  positional: boolean;
  read(): tf.Tensor[];
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

/** Splits `conv1_conv/kernel:0` into layer `conv1_conv` and weight `kernel`. */
function parseManifest(specs: tf.io.WeightsManifestEntry[]): { layers: FileLayer[]; unnamed: string[] } {
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
    entry.weights.push({ index, layer, weight: name.slice(cut + 1), saved: spec.name, shape: spec.shape, dtype: spec.dtype });
    byLayer.set(layer, entry);
  });
  return { layers: [...byLayer.values()], unnamed };
}

/** Decodes the weights keeping their order (`tf.io.decodeWeights` keys by name, which could collapse duplicates). */
function decodeInOrder(specs: tf.io.WeightsManifestEntry[], data: ArrayBuffer): tf.Tensor[] {
  const positional = specs.map((spec, i) => ({ ...spec, name: String(i) }));
  const byPosition = tf.io.decodeWeights(data, positional);
  return positional.map((spec) => byPosition[spec.name]);
}

async function tfjsSource(dir: string): Promise<WeightsSource> {
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
  return { source: path.join(dir, MODEL_JSON), ...parseManifest(specs), positional: false, read: () => decodeInOrder(specs, data) };
}

function kerasSource(file: string): WeightsSource {
  const keras = readKerasWeights(fs.readFileSync(file), file);
  let index = 0;
  const values: { values: Float32Array | Int32Array; shape: number[]; dtype: 'float32' | 'int32' }[] = [];
  const layers = keras.layers.map((layer) => ({
    name: layer.name,
    weights: layer.weights.map((w) => {
      values.push(w);
      return { index: index++, layer: layer.name, weight: w.name, saved: w.path, shape: w.shape, dtype: w.dtype };
    }),
  }));
  return { source: file, layers, unnamed: [], positional: keras.layout === 'keras3', read: () => values.map((v) => tf.tensor(v.values, v.shape, v.dtype)) };
}

/** A tfjs model.json (or its folder, e.g. a fermix checkpoint) or a Keras HDF5 file, by what the path is. */
async function openWeights(weightsPath: string): Promise<WeightsSource> {
  const target = path.resolve(weightsPath);
  const stat = fs.statSync(target, { throwIfNoEntry: false });
  if (!stat) {
    throw new Error(`pretrained weights: ${target} does not exist (expected a Keras .h5 file, a tfjs model.json or the folder holding it, e.g. a fermix run's checkpoints/best)`);
  }
  if (stat.isDirectory()) {
    if (!fs.existsSync(path.join(target, MODEL_JSON))) {
      throw new Error(`pretrained weights: ${target} has no ${MODEL_JSON} (expected a fermix checkpoint folder such as runs/x/checkpoints/best, or a tfjs model folder)`);
    }
    return tfjsSource(target);
  }
  if (path.basename(target) === MODEL_JSON) return tfjsSource(path.dirname(target));
  const head = Buffer.alloc(HDF5_SIGNATURE.length);
  const fd = fs.openSync(target, 'r');
  try {
    fs.readSync(fd, head, 0, head.length, 0);
  } finally {
    fs.closeSync(fd);
  }
  if (/\.(h5|hdf5|keras)$/i.test(target) || head.equals(HDF5_SIGNATURE)) return kerasSource(target);
  throw new Error(
    `pretrained weights: ${target}: expected a file named ${MODEL_JSON} (as tensorflowjs_converter writes it) or its folder, or a Keras .h5 weights file`,
  );
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
function matchLayers<M extends { name: string }, F extends { name: string }>(model: M[], file: F[]): { pairs: [M, F][]; ambiguous: Map<F, string[]> } {
  const tiers: ((name: string) => string)[] = [(n) => n, slashAsUnderscore, (n) => withoutCounter(slashAsUnderscore(n))];
  const pairs: [M, F][] = [];
  const ambiguous = new Map<F, string[]>();
  let modelLeft = [...model];
  let fileLeft = [...file];
  for (const key of tiers) {
    const modelByKey = groupBy(modelLeft, (l) => key(l.name));
    const fileByKey = groupBy(fileLeft, (l) => key(l.name));
    const matchedModel = new Set<M>();
    const matchedFile = new Set<F>();
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

/** A model layer's weights as names and shapes, and a file layer's: what `pairWeights` compares. */
interface NamedShapes {
  name: string;
  weights: { weight: string; shape: readonly (number | null)[] }[];
}

type WeightPairing = { ok: true; sources: number[] } | { ok: false; kind: 'names' | 'shape'; message: string };

/**
 * For each weight of the model layer, the position of the file weight that goes into it (by name,
 * or by position when `positional`), or why they cannot be paired (different weights or a shape).
 */
function pairWeights(modelLayer: NamedShapes, fileLayer: NamedShapes, positional: boolean, saved: (i: number) => string): WeightPairing {
  const label = fileLayer.name === modelLayer.name ? `layer '${modelLayer.name}'` : `layer '${modelLayer.name}' (in the file: '${fileLayer.name}')`;
  const modelNames = modelLayer.weights.map((w) => w.weight);
  const fileNames = fileLayer.weights.map((w) => w.weight);
  let chosen: (number | undefined)[];
  if (positional) {
    chosen = modelLayer.weights.map((_, i) => (fileLayer.weights.length === modelLayer.weights.length ? i : undefined));
  } else {
    const pick = (name: string): number | undefined => {
      const exact = fileLayer.weights.findIndex((f) => f.weight === name);
      if (exact >= 0) return exact;
      const candidates = fileLayer.weights.flatMap((f, i) => (withoutCounter(f.weight) === withoutCounter(name) ? [i] : []));
      return candidates.length === 1 ? candidates[0] : undefined;
    };
    chosen = modelLayer.weights.map((w) => pick(w.weight));
  }
  if (chosen.some((c) => c === undefined) || new Set(chosen).size !== fileLayer.weights.length) {
    return {
      ok: false,
      kind: 'names',
      message:
        `${label} does not have the same weights in the model (${modelNames.join(', ')}) and in the file ` +
        `(${positional ? `${fileNames.length} variables` : fileNames.join(', ')}): the architectures differ (e.g. a bias or batch-norm option)`,
    };
  }
  for (const [i, w] of modelLayer.weights.entries()) {
    const f = fileLayer.weights[chosen[i]!];
    if (!sameShape(w.shape, f.shape as number[])) {
      return {
        ok: false,
        kind: 'shape',
        message: `shape mismatch in ${label}, weight '${w.weight}': the model has ${formatShape(w.shape)}, the file has ${formatShape(f.shape)} (saved as '${saved(chosen[i]!)}')`,
      };
    }
  }
  return { ok: true, sources: chosen as number[] };
}

const modelShapes = (l: ModelLayer): NamedShapes => ({ name: l.name, weights: l.weights.map((w) => ({ weight: w.weight, shape: w.variable.shape })) });

/** How a model's layers compare with a weights file's layer list (names and shapes, no values). */
export interface WeightLayerComparison {
  /** Model layer and the file layer it would load from. */
  matched: { model: string; file: string }[];
  /** File layers no model layer matches (with why, when it is ambiguous). */
  onlyInFile: { layer: string; reason: string }[];
  /** Model layers with weights that match no file layer. */
  onlyInModel: string[];
  /** Layers matched by name whose weights differ in names or shapes. */
  mismatched: { model: string; file: string; problem: string }[];
}

/**
 * Compares a model's layers with weights against a file's layer list, with the loader's matching
 * rules, without reading or writing any value: what `fermix backbones --weights imagenet --check`
 * prints. `positional`: the file's weights are unnamed (Keras 3), match them by order.
 */
export function compareWeightLayers(
  model: tfl.LayersModel,
  fileLayers: { name: string; weights: { name: string; shape: number[] }[] }[],
  options: { positional?: boolean } = {},
): WeightLayerComparison {
  const layers = modelLayers(model).map(modelShapes);
  const file: NamedShapes[] = fileLayers.map((l) => ({ name: l.name, weights: l.weights.map((w) => ({ weight: w.name, shape: w.shape })) }));
  const { pairs, ambiguous } = matchLayers(layers, file);
  const matchedFile = new Set(pairs.map(([, f]) => f));
  const matchedModel = new Set(pairs.map(([m]) => m));
  const result: WeightLayerComparison = { matched: [], onlyInFile: [], onlyInModel: layers.filter((l) => !matchedModel.has(l)).map((l) => l.name), mismatched: [] };
  for (const [m, f] of pairs) {
    const pairing = pairWeights(m, f, options.positional ?? false, (i) => `${f.name}/${f.weights[i].weight}`);
    if (pairing.ok) result.matched.push({ model: m.name, file: f.name });
    else result.mismatched.push({ model: m.name, file: f.name, problem: pairing.message });
  }
  for (const f of file) {
    if (matchedFile.has(f)) continue;
    const models = ambiguous.get(f);
    result.onlyInFile.push({ layer: f.name, reason: models ? `ambiguous: it could be any of the model layers ${models.join(', ')}` : 'no layer of that name in the model' });
  }
  return result;
}

/**
 * Loads weights into `model` by layer name from a Keras `.h5` file, or a tfjs layers model.json
 * (a path to the file, or its folder: a fermix checkpoint folder loads so) and its weight shards.
 * Layers only in the model keep their weights (`missing`), layers only in the file are reported
 * (`skipped`). Shape or weight-name differences in a matched layer throw before anything is
 * written (except the `head`, skipped). A file none of whose layers match throws. Logs how many
 * layers were loaded and which were skipped.
 */
export async function loadPretrainedWeights(
  model: tfl.LayersModel,
  weightsPath: string,
  options: LoadPretrainedWeightsOptions = {},
): Promise<PretrainedWeightsReport> {
  const logger = options.logger ?? silentLogger;
  const exclude = new Set(options.exclude ?? []);
  const file = await openWeights(weightsPath);
  const { source } = file;
  const layers = modelLayers(model);
  const unknownExcluded = [...exclude].filter((name) => !layers.some((l) => l.name === name));
  if (unknownExcluded.length) {
    logger.warn('pretrained weights: exclude names layers the model does not have (or that have no weights)', { layers: unknownExcluded });
  }
  const candidates = layers.filter((l) => !exclude.has(l.name));
  const { pairs, ambiguous } = matchLayers(candidates, file.layers);

  // Plan every assignment (and fail) before decoding or writing anything.
  const skipped: PretrainedWeightsReport['skipped'] = [];
  const skippedHead = new Set<FileLayer>();
  const plan: { modelLayer: ModelLayer; sources: FileWeight[] }[] = [];
  for (const [modelLayer, fileLayer] of pairs) {
    const fileShapes: NamedShapes = { name: fileLayer.name, weights: fileLayer.weights };
    const pairing = pairWeights(modelShapes(modelLayer), fileShapes, file.positional, (i) => fileLayer.weights[i].saved);
    if (!pairing.ok && pairing.kind === 'shape' && options.head !== undefined && modelLayer.name === options.head) {
      const shapes = (ws: { shape: readonly (number | null)[] }[]) => ws.map((w) => formatShape(w.shape)).join(' ');
      logger.info(
        `pretrained weights: the classifier head '${modelLayer.name}' is skipped: the file's has shapes ${shapes(fileLayer.weights)}, ` +
          `the model's ${shapes(modelShapes(modelLayer).weights)} (another class count); it starts from its initialization`,
      );
      skipped.push({ layer: fileLayer.name, reason: 'the classifier head, of another class count' });
      skippedHead.add(fileLayer);
      continue;
    }
    if (!pairing.ok) {
      throw new Error(
        `${source}: ${pairing.message}.` +
          (pairing.kind === 'shape' ? ' Nothing was loaded; build the model with the same architecture and input channels, convert Keras models with include_top=False, or exclude the layer' : ''),
      );
    }
    for (const [i, w] of modelLayer.weights.entries()) {
      const f = fileLayer.weights[pairing.sources[i]];
      if (f.dtype === 'string' || w.variable.dtype === 'string') {
        throw new Error(`${source}: layer '${modelLayer.name}', weight '${w.weight}': cannot load a ${f.dtype} weight into a ${w.variable.dtype} one`);
      }
    }
    plan.push({ modelLayer, sources: pairing.sources.map((i) => fileLayer.weights[i]) });
  }

  const matchedFile = new Set(pairs.map(([, f]) => f));
  const matchedModel = new Set(plan.map((p) => p.modelLayer));
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
  if (pairs.length === 0 && file.layers.length > 0) {
    throw new Error(
      `${source}: none of the file's ${file.layers.length} layers with weights matches a layer of the model ` +
        `(the file has ${file.layers.slice(0, 5).map((l) => l.name).join(', ')}${file.layers.length > 5 ? ', ...' : ''}; ` +
        `the model ${layers.slice(0, 5).map((l) => l.name).join(', ')}${layers.length > 5 ? ', ...' : ''}): weights for another architecture? Nothing was loaded`,
    );
  }

  const tensors = file.read();
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
  const notHead = skipped.filter((s) => !file.layers.some((f) => f.name === s.layer && skippedHead.has(f)));
  if (notHead.length) {
    logger.warn(`pretrained weights: skipped ${notHead.length} layers of the file`, {
      layers: notHead.map((s) => `${s.layer} (${s.reason})`),
    });
  }
  if (missing.length) logger.info(`pretrained weights: ${missing.length} layers of the model are not in the file and keep their weights`, { layers: missing });
  return { loaded, skipped, missing };
}
