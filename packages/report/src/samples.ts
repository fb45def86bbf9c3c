/**
 * samples.json, written by the trainer at the first training step: the views of one batch as the
 * network sees them (e.g. the real images and their mixes), each image with its soft label.
 */
export interface SamplesFile {
  version: 1;
  classes: string[];
  imageSize: number;
  views: Record<string, { weight: number; samples: { png: string; label: number[] }[] }>;
  /** What each plugin drew for this batch (`StepResult.drawn`), by plugin; empty when the file has none. */
  drawn: Record<string, Record<string, unknown>>;
}

/** Checks a parsed samples.json; throws an Error saying what is wrong (the caller names the file). */
export function parseSamples(raw: unknown): SamplesFile {
  const fail = (what: string): never => {
    throw new Error(what);
  };
  if (!raw || typeof raw !== 'object') fail('expected a JSON object');
  const file = raw as Record<string, unknown>;
  if (file.version !== 1) fail(`expected "version": 1, found ${JSON.stringify(file.version)}`);
  if (!Array.isArray(file.classes) || !file.classes.every((c) => typeof c === 'string')) fail('expected "classes": an array of strings');
  const classes = file.classes as string[];
  if (!file.views || typeof file.views !== 'object') fail('expected "views": { "<name>": { "weight", "samples" } }');
  for (const [name, view] of Object.entries(file.views as Record<string, unknown>)) {
    const v = view as { weight?: unknown; samples?: unknown };
    if (typeof v?.weight !== 'number') fail(`views.${name}.weight: expected a number`);
    if (!Array.isArray(v.samples)) fail(`views.${name}.samples: expected an array`);
    (v.samples as unknown[]).forEach((s, i) => {
      const sample = s as { png?: unknown; label?: unknown };
      if (typeof sample?.png !== 'string' || !/^[A-Za-z0-9+/=\s]*$/.test(sample.png)) fail(`views.${name}.samples[${i}].png: expected base64 PNG data`);
      if (!Array.isArray(sample.label) || sample.label.length !== classes.length || !sample.label.every((x) => typeof x === 'number')) {
        fail(`views.${name}.samples[${i}].label: expected ${classes.length} numbers (one per class)`);
      }
    });
  }
  const drawn = file.drawn && typeof file.drawn === 'object' && !Array.isArray(file.drawn) ? (file.drawn as SamplesFile['drawn']) : {};
  return { version: 1, classes, imageSize: typeof file.imageSize === 'number' ? file.imageSize : 0, views: file.views as SamplesFile['views'], drawn };
}

/** The `count` largest entries of a soft label with their class names, largest first, zeros left out. */
export function topClasses(label: number[], classes: string[], count = 2): { name: string; weight: number }[] {
  return label
    .map((weight, i) => ({ name: classes[i] ?? String(i), weight }))
    .filter((c) => c.weight > 0)
    .sort((a, b) => b.weight - a.weight)
    .slice(0, count);
}

/** Values shown of a per-sample array before "…". */
const SHOWN_VALUES = 8;

function shortValue(v: unknown): string {
  if (typeof v === 'number') return String(Number(v.toFixed(3)));
  if (typeof v === 'boolean') return v ? 'yes' : 'no';
  if (v === null || v === undefined) return '-';
  if (typeof v === 'string') return v;
  if (Array.isArray(v)) {
    if (v.every((x) => typeof x === 'number' || typeof x === 'boolean' || typeof x === 'string')) {
      const shown = v.slice(0, SHOWN_VALUES).map(shortValue).join(' ');
      return v.length > SHOWN_VALUES ? `${shown} … (${v.length})` : shown;
    }
    const present = v.filter((x) => x !== null && x !== undefined);
    return present.length === 0 ? `none of ${v.length}` : `${present.length} of ${v.length}, e.g. ${shortValue(present[0])}`;
  }
  if (typeof v === 'object') {
    return `{${Object.entries(v as Record<string, unknown>)
      .map(([k, x]) => `${k} ${shortValue(x)}`)
      .join(', ')}}`;
  }
  return String(v);
}

/**
 * One line per plugin of what it drew for the batch, short enough to read under the gallery:
 * numbers to 3 decimals, per-sample arrays cut after 8 values, arrays of parameters (with nulls for
 * skipped samples) as "k of n, e.g. {first}".
 */
export function drawnSummary(drawn: SamplesFile['drawn']): { plugin: string; text: string }[] {
  return Object.entries(drawn).map(([plugin, values]) => ({
    plugin,
    text: Object.entries(values ?? {})
      .map(([key, v]) => `${key} ${shortValue(v)}`)
      .join('; '),
  }));
}
