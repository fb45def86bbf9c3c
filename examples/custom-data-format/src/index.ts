import { OptionsError, parseOptions, z, type DataFormatDefinition, type DataSourceRegistry } from '@fermix/core';
import { createCkPlusSource } from './ckplus.js';

export { createCkPlusSource, testSubjects, CKPLUS_SPLITS, type CkPlusOptions } from './ckplus.js';

const optionsSchema = z.strictObject({
  /** Share of the subjects in the test split. */
  testFraction: z.number().gt(0).lt(1).default(0.2),
  /** Seeds the subject draw (default: the config's seed). */
  splitSeed: z.number().int().min(0).optional(),
});

export type CkPlusConfigOptions = z.output<typeof optionsSchema>;

/** `data.format: ckplus`, with `data.root`, `data.testFraction` and `data.splitSeed`. */
export const ckplusFormat: DataFormatDefinition<CkPlusConfigOptions> = {
  format: 'ckplus',
  description: 'CK+-style <root>/<class>/S###_###_*.png, split by subject',
  // raw: the data keys fermix does not share between formats; errors are reported at data.<key>.
  parseOptions: (raw, data) => {
    if (!data.root) throw new OptionsError([{ path: ['root'], expected: 'the folder holding <class>/S###_###_*.png (required for format ckplus)', found: undefined }]);
    return parseOptions(optionsSchema, raw);
  },
  create: (config, { options }) => createCkPlusSource({ root: config.data.root!, testFraction: options.testFraction, seed: options.splitSeed ?? config.seed }),
};

/** What fermix calls for a package listed under `dataPackages`. */
export function registerDataFormats(registry: DataSourceRegistry): DataSourceRegistry {
  return registry.register(ckplusFormat);
}
