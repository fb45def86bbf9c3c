import { defineConfig } from 'tsup';
import { libraryBuild } from '../../tsup.library';

// shims: import.meta.url in the CJS build (backend selection, the wasm threads and the deprecated data
// names resolve files with it). The CJS build has no import.meta.resolve: src/deprecated-data.ts then
// requires @fermix/data's CJS entry.
// data: the deprecated @fermix/core/data subpath (re-exports of @fermix/data, outside core's own graph).
export default defineConfig({
  ...libraryBuild,
  shims: true,
  entry: { index: 'src/index.ts', data: 'deprecated/data.ts' },
  esbuildOptions(options, { format }) {
    if (format === 'cjs') options.define = { ...options.define, 'import.meta.resolve': 'undefined' };
  },
});
