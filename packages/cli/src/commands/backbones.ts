import * as fs from 'node:fs';
import path from 'node:path';
import { registerBackbones } from '@fermix/backbones';
import { BackboneRegistry, basePlan, buildModel, compareWeightLayers, selectBackend, silentLogger } from '@fermix/core';
import { IMAGENET_BACKBONES, imagenetWeightsFile, kerasLayerList, weightsCacheDir } from '@fermix/weights';
import { UsageError } from './train.js';

export interface BackbonesCommandOptions {
  /** Input size in pixels (square); commander passes it as a string. Default 100. */
  size?: number | string;
  /** Print JSON instead of a table. */
  json?: boolean;
  /** `imagenet`: with `check`, compare each backbone with the layers of its Keras ImageNet file. */
  weights?: string;
  check?: boolean;
}

export interface BackboneParams {
  name: string;
  /** Parameters of the whole classifier (backbone, pooling, dense softmax `predictions`). */
  params: number | null;
  /** Parameters without the top (the `predictions` layer), as Keras' include_top=False counts them. */
  paramsNoTop: number | null;
  description: string;
  /** Why it could not be built at this size (too small an input). */
  error?: string;
}

/** Classes of the head the counts are given for. */
const CLASSES = 7;

function parseSize(size: number | string | undefined): number {
  if (size === undefined) return 100;
  const n = typeof size === 'number' ? size : Number(size);
  if (!Number.isInteger(n) || n < 1) throw new UsageError(`--size: expected a positive integer (pixels), found ${JSON.stringify(size)}`);
  return n;
}

/** Builds each registered backbone as a 7-class classifier on the cpu backend and counts its parameters. */
export async function countBackboneParams(size: number, registry: BackboneRegistry = registerBackbones(new BackboneRegistry())): Promise<BackboneParams[]> {
  await selectBackend('cpu', silentLogger);
  return registry.names().map((name) => {
    const definition = registry.get(name);
    if (size < definition.minInputSize) {
      return { name, params: null, paramsNoTop: null, description: definition.description, error: `needs inputs of at least ${definition.minInputSize}x${definition.minInputSize}` };
    }
    const model = buildModel(basePlan({ backbone: name, imageSize: size, numClasses: CLASSES }), registry);
    try {
      const params = model.countParams();
      return { name, params, paramsNoTop: params - model.getLayer('predictions').countParams(), description: definition.description };
    } finally {
      model.dispose();
    }
  });
}

const thousands = (n: number | null) => (n === null ? '-' : n.toLocaleString('en-US'));

/** The rows as an aligned table. */
export function formatBackboneTable(rows: BackboneParams[], size: number): string {
  const header = ['backbone', `params (${CLASSES} classes)`, 'without top', 'description'];
  const cells = rows.map((r) => [r.name, thousands(r.params), thousands(r.paramsNoTop), r.error ?? r.description]);
  const widths = header.slice(0, 3).map((h, i) => Math.max(h.length, ...cells.map((c) => c[i].length)));
  const line = (c: string[]) => [c[0].padEnd(widths[0]), c[1].padStart(widths[1]), c[2].padStart(widths[2]), c[3]].join('  ');
  return [`backbones at ${size}x${size}:`, line(header), ...cells.map(line)].join('\n') + '\n';
}

/**
 * `fermix backbones [--size N] [--json]`: every registered backbone with its parameter count with
 * and without the top, at that input size and 7 classes. JSON: [{ name, params, paramsNoTop }].
 */
export async function backbonesCommand(options: BackbonesCommandOptions = {}, out: NodeJS.WritableStream = process.stdout): Promise<number> {
  if (options.weights !== undefined || options.check) {
    if (options.weights !== 'imagenet' || !options.check) throw new UsageError('--weights imagenet and --check go together: fermix backbones --weights imagenet --check');
    return imagenetCheckCommand({ json: options.json }, out);
  }
  const size = parseSize(options.size);
  const rows = await countBackboneParams(size);
  if (options.json) {
    const json = rows.map((r) => ({ name: r.name, params: r.params, paramsNoTop: r.paramsNoTop, ...(r.error ? { error: r.error } : {}) }));
    out.write(JSON.stringify(json, null, 2) + '\n');
  } else {
    out.write(formatBackboneTable(rows, size));
  }
  return 0;
}

