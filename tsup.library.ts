import type { Options } from 'tsup';

/** How every fermix library package is built: ESM + CJS + type declarations, for Node 20. */
export const libraryBuild: Options = {
  entry: ['src/index.ts'],
  format: ['esm', 'cjs'],
  dts: true,
  clean: true,
  sourcemap: true,
  target: 'node20',
};
