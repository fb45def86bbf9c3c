/**
 * fermix's own data formats as DataSourceRegistry definitions: `data.format: imagefolder | synthetic
 * | rafdb | fer2013-csv | affectnet`. A package of your own registers more the same way (see
 * docs/writing-a-data-format.md).
 */
import { parseOptions, OptionsError, z, type ConfigIssue, type DataFormatDefinition, type DataSource, type DataSourceRegistry, type FermixConfig } from '@fermix/core';
import { createAffectNetSource } from './affectnet.js';
import { createFer2013CsvSource } from './fer2013-csv.js';
import { createImageFolderSource } from './image-folder.js';
import { createRafdbSource } from './rafdb.js';
import { createSyntheticSource } from './synthetic.js';

const positiveInt = z.number().int().min(1);
/** Synthetic faces are drawn into memory: a cap against a typo's exhausting it. */
const MAX_SYNTHETIC_PER_CLASS = 100_000;

/**
 * The format keys of fermix's own formats. Every built-in format accepts all of them (as the config
 * did before formats were registered), each using its own: synthetic the counts, rafdb and
 * affectnet onMissing, affectnet its class count.
 */
const builtinOptionsSchema = z.strictObject({
  /** synthetic: images per class in each split (drawn into memory: at most 100,000). */
  trainPerClass: positiveInt.max(MAX_SYNTHETIC_PER_CLASS).default(200),
  testPerClass: positiveInt.max(MAX_SYNTHETIC_PER_CLASS).default(50),
  /** rafdb, affectnet: images listed but not on disk are an error, or skipped with a warning. */
  onMissing: z.enum(['error', 'skip']).default('error'),
  /** affectnet: 7 canonical classes (contempt dropped), or 8 with contempt last. */
  affectnetClasses: z.literal([7, 8]).default(7),
});

export type BuiltinDataOptions = z.output<typeof builtinOptionsSchema>;

interface BuiltinRules {
  /** What `data.root` names, when the format needs one. */
  root?: string;
  /** Where the landmarks of `data.align` may come from; absent: the format cannot align. */
  alignLandmarks?: readonly ('dataset' | 'model')[];
}

/** The formats that can align, as the message for one that cannot names them. */
const ALIGNABLE = 'formats rafdb (Image/original), affectnet and imagefolder';

/** The built-in formats' option check: the shared schema plus the format's root and align rules. */
function builtinOptions(format: string, rules: BuiltinRules): (raw: Record<string, unknown>, data: FermixConfig['data']) => BuiltinDataOptions {
  return (raw, data) => {
    const issues: ConfigIssue[] = [];
    let parsed: BuiltinDataOptions | undefined;
    try {
      parsed = parseOptions(builtinOptionsSchema, raw);
    } catch (err) {
      if (!(err instanceof OptionsError)) throw err;
      issues.push(...err.issues);
    }
    if (data.align && !rules.alignLandmarks) {
      issues.push({ path: ['align'], expected: `no align for format ${format} (alignment reads whole images: ${ALIGNABLE})`, found: data.align });
    } else if (data.align && !rules.alignLandmarks!.includes(data.align.landmarks)) {
      issues.push({ path: ['align', 'landmarks'], expected: 'model (an image folder has no landmark annotation: its faces are found by @fermix/landmarks)', found: data.align.landmarks });
    }
    if (rules.root && !data.root) issues.push({ path: ['root'], expected: `${rules.root} (required for format ${format})`, found: undefined });
    if (issues.length) throw new OptionsError(issues);
    return parsed!;
  };
}

function builtin(
  format: string,
  description: string,
  rules: BuiltinRules,
  create: (config: FermixConfig, options: BuiltinDataOptions) => DataSource,
): DataFormatDefinition<BuiltinDataOptions> {
  return { format, description, parseOptions: builtinOptions(format, rules), create: (config, { options }) => create(config, options) };
}

/** fermix's own formats. */
export const dataFormats: DataFormatDefinition<BuiltinDataOptions>[] = [
  builtin('imagefolder', 'a folder <root>/<split>/<class>/*.png|jpg|jpeg', { root: 'the folder holding <split>/<class>/* images', alignLandmarks: ['model'] }, ({ data }) =>
    createImageFolderSource({ root: data.root!, align: data.align }),
  ),
  builtin('synthetic', 'the embedded cartoon faces of the 7 expressions', {}, (config, o) =>
    createSyntheticSource({ seed: config.seed, trainPerClass: o.trainPerClass, testPerClass: o.testPerClass }),
  ),
  builtin('rafdb', 'RAF-DB basic (EmoLabel/list_patition_label.txt, Image/aligned)', { root: 'the folder holding EmoLabel/list_patition_label.txt and Image/aligned/', alignLandmarks: ['dataset', 'model'] }, ({ data }, o) =>
    createRafdbSource({ root: data.root!, onMissing: o.onMissing, align: data.align }),
  ),
  builtin('fer2013-csv', 'the FER2013 CSV (emotion,pixels,Usage)', { root: 'the FER2013 CSV file' }, ({ data }) => createFer2013CsvSource({ file: data.root! })),
  builtin('affectnet', 'AffectNet (training.csv, validation.csv, Manually_Annotated_Images)', { root: 'the folder holding training.csv, validation.csv and Manually_Annotated_Images/', alignLandmarks: ['dataset', 'model'] }, ({ data }, o) =>
    createAffectNetSource({ root: data.root!, classes: o.affectnetClasses, onMissing: o.onMissing, align: data.align }),
  ),
];

/** Registers fermix's own formats (the CLI does this; so does a program that builds its own container). */
export function registerDataFormats(registry: DataSourceRegistry): DataSourceRegistry {
  for (const format of dataFormats) registry.register(format);
  return registry;
}