/** What `--weights imagenet --check` finds for one backbone. */
export interface ImagenetCheck {
  backbone: string;
  /** The Keras file the layer list describes. */
  file: string;
  /** Where the file is cached, or null when it is not downloaded yet. */
  cached: string | null;
  /** Layers of the Keras file that load into a fermix layer. */
  loads: number;
  layersInFile: number;
  /** Layers the Keras file has and fermix's model lacks. */
  onlyInFile: string[];
  /** Layers with weights fermix's model has and the Keras file lacks (the head `predictions` is fermix's own). */
  onlyInModel: string[];
  /** Layers of both whose weights differ in names or shapes. */
  mismatched: string[];
}

/** Builds each backbone with ImageNet weights and compares it with the committed layer list of its Keras file, offline. */
export async function checkImagenetLayers(registry: BackboneRegistry = registerBackbones(new BackboneRegistry())): Promise<ImagenetCheck[]> {
  await selectBackend('cpu', silentLogger);
  return IMAGENET_BACKBONES.filter((name) => registry.has(name)).map((name) => {
    const list = kerasLayerList(name)!;
    const size = Math.max(32, registry.get(name).minInputSize);
    const model = buildModel(basePlan({ backbone: name, imageSize: size, numClasses: CLASSES }), registry);
    try {
      const fileLayers = list.layers.map((l) => ({ name: l.name, weights: Object.entries(l.weights).map(([w, shape]) => ({ name: w, shape })) }));
      const c = compareWeightLayers(model, fileLayers);
      const cachedAt = path.join(weightsCacheDir(), imagenetWeightsFile(name).file);
      return {
        backbone: name,
        file: list.file,
        cached: fs.existsSync(cachedAt) ? cachedAt : null,
        loads: c.matched.length,
        layersInFile: list.layers.length,
        onlyInFile: c.onlyInFile.map((l) => l.layer),
        onlyInModel: c.onlyInModel,
        mismatched: c.mismatched.map((m) => m.problem),
      };
    } finally {
      model.dispose();
    }
  });
}

/** A check passes when every layer of the Keras file loads and fermix lacks nothing but its own head. */
export const imagenetCheckPasses = (c: ImagenetCheck) => c.onlyInFile.length === 0 && c.mismatched.length === 0 && c.onlyInModel.every((l) => l === 'predictions');

export function formatImagenetChecks(checks: ImagenetCheck[]): string {
  const list = (xs: string[]) => (xs.length ? xs.join(', ') : 'none');
  return (
    checks
      .map((c) =>
        [
          `${c.backbone}: ${c.file}${c.cached ? ` (cached: ${c.cached})` : ' (not downloaded)'}`,
          `  ${c.loads} of the file's ${c.layersInFile} layers with weights load by name${imagenetCheckPasses(c) ? '' : '  <- MISMATCH'}`,
          `  in the Keras file, not in fermix: ${list(c.onlyInFile)}`,
          `  in fermix, not in the Keras file: ${list(c.onlyInModel.map((l) => (l === 'predictions' ? 'predictions (fermix\'s classifier head)' : l)))}`,
          `  weights that differ: ${list(c.mismatched)}`,
        ].join('\n'),
      )
      .join('\n') + '\n'
  );
}

/**
 * `fermix backbones --weights imagenet --check [--json]`: for every backbone with ImageNet
 * weights, the layers of Keras' file (from the committed layer list, offline) against fermix's
 * model, both ways. Exit code 1 when a layer of a file would not load.
 */
export async function imagenetCheckCommand(options: { json?: boolean } = {}, out: NodeJS.WritableStream = process.stdout): Promise<number> {
  const checks = await checkImagenetLayers();
  out.write(options.json ? JSON.stringify(checks, null, 2) + '\n' : formatImagenetChecks(checks));
  return checks.every(imagenetCheckPasses) ? 0 : 1;
}
