import { registerBackbones } from '@fermix/backbones';
import { BackboneRegistry, basePlan, buildModel, selectBackend, silentLogger } from '@fermix/core';
import { UsageError } from './train.js';

export interface BackbonesCommandOptions {
  /** Input size in pixels (square); commander passes it as a string. Default 100. */
  size?: number | string;
  /** Print JSON instead of a table. */
  json?: boolean;
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
