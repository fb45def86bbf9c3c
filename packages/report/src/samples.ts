/**
 * samples.json, written by the trainer at the first training step: the views of one batch as the
 * network sees them (e.g. the real images and their mixes), each image with its soft label.
 */
export interface SamplesFile {
  version: 1;
  classes: string[];
  imageSize: number;
  views: Record<string, { weight: number; samples: { png: string; label: number[] }[] }>;
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
  return { version: 1, classes, imageSize: typeof file.imageSize === 'number' ? file.imageSize : 0, views: file.views as SamplesFile['views'] };
}

/** The `count` largest entries of a soft label with their class names, largest first, zeros left out. */
export function topClasses(label: number[], classes: string[], count = 2): { name: string; weight: number }[] {
  return label
    .map((weight, i) => ({ name: classes[i] ?? String(i), weight }))
    .filter((c) => c.weight > 0)
    .sort((a, b) => b.weight - a.weight)
    .slice(0, count);
}
